"""The script editor's markup, its live summary, and scripts saved with a project."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engines.voice.prosody import Prosody
from studio.config import StudioPaths
from studio.errors import InputError
from studio.script.markup import (
    DEFAULT_PAUSE_S,
    MAX_PAUSE_S,
    PARAGRAPH_PAUSE_S,
    WORDS_PER_SECOND,
    analyze,
    parse_script,
)
from studio.script.projects import delete_project, list_projects, load_project, save_project

ROOT = Path(__file__).resolve().parent.parent


def test_emotion_tag_applies_until_the_next_tag():
    script = parse_script("[happy] Hello there. Nice to meet you. [sad] The shop closed. It was old. [neutral] Bye.")
    assert [(s.text, s.emotion) for s in script.sentences] == [
        ("Hello there.", "happy"),
        ("Nice to meet you.", "happy"),
        ("The shop closed.", "sad"),
        ("It was old.", "sad"),
        ("Bye.", "neutral"),
    ]
    assert script.warnings == []


def test_emotion_carries_over_paragraphs_and_starts_from_the_given_emotion():
    script = parse_script("First one.\n\nSecond one. [angry] Third one.\n\nFourth one.", emotion="surprised")
    assert [s.emotion for s in script.sentences] == ["surprised", "surprised", "angry", "angry"]
    assert [s.paragraph for s in script.sentences] == [0, 1, 1, 2]


def test_every_known_emotion_tag_is_understood_in_any_case():
    for emotion in ("happy", "sad", "angry", "surprised", "neutral"):
        script = parse_script(f"[{emotion.upper()}] Words to say.")
        assert script.sentences[0].emotion == emotion and not script.warnings


def test_pause_tags_add_silence_before_the_next_sentence():
    script = parse_script("One. [pause 0.8s] Two. [pause] Three. [pause 250ms] Four.")
    assert [s.pause_before for s in script.sentences] == pytest.approx([0.0, 0.8, DEFAULT_PAUSE_S, 0.25])


def test_pause_at_the_end_becomes_trailing_silence_and_is_capped():
    script = parse_script("Goodbye. [pause 30s]")
    assert script.sentences[-1].pause_after == MAX_PAUSE_S
    assert any("shortened" in w and "[pause 30s]" in w for w in script.warnings)


def test_blank_line_starts_a_paragraph_with_a_short_pause():
    script = parse_script("Hello there.\n\n\nSecond paragraph here.")
    assert script.sentences[1].paragraph == 1
    assert script.sentences[1].pause_before == pytest.approx(PARAGRAPH_PAUSE_S)
    # a single line break is not a paragraph
    assert parse_script("Hello there.\nStill the same paragraph.").sentences[1].pause_before == 0.0


def test_unknown_tag_is_dropped_with_a_warning_that_names_its_line_and_suggests_a_known_tag():
    script = parse_script("Hello.\n[excited] Great news today!\nAnd [hapy] more.")
    assert "excited" not in script.text and "hapy" not in script.text
    assert len(script.warnings) == 2
    assert (
        script.warnings[0].startswith("line 2: unknown tag [excited]") and "did you mean [happy]" in script.warnings[0]
    )
    assert script.warnings[1].startswith("line 3: unknown tag [hapy]") and "did you mean [happy]" in script.warnings[1]
    # the unknown tag changed nothing
    assert all(s.emotion == "neutral" for s in script.sentences)


def test_unmatched_bracket_is_reported_not_spoken():
    script = parse_script("Hello [there friend.")
    assert script.text == "Hello there friend."
    assert any("square bracket" in w for w in script.warnings)


def test_empty_or_markup_only_script_is_refused_with_one_plain_message():
    for text in ("", "   \n\n ", "[happy] [pause 1s]"):
        with pytest.raises(InputError, match="the script is empty"):
            parse_script(text)


def test_unknown_starting_emotion_is_refused():
    with pytest.raises(InputError, match="unknown emotion 'bored'"):
        parse_script("Hi.", emotion="bored")


def test_duration_estimate_counts_words_at_narration_pace_plus_pauses():
    words = "word " * 26
    plain = parse_script(words.strip() + ".").estimated_duration()
    assert plain == pytest.approx(26 / WORDS_PER_SECOND)
    paused = parse_script(words.strip() + ". [pause 2s] Again.").estimated_duration()
    assert paused == pytest.approx(27 / WORDS_PER_SECOND + 2.0)


def test_live_summary_never_raises_and_shows_length_counts_emotions_and_warnings():
    empty = analyze("")
    assert (empty.sentences, empty.seconds) == (0, 0.0)
    info = analyze("[happy] " + "one two three four five six seven. " * 12 + "[sad] Bye now. [wow] x")
    assert info.sentences == 14 and info.words == 12 * 7 + 3
    assert info.emotions == ["happy", "sad"]
    assert info.warnings and "[wow]" in info.warnings[0]
    line = info.describe()
    minutes, seconds = divmod(round(info.seconds), 60)
    assert line.startswith(f"≈ {minutes}:{seconds:02d} spoken") and "14 sentences" in line and "happy, sad" in line


def test_very_long_sentence_gets_a_split_hint():
    script = parse_script(" ".join(["word"] * 45) + ".")
    assert any("45 words" in w for w in script.warnings)


# ---------------------------------------------------------------------------------------------
# Projects


def test_script_is_saved_with_the_project_and_reopened_unchanged(tmp_path):
    paths = StudioPaths(tmp_path).ensure()
    text = "[happy] Hello!  [pause 0.5s]\n\nSecond paragraph — with ünïcode."
    saved = save_project(paths, "Bakery intro", text, settings={"preset": "product-intro", "seconds": 30})
    assert saved.folder == paths.projects / "Bakery-intro"
    assert (saved.folder / "script.txt").read_text(encoding="utf-8") == text
    again = load_project(paths, "Bakery intro")
    assert again.script == text and again.name == "Bakery intro"
    assert again.settings == {"preset": "product-intro", "seconds": 30}
    # saving new text keeps the settings and the creation time
    later = save_project(paths, "Bakery intro", "Changed.")
    assert later.settings == {"preset": "product-intro", "seconds": 30}
    assert later.created == saved.created and later.updated >= saved.updated
    assert load_project(paths, "Bakery intro").script == "Changed."


def test_projects_are_listed_newest_first_and_can_be_deleted(tmp_path):
    paths = StudioPaths(tmp_path).ensure()
    save_project(paths, "first", "One.")
    os.utime(paths.projects / "first" / "project.json", (1, 1))
    save_project(paths, "second", "Two.")
    assert list_projects(paths) == ["second", "first"]
    delete_project(paths, "first")
    assert list_projects(paths) == ["second"]
    with pytest.raises(InputError, match="no project named 'first'"):
        load_project(paths, "first")


def test_project_names_cannot_escape_the_projects_folder(tmp_path):
    paths = StudioPaths(tmp_path).ensure()
    saved = save_project(paths, "../../evil", "Hi.")
    assert saved.folder.parent == paths.projects.resolve()
    with pytest.raises(InputError):
        save_project(paths, "..", "Hi.")


def test_a_save_that_fails_half_way_keeps_the_previous_script(tmp_path, monkeypatch):
    import errno

    from studio.errors import StudioError

    paths = StudioPaths(tmp_path).ensure()
    save_project(paths, "keep", "The good version.")
    real_write = Path.write_bytes

    def disk_full(self, data):
        real_write(self, data[: len(data) // 2])  # half of the file reaches the disk, then it is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", disk_full)
    with pytest.raises(StudioError, match="the disk is full"):
        save_project(paths, "keep", "A much longer new version of the script.")
    monkeypatch.undo()
    assert load_project(paths, "keep").script == "The good version."
    assert sorted(p.name for p in (paths.projects / "keep").iterdir()) == ["project.json", "script.txt"]


# ---------------------------------------------------------------------------------------------
# Command line


def cli(*args: str, stdin: str | None = None, home: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if home is not None:
        env["STUDIO_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        input=stdin,
        timeout=300,
    )


def test_cli_script_check_reports_sentences_length_and_unknown_tags(tmp_path):
    path = tmp_path / "s.txt"
    path.write_text("[happy] Hello there! [pause 1s] [bogus] Bye.", encoding="utf-8")
    proc = cli("script", "check", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [(s["text"], s["emotion"], s["pause_before"]) for s in report["sentences"]] == [
        ("Hello there!", "happy", 0.0),
        ("Bye.", "happy", 1.0),
    ]
    happy_rate = Prosody.of("happy").rate  # happy speaks a little faster
    assert report["seconds"] == pytest.approx(3 / (WORDS_PER_SECOND * happy_rate) + 1.0, abs=0.01)
    assert "unknown tag [bogus]" in report["warnings"][0]


def test_cli_script_check_of_an_empty_script_is_one_error_line(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("[happy]\n", encoding="utf-8")
    proc = cli("script", "check", str(path))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: the script is empty: type what the avatar should say"]


def test_cli_script_save_list_and_load_round_trip(tmp_path):
    home = tmp_path / "home"
    proc = cli("script", "save", "My video", "-", stdin="[sad] So long. [pause 1s] Farewell.\n", home=home)
    assert proc.returncode == 0, proc.stderr
    assert (home / "projects" / "My-video" / "script.txt").exists()
    listed = cli("script", "list", home=home)
    assert listed.stdout.startswith("My-video") and "2 sentences" in listed.stdout
    loaded = cli("script", "load", "My video", home=home)
    assert loaded.stdout == "[sad] So long. [pause 1s] Farewell.\n"
