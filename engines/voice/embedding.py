"""Speaker embedding with resemblyzer (a 256-d d-vector; bundled weights, Apache-2.0)."""

from __future__ import annotations

import threading

import numpy as np

from engines.registry import register
from engines.voice.vad import to_16k

EMBEDDING_SIZE = 256


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors (-1..1)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / denom) if denom > 0 else 0.0


@register("speaker", "resemblyzer")
class ResemblyzerEmbedder:
    """Who is speaking, as a unit vector: same speaker ~0.8-0.95 cosine, different ~0.5-0.75."""

    name = "resemblyzer"

    def __init__(self):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # webrtcvad's pkg_resources deprecation notice
            from resemblyzer import VoiceEncoder

        self._encoder = VoiceEncoder(device="cpu", verbose=False)
        self._lock = threading.Lock()

    def embed(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """The d-vector (256 float32, unit length) of mono ``audio`` at ``sample_rate`` Hz."""
        from resemblyzer import preprocess_wav

        wav = preprocess_wav(to_16k(audio, sample_rate), source_sr=16_000)
        if len(wav) < 16_000 // 2:  # the VAD trim left almost nothing: embed the raw audio
            wav = to_16k(audio, sample_rate)
        with self._lock:
            return self._encoder.embed_utterance(wav).astype(np.float32)

    def similarity(self, audio: np.ndarray, sample_rate: int, reference: np.ndarray) -> float:
        """Cosine similarity of ``audio``'s speaker to the ``reference`` d-vector."""
        return cosine(self.embed(audio, sample_rate), reference)
