"""Voice activity detection with silero-vad (bundled ONNX model, MIT)."""

from __future__ import annotations

import threading

import numpy as np

from engines.registry import register

VAD_SAMPLE_RATE = 16_000


def to_16k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono float32 audio resampled to 16 kHz (the rate VAD, embeddings and ASR expect)."""
    audio = np.asarray(audio, dtype=np.float32)
    if sample_rate == VAD_SAMPLE_RATE:
        return audio
    import soxr

    return soxr.resample(audio, sample_rate, VAD_SAMPLE_RATE).astype(np.float32)


@register("vad", "silero")
class SileroVAD:
    """Finds the stretches of speech in a recording."""

    name = "silero"

    def __init__(self, threshold: float = 0.5):
        from silero_vad import load_silero_vad

        self.threshold = threshold
        self._model = load_silero_vad(onnx=True)
        self._lock = threading.Lock()  # the model keeps state between windows

    def speech_segments(self, audio: np.ndarray, sample_rate: int) -> list[tuple[float, float]]:
        """(start, end) in seconds of every stretch of speech in mono ``audio``."""
        import torch
        from silero_vad import get_speech_timestamps

        wav = torch.from_numpy(to_16k(audio, sample_rate))
        if len(wav) < VAD_SAMPLE_RATE // 10:
            return []
        with self._lock:
            stamps = get_speech_timestamps(
                wav, self._model, threshold=self.threshold, sampling_rate=VAD_SAMPLE_RATE, return_seconds=False
            )
        return [(s["start"] / VAD_SAMPLE_RATE, s["end"] / VAD_SAMPLE_RATE) for s in stamps]
