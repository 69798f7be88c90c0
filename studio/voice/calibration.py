"""The default voice's own traits, measured once per process: the base the voice match starts from."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from engines.tts.base import Speech

# Sentences the default voice speaks once to calibrate the voice match (about 8 s together).
CALIBRATION_TEXT = (
    "Hello, and welcome to my channel. Today I want to show you something new.",
    "It only takes a minute, and you can try it yourself at home.",
)
# Held back from the calibration: the profile's honest score is this sentence, heard against the recording.
TEST_SENTENCE = "Our new bakery opens on Monday morning, so come early and bring a friend."


@dataclass
class DefaultVoiceCalibration:
    speech: list[Speech]
    analyses: list[Any]
    traits: Any  # engines.voice.match.VoiceTraits
    sample_rate: int
    syllables_per_second: float
    test_speech: Speech  # TEST_SENTENCE in the default voice
    test_analysis: Any


_calibration: dict[int, DefaultVoiceCalibration] = {}
_calibration_lock = threading.Lock()


def default_voice_calibration(studio) -> DefaultVoiceCalibration:
    """Calibration sentences spoken by the default voice, analysed with WORLD (cached)."""
    from engines.voice.match import _traits

    tts = studio.tts()
    with _calibration_lock:
        if id(tts) not in _calibration:
            matcher = studio.engine("voice_match", "world")
            speech = [tts.synthesize(t) for t in CALIBRATION_TEXT]
            analyses = [matcher.analyse(s.audio, s.sample_rate) for s in speech]
            f0 = np.concatenate([a.f0 for a in analyses])
            sp = np.concatenate([a.sp for a in analyses])
            traits = _traits(f0, sp, speech[0].sample_rate, 0.005)
            from engines.voice.match import syllable_rate

            joined = np.concatenate([s.audio for s in speech])
            test = tts.synthesize(TEST_SENTENCE)
            _calibration[id(tts)] = DefaultVoiceCalibration(
                speech,
                analyses,
                traits,
                speech[0].sample_rate,
                syllable_rate(joined, speech[0].sample_rate),
                test,
                matcher.analyse(test.audio, test.sample_rate),
            )
        return _calibration[id(tts)]


def speaking_rate_factor(reference: np.ndarray, sample_rate: int, cal: DefaultVoiceCalibration) -> float:
    """How much faster (>1) the speaker talks than the default voice (acoustic syllable rate).

    Counted the same way on both sides, without the transcript (whose word lengths would bias it).
    The estimate is rough (about +-5 %), so it is kept within 0.85..1.2.
    """
    from engines.voice.match import syllable_rate

    rate = syllable_rate(reference, sample_rate)
    if rate <= 0 or cal.syllables_per_second <= 0:
        return 1.0
    return float(np.clip(rate / cal.syllables_per_second, 0.85, 1.2))
