"""Piper speaks a sentence the same way every time: its noise comes from the sentence, not from a
generator that advances with every call (engines/tts/piper.py)."""

from __future__ import annotations

import numpy as np
import pytest

from engines.runtime import SessionFactory
from engines.tts.base import TAKE
from engines.tts.piper import PiperTTS, aligned_model, bundled_voice

SENTENCE = "The same sentence, spoken twice, sounds the same."


@pytest.fixture(scope="module")
def voices(tmp_path_factory):
    return [PiperTTS(SessionFactory(None), tmp_path_factory.mktemp(f"piper{i}")) for i in range(2)]


def test_the_patched_model_draws_no_noise_of_its_own(tmp_path):
    import onnx

    graph = onnx.load(str(aligned_model(bundled_voice()[0], tmp_path))).graph
    assert not [n for n in graph.node if n.op_type.startswith("Random")]
    assert {"noise_dp", "noise_z"} <= {i.name for i in graph.input}


def test_a_sentence_sounds_the_same_whatever_was_spoken_before_and_in_another_session(voices):
    a, b = voices
    first = a.synthesize(SENTENCE).audio
    a.synthesize("Something else in between, to move any generator along.")
    again = a.synthesize(SENTENCE).audio
    elsewhere = b.synthesize(SENTENCE).audio
    assert len(first) > a.sample_rate  # real speech, over a second
    assert np.array_equal(first, again) and np.array_equal(first, elsewhere)


def test_another_take_varies_the_speech_on_purpose(voices):
    a, _ = voices
    first = a.synthesize(SENTENCE).audio
    token = TAKE.set(3)
    try:
        other = a.synthesize(SENTENCE).audio
        other_again = a.synthesize(SENTENCE).audio
    finally:
        TAKE.reset(token)
    n = min(len(first), len(other))
    assert len(first) != len(other) or np.abs(first[:n] - other[:n]).max() > 0.01
    assert np.array_equal(other, other_again)  # a take is itself repeatable
