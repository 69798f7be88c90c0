"""Emotion strength in the script markup: ``[happy 0.5]`` … ``[happy 1.5]``, its warnings and its length."""

from __future__ import annotations

import pytest

from engines.emotions import EMOTIONS, emotion_table
from engines.voice.prosody import Prosody
from studio.script.markup import MARKUP_GUIDE, WORDS_PER_SECOND, analyze, parse_script


def test_a_number_after_the_emotion_sets_its_strength_until_the_next_tag():
    script = parse_script("[happy 0.5] A little glad. Still glad. [sad 1.5] Very sad. [neutral] Plain.")
    assert [(s.emotion, s.strength) for s in script.sentences] == [
        ("happy", 0.5),
        ("happy", 0.5),
        ("sad", 1.5),
        ("neutral", 1.0),
    ]
    assert script.warnings == []


def test_a_tag_without_a_number_is_full_strength_and_spacing_or_case_do_not_matter():
    script = parse_script("[Happy   1.25] Hello. [happy] Again.")
    assert [(s.emotion, s.strength) for s in script.sentences] == [("happy", 1.25), ("happy", 1.0)]


@pytest.mark.parametrize(
    ("tag", "strength", "phrase"),
    [
        ("[happy 3]", 2.0, "limited to 2"),
        ("[sad strong]", 1.0, "no strength number"),
    ],
)
def test_a_strength_out_of_range_or_not_a_number_is_kept_usable_and_warned(tag, strength, phrase):
    script = parse_script(f"{tag} Hello there.")
    assert script.sentences[0].strength == strength
    assert len(script.warnings) == 1 and phrase in script.warnings[0] and script.warnings[0].startswith("line 1:")


def test_a_synonym_with_a_strength_gets_a_suggestion_with_that_strength():
    script = parse_script("[excited 1.2] Wow.")
    assert "did you mean [happy 1.2]?" in script.warnings[0]
    assert script.sentences[0].emotion == "neutral"


def test_the_length_estimate_follows_each_emotions_speaking_rate():
    words = "one two three four five six seven eight nine ten"
    plain = analyze(words).seconds
    sad, very_sad = analyze(f"[sad] {words}").seconds, analyze(f"[sad 2] {words}").seconds
    happy = analyze(f"[happy] {words}").seconds
    assert happy < plain < sad < very_sad
    assert sad == pytest.approx(10 / (WORDS_PER_SECOND * Prosody.of("sad").rate))


def test_the_guide_and_every_part_of_the_studio_know_the_same_emotions():
    assert "[happy 0.5]" in MARKUP_GUIDE and "[happy 1.5]" in MARKUP_GUIDE
    assert EMOTIONS == tuple(emotion_table()) and EMOTIONS[0] == "neutral"
    from studio.script import markup
    from studio.voice import speakers

    assert markup.EMOTIONS is EMOTIONS and speakers.EMOTIONS is EMOTIONS
    for name in EMOTIONS[1:]:  # every emotion changes both the face and the voice
        spec = emotion_table()[name]
        assert spec["controls"] and Prosody.of(name) != Prosody()
