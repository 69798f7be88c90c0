"""Subtitles: cues from word timings, SRT and WebVTT files, and burning cues into frames."""

from __future__ import annotations

import numpy as np
import pytest

from engines.timing import WordTiming
from studio.render.subtitles import (
    DEFAULT_FONT,
    Cue,
    SubtitleStyle,
    active_cue,
    burn_in,
    cues_from_words,
    parse_subtitles,
    read_subtitles,
    shift_cues,
    srt_text,
    vtt_text,
    wrap_lines,
    write_srt,
    write_vtt,
)


def words_of(text: str, start: float = 0.0, word_s: float = 0.3, gap_s: float = 0.05) -> list[WordTiming]:
    out, t = [], start
    for w in text.split():
        out.append(WordTiming(w, round(t, 3), round(t + word_s, 3)))
        t += word_s + gap_s
    return out


def test_a_cue_starts_with_its_first_word_and_ends_with_its_last():
    words = words_of("Hello there, my friend.")
    (cue,) = cues_from_words(words)
    assert cue.start == words[0].start and cue.end == words[-1].end
    assert cue.text == "Hello there, my friend."


def test_cues_break_at_sentence_ends_and_long_silences():
    words = words_of("First sentence here. Second one") + words_of("after silence.", start=5.0)
    cues = cues_from_words(words)
    assert [c.text for c in cues] == ["First sentence here.", "Second one", "after silence."]
    assert cues[2].start == 5.0


def test_cues_hold_at_most_two_lines_of_42_characters_and_5_seconds():
    text = " ".join(f"word{i:02d}" for i in range(60))  # no punctuation at all
    cues = cues_from_words(words_of(text, word_s=0.2, gap_s=0.0))
    assert len(cues) > 1
    for cue in cues:
        lines = cue.text.split("\n")
        assert len(lines) <= 2 and all(len(line) <= 42 for line in lines)
        assert cue.end - cue.start <= 5.0 + 1e-6
    # every word appears once, in order
    assert " ".join(c.text.replace("\n", " ") for c in cues) == text


def test_short_cue_is_stretched_for_reading_but_never_overlaps_the_next():
    words = [WordTiming("Hi.", 0.0, 0.2), WordTiming("Next", 0.5, 0.8), WordTiming("cue.", 0.85, 1.1)]
    first, second = cues_from_words(words)
    assert first.end > 0.2 and first.end <= second.start - 0.04 + 1e-9
    assert second.start == 0.5


def test_two_lines_are_balanced():
    lines = wrap_lines("The quick brown fox jumps over the lazy dog near the river bank", 42)
    assert len(lines) == 2 and abs(len(lines[0]) - len(lines[1])) <= 8


def test_srt_text_uses_comma_milliseconds_and_numbered_blocks():
    cues = [Cue(0.25, 1.5, "Hello!"), Cue(3661.0, 3662.042, "Line one\nline two")]
    assert srt_text(cues) == (
        "1\n00:00:00,250 --> 00:00:01,500\nHello!\n\n2\n01:01:01,000 --> 01:01:02,042\nLine one\nline two\n"
    )


def test_vtt_text_has_header_dot_milliseconds_and_escapes_markup():
    text = vtt_text([Cue(1.0, 2.0, "Fish & <chips> --> now")])
    assert text.startswith("WEBVTT\n\n")
    assert "00:00:01.000 --> 00:00:02.000\nFish &amp; &lt;chips&gt; --&gt; now\n" in text


def test_written_files_read_back_to_the_same_cues(tmp_path):
    cues = cues_from_words(words_of("Grüße aus Köln. Ça va très bien, merci!"))
    srt, vtt = write_srt(cues, tmp_path / "a.srt"), write_vtt(cues, tmp_path / "a.vtt")
    for path in (srt, vtt):
        back = read_subtitles(path)
        assert [c.text for c in back] == [c.text for c in cues]
        assert [c.start for c in back] == pytest.approx([c.start for c in cues], abs=0.0015)
        assert [c.end for c in back] == pytest.approx([c.end for c in cues], abs=0.0015)
    assert not list(tmp_path.glob("*.tmp*")) and not list(tmp_path.glob(".*"))


def test_parse_ignores_numbering_and_vtt_cue_settings():
    cues = parse_subtitles("WEBVTT\n\nintro\n00:01.500 --> 00:02.000 align:center\nHi\n")
    assert cues == [Cue(1.5, 2.0, "Hi")]


def test_shifted_cues_move_by_the_offset():
    assert shift_cues([Cue(1.0, 2.0, "a")], 0.5) == [Cue(1.5, 2.5, "a")]


