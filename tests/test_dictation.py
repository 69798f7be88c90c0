"""Dictation and transcripts: a sentence spoken by the bundled Piper voice is transcribed back by
the bundled faster-whisper base model, word for word; silence and empty recordings are refused."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from studio import models
from studio.config import StudioPaths
from studio.errors import InputError
from studio.script import dictation

ROOT = Path(__file__).resolve().parent.parent
SENTENCE = "Hello and welcome to the studio. Today we bake fresh bread together."

pytestmark = pytest.mark.skipif(
    models.status(dictation.BUILT_IN_ASR, StudioPaths.from_env()).state != "ready",
    reason="the bundled Whisper base model is not prepared (python app.py models prepare)",
)


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def word_errors(reference: list[str], heard: list[str]) -> int:
    """Word-level edit distance (substitutions + insertions + deletions)."""
    d = list(range(len(heard) + 1))
    for i, r in enumerate(reference, 1):
        prev, d[0] = d[0], i
        for j, h in enumerate(heard, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (r != h))
    return d[-1]


@pytest.fixture(scope="module")
def speech(studio):
    return studio.tts().synthesize(SENTENCE)


def test_dictation_transcribes_a_spoken_sentence_word_for_word(studio, speech):
    text = dictation.dictate(studio, speech.audio, speech.sample_rate, language="en")
    assert word_errors(words(SENTENCE), words(text)) <= 1, text


def test_dictation_accepts_stereo_integer_audio_at_any_rate_and_detects_the_language(studio, speech):
    from studio.render.video import resample

    audio = resample(speech.audio, speech.sample_rate, 44_100)
    stereo = (np.stack([audio, audio * 0.8], axis=1) * 20_000).astype(np.int16)  # what gr.Audio gives
    text = dictation.dictate(studio, stereo, 44_100, language=dictation.language_code("Automatic"))
    assert word_errors(words(SENTENCE), words(text)) <= 1, text


def test_silence_and_empty_recordings_are_refused_in_plain_words(studio):
    with pytest.raises(InputError, match="no speech was heard"):
        dictation.dictate(studio, np.zeros(16_000 * 2, np.float32), 16_000)
    with pytest.raises(InputError, match="the recording is empty"):
        dictation.dictate(studio, np.zeros(0, np.float32), 16_000)


def test_word_timestamps_of_uploaded_speech_follow_the_spoken_words(studio, speech):
    from studio.render.subtitles import words_from_audio

    heard = words_from_audio(studio, speech.audio, speech.sample_rate, language="en")
    assert [w.word.strip(".,").lower() for w in heard] == words(SENTENCE)
    # Whisper's word times are coarser than the TTS timings, but land on the same words
    for said, got in zip(speech.words, heard):
        assert abs(said.start - got.start) < 0.35 and abs(said.end - got.end) < 0.35, (said, got)


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        timeout=600,
    )


def test_cli_dictate_and_subtitles_for_a_recording(tmp_path, speech):
    wav = tmp_path / "voice.wav"
    sf.write(wav, speech.audio, speech.sample_rate)
    proc = cli("script", "dictate", str(wav), "--language", "en")
    assert proc.returncode == 0, proc.stderr
    assert word_errors(words(SENTENCE), words(proc.stdout)) <= 1
    proc = cli("script", "subtitles", str(wav), "--out", str(tmp_path / "voice"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(tmp_path / "voice.srt"), str(tmp_path / "voice.vtt")]
    srt = (tmp_path / "voice.srt").read_text(encoding="utf-8")
    assert srt.startswith("1\n00:00:00,") and "Hello" in srt
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16_000, np.float32), 16_000)
    proc = cli("script", "dictate", str(silent))
    assert proc.returncode in (2, 3) and proc.stderr.startswith("error: ") and len(proc.stderr.splitlines()) == 1
