"""Audio features for the neural lip-sync: Whisper-encoder hidden states at 50 steps per second.

The encoder hears 30-second windows of 16 kHz audio (80-bin log-mel, as Whisper was trained) and
gives 1500 steps per window, one every 20 ms. Every layer's hidden state is kept (embedding output
plus one per encoder layer: 5 for Whisper-tiny), so a step is an ``(layers, width)`` array.

Each video frame then sees ten steps around its own time (two video frames of audio before it and
two after, at 25 fps), flattened to 50 tokens of 384 dimensions: the UNet's cross-attention input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

AUDIO_RATE = 16_000  # Hz, what Whisper was trained on
FEATURE_RATE = 50  # encoder steps per second (20 ms each)
WINDOW_SECONDS = 30  # Whisper's fixed input length, seconds


def resample_to_16k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono float32 audio at 16 kHz (``audio`` is mono or (samples, channels), at ``sample_rate`` Hz)."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    if sample_rate != AUDIO_RATE:
        import soxr

        audio = soxr.resample(audio, sample_rate, AUDIO_RATE).astype(np.float32)
    return audio


class WhisperFeatures:
    """Runs a transformers ``WhisperEncoder`` over audio of any length."""

    def __init__(self, encoder: Any, *, windows_per_batch: int = 4):
        from transformers import WhisperFeatureExtractor

        self.encoder = encoder
        self.extractor = WhisperFeatureExtractor(
            feature_size=int(encoder.config.num_mel_bins), sampling_rate=AUDIO_RATE, chunk_length=WINDOW_SECONDS
        )
        self.windows_per_batch = windows_per_batch

    def encode(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """Hidden states of every encoder layer: float32 ``(steps, layers, width)``, 50 steps per second.

        ``steps`` is ``ceil(duration * 50)``; the last window is zero-padded by the extractor.
        """
        import torch

        pcm = resample_to_16k(audio, sample_rate)
        n_steps = max(1, math.ceil(len(pcm) * FEATURE_RATE / AUDIO_RATE))
        window = WINDOW_SECONDS * AUDIO_RATE
        segments = [pcm[i : i + window] for i in range(0, max(len(pcm), 1), window)] or [pcm]
        param = next(self.encoder.parameters())
        parts = []
        for b in range(0, len(segments), self.windows_per_batch):
            batch = segments[b : b + self.windows_per_batch]
            mel = self.extractor(batch, sampling_rate=AUDIO_RATE, return_tensors="np")["input_features"]
            with torch.inference_mode():
                out = self.encoder(torch.from_numpy(mel).to(param.device, param.dtype), output_hidden_states=True)
            states = torch.stack(tuple(out.hidden_states), dim=2).float().cpu().numpy()  # (B, 1500, L, D)
            parts.extend(states[i] for i in range(len(batch)))
        return np.concatenate(parts, axis=0)[:n_steps].astype(np.float32)


def frame_windows(
    features: np.ndarray,
    frames: Sequence[int] | np.ndarray,
    fps: float,
    *,
    before: int = 2,
    after: int = 2,
    offset_s: float = 0.0,
    smoothing: float = 0.0,
) -> np.ndarray:
    """Audio tokens of video frames ``frames``: float32 ``(len(frames), steps * layers, width)``.

    Frame ``i`` (shown at ``i / fps`` seconds) sees ``2 * (before + after + 1)`` encoder steps
    starting ``2 * before`` steps before its own; steps outside the audio are zeros (silence-like
    padding, as at the start and end of a clip). ``offset_s`` > 0 shows the mouth later than the
    audio. ``smoothing`` in 0..1 mixes in the neighbouring frames' windows (weight ``smoothing / 2``
    each) to calm jitter; it only depends on the frame index, so chunked renders match whole ones.
    """
    features = np.asarray(features, dtype=np.float32)
    frames = np.asarray(frames, dtype=np.int64)
    steps = 2 * (before + after + 1)
    n, layers, width = features.shape

    def windows(idx: np.ndarray) -> np.ndarray:
        centre = np.floor((idx / float(fps) - offset_s) * FEATURE_RATE + 1e-6).astype(np.int64)
        pos = centre[:, None] - 2 * before + np.arange(steps)[None, :]
        valid = (pos >= 0) & (pos < n)
        out = features[np.clip(pos, 0, max(n - 1, 0))] * valid[..., None, None]
        return out.reshape(len(idx), steps * layers, width)

    tokens = windows(frames)
    weight = float(np.clip(smoothing, 0.0, 1.0)) * 0.5
    if weight > 0:
        tokens = (1.0 - weight) * tokens + 0.5 * weight * (windows(frames - 1) + windows(frames + 1))
    return tokens.astype(np.float32)