def test_active_cue_is_found_between_start_and_end_only():
    cues = [Cue(1.0, 2.0, "a"), Cue(3.0, 4.0, "b")]
    assert active_cue(cues, 0.5) is None
    assert active_cue(cues, 1.0).text == "a"
    assert active_cue(cues, 2.5) is None
    assert active_cue(cues, 3.999).text == "b"
    assert active_cue(cues, 4.0) is None


# ---------------------------------------------------------------------------------------------
# Burn-in


def test_the_shipped_font_and_its_license_are_in_assets():
    assert DEFAULT_FONT.is_file() and DEFAULT_FONT.suffix == ".ttf"
    assert "Bitstream Vera" in (DEFAULT_FONT.parent / "DejaVu-LICENSE.txt").read_text(encoding="utf-8")


def _changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return np.abs(after.astype(int) - before.astype(int)).max(axis=2) > 0


@pytest.mark.parametrize("size", [(512, 512), (720, 1280), (1280, 720)])
def test_burned_text_is_white_with_a_dark_outline_inside_the_safe_area(size):
    h, w = size
    frame = np.full((h, w, 3), 128, np.uint8)
    style = SubtitleStyle()
    cues = [Cue(0.0, 2.0, "Hello and welcome to the studio!\nToday we bake bread.")]
    out = burn_in(frame, 1.0, cues, style)
    assert out is not frame and (frame == 128).all()  # the input frame is not modified
    changed = _changed(frame, out)
    ys, xs = np.nonzero(changed)
    assert len(ys) > 500  # text was drawn
    assert ys.max() <= h * (1 - style.bottom_margin)
    assert ys.min() >= h * 0.5  # in the lower part, away from the face
    assert xs.min() >= w * style.side_margin - 1 and xs.max() <= w * (1 - style.side_margin) + 1
    assert abs((xs.min() + xs.max()) / 2 - w / 2) < w * 0.05  # centred
    pixels = out[changed]
    assert (pixels.min(axis=1) > 240).sum() > 100  # white letters
    assert (pixels.max(axis=1) < 30).sum() > 100  # black outline


def test_a_long_cue_shrinks_to_stay_inside_a_small_frame():
    frame = np.zeros((240, 320, 3), np.uint8)
    text = "This is a rather long subtitle line that would never fit\nat the normal size on such a small frame"
    out = burn_in(frame, 0.5, [Cue(0.0, 1.0, text)])
    xs = np.nonzero(_changed(frame, out))[1]
    assert xs.min() >= 320 * 0.06 - 1 and xs.max() <= 320 * 0.94 + 1


def test_no_cue_means_the_frame_is_untouched():
    frame = np.full((64, 64, 3), 10, np.uint8)
    assert burn_in(frame, 5.0, [Cue(0.0, 1.0, "gone")]) is frame


def test_burn_in_refuses_a_frame_that_is_not_rgb_uint8():
    with pytest.raises(ValueError, match="RGB uint8"):
        burn_in(np.zeros((64, 64), np.uint8), 0.5, [Cue(0.0, 1.0, "x")])


def test_word_times_from_speech_recognition_are_trimmed_to_the_voice_never_widened():
    from studio.render.subtitles import snap_to_speech

    rate = 16_000
    t = np.arange(rate * 2) / rate
    audio = np.where((t >= 0.5) & (t < 1.2), 0.3 * np.sin(2 * np.pi * 220 * t), 0.0).astype(np.float32)
    audio += np.random.default_rng(0).normal(0, 1e-4, len(audio)).astype(np.float32)  # a quiet room
    heard = [WordTiming("Hello", 0.0, 1.3), WordTiming("there", 1.5, 1.9), WordTiming("inside", 0.6, 0.9)]
    hello, there, inside = snap_to_speech(heard, audio, rate)
    assert hello.start == pytest.approx(0.5, abs=0.02) and hello.end == pytest.approx(1.2, abs=0.02)
    assert there == heard[1]  # only silence in it: left as Whisper said
    assert inside == heard[2]  # voice all through: unchanged


def test_snapped_word_times_do_not_drift_at_rates_whose_10ms_is_not_whole_samples():
    from studio.render.subtitles import snap_to_speech

    rate = 22_050  # 10 ms would be 220.5 samples: frame times must use the real hop, not 10 ms
    t = np.arange(int(rate * 62)) / rate
    audio = np.where((t >= 61.0) & (t < 61.5), 0.3 * np.sin(2 * np.pi * 220 * t), 0.0).astype(np.float32)
    audio += np.random.default_rng(0).normal(0, 1e-4, len(audio)).astype(np.float32)
    (word,) = snap_to_speech([WordTiming("late", 60.8, 61.7)], audio, rate)
    assert word.start == pytest.approx(61.0, abs=0.02) and word.end == pytest.approx(61.5, abs=0.02)
