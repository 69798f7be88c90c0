"""Voice profiles: saving, listing, renaming, removing, and speaking in a saved voice."""

from __future__ import annotations

import json

import numpy as np
import pytest
from voice_fixtures import SPEAKERS, make_studio, read_aloud, write

from studio.errors import InputError, RejectedError
from studio.storage import read_npz
from studio.voice.profiles import VoiceLibrary
from studio.voice.speakers import emotion_prosody, say, speaker_for

RATE = 44_100
SENTENCE = "Thanks for watching, and see you again next week."


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    return make_studio(tmp_path_factory.mktemp("voice_library_home"))


@pytest.fixture(scope="module")
def library(studio):
    return VoiceLibrary(studio.paths, studio=studio)


@pytest.fixture(scope="module")
def recording(studio, tmp_path_factory):
    """About 34 s of a female eSpeak NG voice (en-us+f3), a speaker the voice match never saw, at 44.1 kHz."""
    audio = read_aloud(studio.tts(), SPEAKERS[0], 34, sample_rate=RATE)
    return write(tmp_path_factory.mktemp("rec") / "mila.wav", audio, RATE)


@pytest.fixture(scope="module")
def mila(library, recording):
    return library.add("Mila's voice", recording)


def test_saved_profile_has_raw_audio_reference_embedding_and_report(mila, recording):
    files = {p.name for p in mila.folder.iterdir()}
    assert {"profile.json", "voice.wav", "embedding.npz", "raw.wav"} <= files
    assert mila.folder.name == "Mila-s-voice" and mila.name == "Mila's voice"
    assert (mila.folder / "raw.wav").read_bytes() == recording.read_bytes()  # the original, untouched
    data = json.loads((mila.folder / "profile.json").read_text())
    assert data["report"]["verdict"] in ("good", "usable") and data["report"]["speech_s"] > 25
    vec = read_npz(mila.folder / "embedding.npz")["d_vector"]
    assert vec.shape == (256,) and abs(float(np.linalg.norm(vec)) - 1) < 1e-3
    import soundfile as sf

    info = sf.info(str(mila.reference_path))
    assert info.samplerate == 24_000 and info.channels == 1


def test_voice_match_finds_the_female_speakers_higher_pitch_and_shorter_vocal_tract(mila):
    match = mila.match_settings()
    source = mila.match_source()
    # A female eSpeak voice against the male Piper voice: well above it in pitch, formants higher.
    semitones = 12 * (match.target.f0_log_mean - source.f0_log_mean) / np.log(2)
    assert semitones > 5
    assert match.warp > 1.08
    assert len(match.target.envelope_std_db) == len(match.target.envelope_db) == 64
    parts = {row["part"].split(" (")[0] for row in mila.settings["matched"]}
    assert parts == {"pitch", "pitch range", "formants", "timbre", "speaking rate"}


def test_profile_reports_honest_similarity_on_a_sentence_the_match_never_heard(mila):
    # The test sentence is not one the calibration tuned on; the female voice is far from the male default.
    assert mila.settings["test_similarity"] > mila.settings["default_voice_similarity"] + 0.1
    assert "voice match" in mila.summary() and f"{mila.settings['test_similarity']:.2f}" in mila.summary()


def test_list_shows_the_saved_voice(library, mila):
    names = [p.name for p in library.list()]
    assert names == ["Mila's voice"]


def test_a_second_add_with_the_same_name_fails_and_keeps_the_first(library, mila, tmp_path):
    before = (mila.folder / "profile.json").read_bytes()
    bad = write(tmp_path / "silence.wav", np.zeros(RATE * 5, np.float32), RATE)
    with pytest.raises(InputError, match="already exists"):
        library.add("Mila's voice", bad)
    with pytest.raises(InputError, match="already exists"):
        library.add("Mila-s-voice", bad)  # the same folder under its sanitised spelling
    assert (mila.folder / "profile.json").read_bytes() == before
    assert library.load("Mila's voice").name == "Mila's voice"
    assert [p.name for p in library.root.iterdir()] == ["Mila-s-voice"]  # no staging leftovers


def test_failed_add_under_a_new_name_leaves_nothing_behind(library, mila, tmp_path):
    bad = write(tmp_path / "silence.wav", np.zeros(RATE * 5, np.float32), RATE)
    with pytest.raises(RejectedError):
        library.add("Other", bad)
    assert sorted(p.name for p in library.root.iterdir()) == ["Mila-s-voice"]


def test_unknown_voice_points_to_the_list_command(library):
    with pytest.raises(InputError, match=r"unknown voice 'Nobody': run `python app.py voice list`"):
        library.load("Nobody")


def test_names_are_sanitised_and_cannot_escape_the_voices_folder(library, recording):
    with pytest.raises(InputError):
        library.add("../..", recording)
    with pytest.raises(InputError):
        library.load("../../etc")


def test_matched_voice_is_closer_to_the_speaker_than_the_default_voice(studio, mila):
    default = speaker_for(studio, None)
    matched = speaker_for(studio, "Mila's voice")
    assert default.describe() == "default voice"
    assert matched.describe() == "voice match toward Mila's voice"
    plain = default.synthesize(SENTENCE)
    moved = matched.synthesize(SENTENCE)
    assert default.similarity(plain) is None
    assert matched.similarity(moved) > matched.similarity(plain) + 0.1


