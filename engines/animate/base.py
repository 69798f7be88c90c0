"""The animation interface shared by the procedural engine and neural lip-sync engines.

Every back-end subclasses :class:`Animator`, and a render calls only its methods:

1. ``rig = animator.prepare(image, landmarks, width, height, settings)`` once per avatar and output
   size; ``animator.rig_to_arrays(rig)`` / ``animator.rig_from_arrays(arrays)`` let the caller keep it
   on disk (None: this rig cannot be kept, prepare it each time);
2. ``track = animator.track(...)`` turns phoneme timings (or audio), emotion spans and settings
   into per-frame parameters for the whole video (small arrays, cheap);
   ``animator.settle_edges(track, start, stop, fps)`` makes frames ``start..stop-1`` join their
   neighbours when a video is rendered in pieces;
3. ``animator.frames(rig, track, start, stop)`` yields RGB uint8 frames ``(height, width, 3)``
   for frame indices ``start..stop-1``, so long videos stream in chunks;
4. ``animator.mouth_opening(rig, frame)`` measures the mouth in a made frame, for the lip-sync check;
5. ``animator.drawn_by(rig)`` says which engine (and weights) really draws the frames, for cache keys.

Whatever the user should know about one render (an engine falling back, a clip without audio)
goes into the :class:`Notices` that the caller passes in, never onto the shared engine object.

``AnimationSettings`` holds the user's controls; ``CONTROLS`` describes each one (label, range,
step, default, a one-line explanation) so a UI can build its sliders from data.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Protocol

import numpy as np

from engines.timing import PhonemeTiming


@dataclass
class AnimationSettings:
    """User controls of the animation (unitless scales unless stated); ``CONTROLS`` describes each."""

    lip_amplitude: float = 1.0  # scales mouth opening
    motion_scale: float = 1.0  # scales mouth, expression and head motion together
    expression_strength: float = 1.0  # scales emotion on the face
    head_motion: float = 1.0  # scales sway and nods
    blink_rate: float = 1.0  # 1.0 = a blink every ~4 s
    smoothing: float = 0.5  # temporal smoothing of mouth parameters, 0..1
    av_offset_ms: float = 0.0  # positive shows the mouth later than the audio
    crop_expand: float = 1.8  # output framing: face box scale used to crop the portrait
    seed: int = 0  # same seed, same frames

    @classmethod
    def of(cls, obj: Any) -> AnimationSettings:
        """``obj`` itself, a default for None, or a copy of the like-named fields of another
        settings object (e.g. an older copy of this class)."""
        if obj is None or isinstance(obj, cls):
            return obj or cls()
        return cls(**{f.name: getattr(obj, f.name) for f in fields(cls) if hasattr(obj, f.name)})

    def clamped(self) -> AnimationSettings:
        """A copy with every control inside its ``CONTROLS`` range (NaN becomes the default)."""
        values = {}
        for c in CONTROLS:
            v = float(getattr(self, c.name))
            values[c.name] = c.default if not np.isfinite(v) else float(np.clip(v, c.minimum, c.maximum))
        return replace(self, **values)

    def effective(self) -> AnimationSettings:
        """What an engine applies: :meth:`clamped`, with ``motion_scale`` (which scales every kind of
        motion) folded into mouth, expression and head motion, each of which scales one."""
        s = self.clamped()
        k = s.motion_scale
        return replace(
            s,
            lip_amplitude=s.lip_amplitude * k,
            expression_strength=s.expression_strength * k,
            head_motion=s.head_motion * k,
            motion_scale=1.0,
        )


@dataclass(frozen=True)
class Control:
    """One user control, enough to build a slider: ``name`` is the ``AnimationSettings`` field,
    ``help`` one line for the UI."""

    name: str
    label: str
    minimum: float
    maximum: float
    step: float
    default: float
    help: str


def _default(name: str) -> float:
    return float({f.name: f.default for f in fields(AnimationSettings)}[name])


CONTROLS: tuple[Control, ...] = (
    Control(
        "lip_amplitude",
        "Lip amplitude",
        0.0,
        2.0,
        0.05,
        _default("lip_amplitude"),
        "How wide the mouth opens when speaking (1 = natural).",
    ),
    Control(
        "motion_scale",
        "Motion scale",
        0.0,
        2.0,
        0.05,
        _default("motion_scale"),
        "Overall liveliness: scales mouth, expression and head motion together.",
    ),
    Control(
        "expression_strength",
        "Expression strength",
        0.0,
        2.0,
        0.05,
        _default("expression_strength"),
        "How strongly [happy], [sad], [angry], [surprised] show on the face.",
    ),
    Control(
        "blink_rate",
        "Blink rate",
        0.0,
        3.0,
        0.1,
        _default("blink_rate"),
        "Blinks per 4 seconds or so (0 = never blink).",
    ),
    Control(
        "head_motion",
        "Head motion",
        0.0,
        2.0,
        0.05,
        _default("head_motion"),
        "Amount of head sway, nods on stressed words and breathing (0 = still).",
    ),
    Control(
        "crop_expand",
        "Crop expand",
        1.2,
        3.0,
        0.05,
        _default("crop_expand"),
        "Room around the face in the frame (more = smaller face).",
    ),
    Control(
        "smoothing",
        "Temporal smoothing",
        0.0,
        1.0,
        0.05,
        _default("smoothing"),
        "Softens mouth movement over time (0 = crisp, 1 = very smooth).",
    ),
    Control(
        "av_offset_ms",
        "A/V offset (ms)",
        -200.0,
        200.0,
        10.0,
        _default("av_offset_ms"),
        "Shifts the mouth against the sound; positive shows the mouth later.",
    ),
)


@dataclass(frozen=True)
class EmotionSpan:
    """Emotion ``emotion`` at ``strength`` (0 none, 1 the preset, at most 2; the same number scales
    the voice) from ``start`` to ``end`` seconds."""

    start: float
    end: float
    emotion: str
    strength: float = 1.0


class MotionTrack(Protocol):
    """Per-frame parameters of one clip, made by :meth:`Animator.track`."""

    fps: int

    @property
    def n_frames(self) -> int: ...


class Notices(list[str]):
    """Plain-words notices of one render (an engine falling back, a clip without audio), in order,
    each once. The caller makes one per render and shows it; engines only :meth:`add` to it."""

    def add(self, message: str) -> bool:
        """Keep ``message`` unless it is already here; True when it is new."""
        if message in self:
            return False
        self.append(message)
        return True


class Animator(ABC):
    """A portrait animation back-end (see the module docstring for how a render calls it).

    ``notices`` is the sink of the render that makes the call (None: nobody is listening); an
    engine that changes its plan (e.g. falls back to another engine) says so there.
    """

    @property
    @abstractmethod
    def name(self) -> str:
        """The registry name (``animate``/``name``)."""

    @abstractmethod
    def prepare(
        self,
        image: np.ndarray,
        landmarks: np.ndarray,
        width: int,
        height: int,
        settings: AnimationSettings | None = None,
        *,
        notices: Notices | None = None,
    ) -> Any:
        """Per-avatar rig for output frames of ``width`` x ``height`` pixels, from an RGB uint8
        portrait and its 68 landmarks (portrait pixels)."""

    @abstractmethod
    def rig_to_arrays(self, rig: Any) -> dict[str, np.ndarray] | None:
        """``rig`` as plain arrays for an ``.npz`` cache, or None when this rig cannot be cached."""

    @abstractmethod
    def rig_from_arrays(self, arrays: dict[str, np.ndarray], *, notices: Notices | None = None) -> Any:
        """A rig back from :meth:`rig_to_arrays`; raises (e.g. ValueError) when it is stale: prepare again."""

    @abstractmethod
    def track(
        self,
        *,
        duration: float,
        fps: int,
        phonemes: Sequence[PhonemeTiming] | None,
        audio: np.ndarray | None,
        sample_rate: int | None,
        emotions: Sequence[EmotionSpan] = (),
        settings: AnimationSettings | None = None,
        notices: Notices | None = None,
    ) -> MotionTrack:
        """Per-frame parameters for ``duration`` seconds at ``fps`` frames per second. Uses
        ``phonemes`` when given, else the ``audio`` (mono float32 at ``sample_rate`` Hz)."""

    @abstractmethod
    def settle_edges(self, track: MotionTrack, start: int, stop: int, fps: int) -> None:
        """Change ``track`` in place so frames ``start..stop-1`` join the frames around them
        without a jump (e.g. head at rest at both edges, no blink cut); a no-op for tracks whose
        chunks join by themselves."""

    @abstractmethod
    def frames(
        self, rig: Any, track: MotionTrack, start: int, stop: int, *, notices: Notices | None = None
    ) -> Iterator[np.ndarray]:
        """RGB uint8 frames ``(height, width, 3)`` for frame indices ``start..stop-1``."""

    @abstractmethod
    def mouth_opening(self, rig: Any, frame: np.ndarray) -> float:
        """Vertical inner-mouth opening (pixels) in ``frame``, made with ``rig``: the per-frame
        measure of the lip-sync check (``sync_check.sync_report``)."""

    def drawn_by(self, rig: Any) -> str:
        """What draws the frames of ``rig`` now, after any fallback (an engine's name and whatever
        decides its pixels besides its code, e.g. the sha256 of its weights): part of the key of
        every finished chunk, so a chunk one engine drew is never served for another's."""
        return self.name
