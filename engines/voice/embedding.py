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


_MEL_BASIS: np.ndarray | None = None


def _mel_frames(wav: np.ndarray) -> np.ndarray:
    """40-band power mel spectrogram (25 ms Hann windows, 10 ms hop, 16 kHz), as resemblyzer trains on."""
    global _MEL_BASIS
    n_fft, hop = 400, 160
    if _MEL_BASIS is None:
        _MEL_BASIS = _slaney_mel_basis(16_000, n_fft, 40)
    padded = np.pad(wav.astype(np.float32), n_fft // 2)  # centred frames, zero padding (librosa default)
    n = 1 + (len(padded) - n_fft) // hop
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:n]
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    return (power @ _MEL_BASIS.T).astype(np.float32)


def _slaney_mel_basis(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Slaney-style mel filterbank with area normalisation (librosa.filters.mel's defaults)."""
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0

    def hz_to_mel(f):
        f = np.asarray(f, dtype=np.float64)
        return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-9) / min_log_hz) / logstep, f / f_sp)

    def mel_to_hz(m):
        m = np.asarray(m, dtype=np.float64)
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)

    fft_freqs = np.linspace(0, sample_rate / 2, 1 + n_fft // 2)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights.astype(np.float32)


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
        from resemblyzer.audio import normalize_volume, trim_long_silences

        raw = to_16k(audio, sample_rate)
        # resemblyzer's own preprocess_wav, minus its librosa resampling (slow first call).
        wav = trim_long_silences(normalize_volume(raw, -30, increase_only=True))
        if len(wav) < 16_000 // 2:  # the VAD trim left almost nothing: embed the raw audio
            wav = raw
        with self._lock:
            return self._embed(wav)

    def _embed(self, wav: np.ndarray) -> np.ndarray:
        # resemblyzer's embed_utterance with a numpy mel spectrogram: its librosa call costs
        # 10+ s on first use in every process.
        import torch

        enc = self._encoder
        wave_slices, mel_slices = enc.compute_partial_slices(len(wav), rate=1.3, min_coverage=0.75)
        if wave_slices[-1].stop >= len(wav):
            wav = np.pad(wav, (0, wave_slices[-1].stop - len(wav)))
        mel = _mel_frames(wav)
        mels = np.array([mel[s] for s in mel_slices], dtype=np.float32)
        with torch.no_grad():
            partial = enc(torch.from_numpy(mels)).cpu().numpy()
        raw = partial.mean(axis=0)
        return (raw / np.linalg.norm(raw)).astype(np.float32)

    def similarity(self, audio: np.ndarray, sample_rate: int, reference: np.ndarray) -> float:
        """Cosine similarity of ``audio``'s speaker to the ``reference`` d-vector."""
        return cosine(self.embed(audio, sample_rate), reference)
