"""The speech-recognition interface: audio in, text and word timings out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from engines.timing import WordTiming

ASR_SAMPLE_RATE = 16_000  # Hz; Whisper models hear 16 kHz mono


@dataclass
class Transcript:
    """What was said: the ``text``, its words with start/end in seconds, and the language code."""

    text: str
    words: list[WordTiming] = field(default_factory=list)
    language: str = ""
    duration: float = 0.0  # seconds of audio heard


class ASR(Protocol):
    """A speech-recognition back-end."""

    name: str

    def transcribe(
        self,
        audio: np.ndarray,
        sample_rate: int,
        *,
        language: str | None = None,
        word_timestamps: bool = True,
        prompt: str | None = None,
    ) -> Transcript:
        """Transcribe mono float32 ``audio`` at ``sample_rate`` Hz (``language`` None = detect)."""
        ...


def to_mono_16k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono float32 audio at 16 kHz from any channel layout, integer or float samples, rate (Hz)."""
    audio = np.asarray(audio)
    if np.issubdtype(audio.dtype, np.integer):  # before mixing channels, which would make it float
        audio = audio.astype(np.float32) / float(np.iinfo(audio.dtype).max)
    audio = audio.astype(np.float32, copy=False)
    if audio.ndim == 2:
        # (samples, channels) from soundfile/Gradio; (channels, samples) when channels come first
        audio = audio.mean(axis=1) if audio.shape[0] >= audio.shape[1] else audio.mean(axis=0)
    if sample_rate != ASR_SAMPLE_RATE and len(audio):
        import soxr

        audio = soxr.resample(audio, sample_rate, ASR_SAMPLE_RATE).astype(np.float32)
    return np.ascontiguousarray(audio)
