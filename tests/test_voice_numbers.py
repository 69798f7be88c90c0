"""The Voice tab's honest numbers: the profile's test sentence next to the default voice and the same person."""

from __future__ import annotations

from pathlib import Path

from studio.voice.profiles import SAME_SPEAKER_SIMILARITY, VoiceProfile


def profile(settings: dict) -> VoiceProfile:
    return VoiceProfile(name="Ada <3", folder=Path("/nonexistent/Ada"), created="", report={}, settings=settings)


MATCHED = [
    {"part": "pitch", "value": "112 Hz → 237 Hz (+13.0 semitones)"},
    {"part": "formants (vocal tract length)", "value": "+24 %"},
]


def test_similarity_numbers_sit_next_to_the_default_voice_and_the_same_person():
    nums = profile({"test_similarity": 0.78, "default_voice_similarity": 0.46}).similarity_numbers()
    assert (nums["test"], nums["default"], nums["same_person"]) == (0.78, 0.46, SAME_SPEAKER_SIMILARITY)
    assert "different speaker" in nums["meaning"]  # 0.78 is about two thirds of the way from 0.46 to 0.93


def test_meaning_follows_how_far_the_match_got_from_the_default_voice_toward_the_speaker():
    def meaning(test):
        return profile({"test_similarity": test, "default_voice_similarity": 0.5}).similarity_numbers()["meaning"]

    assert "close to you" in meaning(0.9)
    assert "only a little" in meaning(0.6)
    assert "no closer" in meaning(0.48)


def test_old_profiles_without_a_test_sentence_show_no_numbers():
    assert profile({"default_voice_similarity": 0.5}).similarity_numbers() is None


def test_voice_tab_shows_the_three_numbers_the_meaning_and_what_was_matched():
    from studio.ui.voice_tab import similarity_html

    page = similarity_html(profile({"test_similarity": 0.78, "default_voice_similarity": 0.46, "matched": MATCHED}))
    assert "<b>0.78</b>" in page and "<b>0.46</b>" in page and f"<b>{SAME_SPEAKER_SIMILARITY:.2f}</b>" in page
    assert "What it means:" in page and "formants (vocal tract length): +24 %" in page
    assert similarity_html(profile({})) == ""
