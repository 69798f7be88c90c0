"""The animation interface shared by the procedural engine and neural lip-sync engines.

A render is three steps:

1. ``rig = animator.prepare(image, landmarks, width, height)`` once per avatar and output size
   (cacheable: ``rig.to_arrays()`` / ``Animator.rig_from_arrays``);
2. ``track = animator.track(...)`` turns phoneme timings (or audio), emotion spans and settings
   into per-frame parameters for the whole video (small arrays, cheap);
3. ``animator.frames(rig, track, start, stop)`` yields RGB uint8 frames ``(height, width, 3)``
   for frame indices ``start..stop-1``, so long videos stream in chunks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Protocol, Sequence

import numpy as np

from engines.tts.base import PhonemeTiming


@dataclass
class AnimationSettings:
    """User controls of the animation (unitless scales unless stated)."""

    lip_amplitude: float = 1.0  # scales mouth opening
    expression_strength: float = 1.0  # scales emotion on the face
    head_motion: float = 1.0  # scales sway and nods
    blink_rate: float = 1.0  # 1.0 = a blink every ~4 s
    smoothing: float = 0.5  # temporal smoothing of mouth parameters, 0..1
    av_offset_ms: float = 0.0  # positive shows the mouth later than the audio
    crop_expand: float = 1.8  # output framing: face box scale used to crop the portrait
    seed: int = 0  # same seed, same frames


@dataclass(frozen=True)
class EmotionSpan:
    """Emotion ``emotion`` at ``strength`` (0..1) from ``start`` to ``end`` seconds."""

    start: float
    end: float
    emotion: str
    strength: float = 1.0


class MotionTrack(Protocol):
    fps: int

    @property
    def n_frames(self) -> int: ...


class Animator(Protocol):
    name: str

    def prepare(self, image: np.ndarray, landmarks: np.ndarray, width: int, height: int,
                settings: AnimationSettings) -> Any:
        """Per-avatar rig for output frames of ``width`` x ``height`` pixels."""
        ...

    def track(self, *, duration: float, fps: int, phonemes: Sequence[PhonemeTiming] | None,
              audio: np.ndarray | None, sample_rate: int | None, emotions: Sequence[EmotionSpan],
              settings: AnimationSettings) -> MotionTrack:
        """Per-frame parameters. Uses ``phonemes`` when given, else the ``audio`` loudness/spectrum."""
        ...

    def frames(self, rig: Any, track: MotionTrack, start: int, stop: int) -> Iterator[np.ndarray]:
        ...
