"""Portrait animation back-ends: a rig prepared once per avatar, a motion track, frames."""

from engines.animate.base import AnimationSettings, EmotionSpan  # noqa: F401