def test_matched_speech_keeps_timings_consistent_with_the_audio(studio, mila):
    matched = speaker_for(studio, "Mila's voice")
    for emotion in ("neutral", "sad", "surprised"):
        speech = matched.synthesize(SENTENCE, emotion=emotion)
        assert speech.phonemes and speech.words
        assert [w.word for w in speech.words] == SENTENCE.split()
        last = max(p.end for p in speech.phonemes)
        assert speech.duration - 0.5 < last <= speech.duration + 1e-6
        starts = [p.start for p in speech.phonemes]
        assert starts == sorted(starts)


def test_emotion_changes_rate_pitch_and_energy(studio, mila):
    matched = speaker_for(studio, "Mila's voice")
    from engines.voice.match import WorldVoiceMatch

    world = WorldVoiceMatch()
    # Piper samples its durations and excitation, so compare averages over a few takes.
    takes = {e: [matched.synthesize(SENTENCE, emotion=e) for _ in range(3)] for e in ("neutral", "sad", "surprised")}
    assert emotion_prosody("sad").rate < 1 < emotion_prosody("surprised").rate

    def duration(e):
        return float(np.mean([s.duration for s in takes[e]]))

    def pitch(e):
        return float(np.mean([world.analyse(s.audio, s.sample_rate).traits.f0_median_hz for s in takes[e]]))

    def rms(e):
        return float(np.mean([np.sqrt(np.mean(s.audio**2)) for s in takes[e]]))

    assert duration("sad") > duration("neutral") > duration("surprised")
    assert pitch("sad") < pitch("neutral") < pitch("surprised")
    assert rms("sad") < rms("neutral")


def test_say_writes_a_wav_and_reports_similarity(studio, mila, tmp_path):
    import soundfile as sf

    result = say(studio, "Mila's voice", "Hello there.", tmp_path / "hello.wav")
    audio, rate = sf.read(str(tmp_path / "hello.wav"))
    assert rate == result.speech.sample_rate and len(audio) == len(result.speech.audio)
    # the number reported is the profile similarity of what was said (measured again here)
    assert result.similarity == pytest.approx(speaker_for(studio, "Mila's voice").similarity(result.speech), abs=1e-6)
    with pytest.raises(InputError, match="nothing to say"):
        say(studio, "Mila's voice", "   ")


def test_xtts_engine_is_refused_clearly_when_not_set_up(studio, mila):
    with pytest.raises(InputError, match="XTTS-v2"):
        speaker_for(studio, "Mila's voice", engine="xtts")


def test_rename_then_remove(library, mila, recording, tmp_path):
    # Work on a copy so the other tests keep their voice.
    import shutil

    copy = library.root / "Copy"
    shutil.copytree(mila.folder, copy)
    with pytest.raises(InputError, match="already exists"):
        library.rename("Copy", "Mila's voice")
    renamed = library.rename("Copy", "Second take")
    assert renamed.folder.name == "Second-take" and not copy.exists()
    assert library.load("Second take").name == "Second take"
    library.remove("Second take")
    assert not renamed.folder.exists()
    with pytest.raises(InputError, match="unknown voice"):
        library.remove("Second take")


def test_noisy_recording_of_a_male_voice_is_denoised_matched_and_the_raw_file_is_kept(library, studio, tmp_path):
    audio = read_aloud(studio.tts(), SPEAKERS[1], 18, sample_rate=RATE, seed=3)  # en+m7, low and male
    noisy = audio + np.random.default_rng(2).normal(0, 0.012, len(audio)).astype(np.float32)
    path = write(tmp_path / "noisy.wav", noisy, RATE)
    report = library.report(path)
    assert report.noisy and report.usable
    profile = library.add("Noisy", path, report=report)
    assert profile.settings["denoised"] is True
    assert profile.raw_path.read_bytes() == path.read_bytes()
    from studio.voice.recording import estimate_snr_db, load_recording

    ref = load_recording(profile.reference_path)
    segments = [tuple(s) for s in profile.report["speech_segments"]]
    assert estimate_snr_db(ref.audio, ref.sample_rate, segments) > report.snr_db + 6
    # Even from a noisy recording, the match sounds more like him than the default voice does.
    assert profile.settings["test_similarity"] > profile.settings["default_voice_similarity"]
    library.remove("Noisy")


def test_cli_voice_commands(studio, mila, tmp_path, capsys, monkeypatch):
    from studio.cli import main

    monkeypatch.setattr("studio.services._default", studio)
    assert main(["voice", "list"]) == 0
    assert "Mila's voice" in capsys.readouterr().out
    out = tmp_path / "cli.wav"
    assert main(["voice", "say", "Mila's voice", "--text", "One two three.", "--out", str(out)]) == 0
    assert out.exists() and "similarity" in capsys.readouterr().out
    assert main(["voice", "say", "Ghost", "--text", "hi", "--out", str(out)]) == 2
    assert "unknown voice 'Ghost'" in capsys.readouterr().err
    silence = write(tmp_path / "s.wav", np.zeros(RATE * 3, np.float32), RATE)
    assert main(["voice", "add", "Empty", "--audio", str(silence)]) == 3
    assert "error: the recording cannot be used: no speech found" in capsys.readouterr().err
    assert main(["voice", "check", str(silence)]) == 3
