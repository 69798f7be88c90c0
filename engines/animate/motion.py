"""Life on the face besides speech: emotions, blinks, head sway, nods and breathing.

Every random choice comes from ``numpy.random.default_rng((seed, stream))``, so the same seed
always gives the same motion and a different seed a different one.

Face controls (unitless, 0 = the photo's own expression): ``smile``, ``corners_down``,
``brow_up``, ``brow_frown`` (brows down and together), ``brow_sad`` (inner brows up),
``eye_wide`` (+ wide open, - narrowed). ``blink`` is 0 (open) .. 1 (closed). Head controls:
``head_roll`` (radians), ``head_tx`` / ``head_ty`` / ``head_yaw`` (fractions of the distance
between the eyes; +ty moves the head down), ``head_pitch`` (+ tips the face down, unitless).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from engines.animate.base import AnimationSettings, EmotionSpan
from engines.animate.visemes import MOUTH_CONTROLS, smooth_frames
from engines.emotions import clamp_strength, emotion_table

FACE_CONTROLS = ("smile", "corners_down", "brow_up", "brow_frown", "brow_sad", "eye_wide")
HEAD_CONTROLS = ("head_roll", "head_tx", "head_ty", "head_pitch", "head_yaw")
# "lip_press" (0..1): lips brought together from the photo's own state (m, b, p); last, so the
# other columns keep their places
CONTROLS = MOUTH_CONTROLS + FACE_CONTROLS + ("blink",) + HEAD_CONTROLS + ("lip_press",)
INDEX = {name: i for i, name in enumerate(CONTROLS)}

EMOTION_RAMP_S = 0.35  # time to move into or out of an emotion


def emotion_presets(path: str | Path | None = None) -> dict[str, dict]:
    """The emotion table (``presets/emotions.json``, shared with the voice): ``{name: {"controls": {...},
    "prosody": {...}}}``; see :mod:`engines.emotions`."""
    return emotion_table(path)


def emotion_controls(
    emotions: Sequence[EmotionSpan], n_frames: int, fps: float, settings: AnimationSettings
) -> np.ndarray:
    """Per-frame control offsets ``(n_frames, len(CONTROLS))`` from emotion spans.

    Each span adds its preset scaled by ``span.strength`` (0..2, the same number that scales the
    voice) times ``settings.expression_strength`` (the face alone); changes ramp smoothly over about
    ``EMOTION_RAMP_S`` seconds. Unknown emotions count as neutral.
    """
    presets = emotion_presets()
    out = np.zeros((n_frames, len(CONTROLS)), np.float64)
    if n_frames == 0:
        return out.astype(np.float32)
    times = np.arange(n_frames) / fps
    for span in emotions:
        preset = presets.get(span.emotion, {}).get("controls", {})
        if not preset:
            continue
        sel = (times >= span.start) & (times < span.end)
        gain = clamp_strength(span.strength) * float(settings.expression_strength)
        for name, value in preset.items():
            if name in INDEX:
                out[sel, INDEX[name]] += gain * float(value)
    out = smooth_frames(out, EMOTION_RAMP_S * fps / 2.5)
    return out.astype(np.float32)


def blink_curve(n_frames: int, fps: float, settings: AnimationSettings, duration_s: float | None = None) -> np.ndarray:
    """Eyelid closure per frame (0 open .. 1 closed).

    A blink every ~4 s / ``blink_rate`` (irregular, 2.5..6.5 s at rate 1), each 100..150 ms,
    sometimes (15 %) followed by a second one. The frame nearest each blink's middle is fully closed.
    """
    out = np.zeros(n_frames, np.float32)
    rate = float(settings.blink_rate)
    if rate <= 0 or n_frames == 0:
        return out
    rng = np.random.default_rng((int(settings.seed) & 0xFFFFFFFF, 1))
    total = n_frames / fps if duration_s is None else duration_s
    times = np.arange(n_frames) / fps
    t = rng.uniform(0.6, 2.2) / rate
    while t < total:
        blinks = [t]
        if rng.random() < 0.15:
            blinks.append(t + rng.uniform(0.22, 0.32))
        for t0 in blinks:
            dur = rng.uniform(0.10, 0.15)
            mid = t0 + 0.4 * dur
            # Fast close (40 %), slower opening (60 %).
            x = times - t0
            closing = np.clip(x / (0.4 * dur), 0, 1)
            opening = np.clip(1 - (x - 0.4 * dur) / (0.6 * dur), 0, 1)
            shape = np.where(x < 0.4 * dur, closing, opening) * ((x >= 0) & (x <= dur))
            out = np.maximum(out, shape.astype(np.float32))
            k = int(round(mid * fps))
            if 0 <= k < n_frames:
                out[k] = 1.0
        t += float(np.clip(rng.gamma(6.0, 4.0 / 6.0), 2.5, 6.5)) / rate
    return out


def head_motion(
    n_frames: int,
    fps: float,
    settings: AnimationSettings,
    nod_times: Sequence[float] = (),
    activity: np.ndarray | None = None,
) -> np.ndarray:
    """Head controls ``(n_frames, 5)`` in ``HEAD_CONTROLS`` order: slow sway, breathing and nods.

    ``nod_times`` (seconds) are stressed syllables; about half of them, at least 0.9 s apart,
    get a small nod. ``activity`` (0..1 per frame, speech loudness) livens the sway while talking.
    """
    out = np.zeros((n_frames, len(HEAD_CONTROLS)), np.float64)
    amount = float(settings.head_motion)
    if n_frames == 0 or amount <= 0:
        return out.astype(np.float32)
    rng = np.random.default_rng((int(settings.seed) & 0xFFFFFFFF, 2))
    t = np.arange(n_frames) / fps
    # amplitude per channel: roll (rad), tx, ty, pitch, yaw (interocular fractions)
    amps = np.array([0.022, 0.05, 0.02, 0.12, 0.05])
    for c in range(len(HEAD_CONTROLS)):
        freqs = rng.uniform(0.05, 0.3, size=3)
        phases = rng.uniform(0, 2 * np.pi, size=3)
        weights = rng.uniform(0.5, 1.0, size=3)
        weights /= weights.sum()
        out[:, c] = amps[c] * (weights[None, :] * np.sin(2 * np.pi * freqs[None, :] * t[:, None] + phases)).sum(1)
    if activity is not None and len(activity) == n_frames:
        out *= (0.8 + 0.3 * smooth_frames(np.asarray(activity, np.float64), fps * 0.5))[:, None]
    # breathing: a slow rise and fall of the head (~0.25 Hz)
    out[:, 2] += 0.012 * np.sin(2 * np.pi * rng.uniform(0.2, 0.28) * t + rng.uniform(0, 2 * np.pi))
    last = -10.0
    for ts in sorted(nod_times):
        if ts - last < 0.9 or rng.random() > 0.55:
            continue
        last = ts
        strength = rng.uniform(0.6, 1.0)
        x = (t - ts + 0.05) / 0.42  # nod peaks ~0.15 s after the stressed vowel starts
        bump = np.where((x > 0) & (x < 1), 0.5 - 0.5 * np.cos(2 * np.pi * np.clip(x, 0, 1)), 0.0)
        out[:, 2] += 0.07 * strength * bump
        out[:, 3] += 0.2 * strength * bump
    return (out * amount).astype(np.float32)
