"""Text to speech back-ends: ``TTS.synthesize(text, emotion=...) -> Speech`` with timings."""

from engines.tts.base import Speech  # noqa: F401
