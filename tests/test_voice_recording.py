"""The recording quality report: bad recordings are refused with one clear line, and nothing is saved."""

from __future__ import annotations

import numpy as np
import pytest
from voice_fixtures import SPEAKERS, make_studio, read_aloud, write

from studio.errors import InputError, RejectedError
from studio.voice.profiles import VoiceLibrary
from studio.voice.recording import load_recording

RATE = 44_100


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    return make_studio(tmp_path_factory.mktemp("voice_report_home"))


@pytest.fixture(scope="module")
def library(studio):
    return VoiceLibrary(studio.paths, studio=studio)


@pytest.fixture(scope="module")
def speech(studio):
    """About 24 s of one synthetic speaker reading aloud at 44.1 kHz."""
    return read_aloud(studio.tts(), SPEAKERS[1], 24, sample_rate=RATE)


def nothing_saved(library: VoiceLibrary) -> bool:
    return not library.root.exists() or not any(library.root.iterdir())


def rejected_add(library, path, match):
    with pytest.raises((RejectedError, InputError), match=match) as info:
        library.add("tester", path)
    assert "\n" not in str(info.value)
    assert nothing_saved(library)
    return info.value


def test_silence_is_refused_as_no_speech(library, tmp_path):
    path = write(tmp_path / "silence.wav", np.zeros(RATE * 20, np.float32), RATE)
    err = rejected_add(library, path, "no speech found")
    assert err.exit_code == 3


def test_two_seconds_of_speech_asks_for_at_least_30_seconds(library, speech, tmp_path):
    start = int(0.4 * RATE)
    path = write(tmp_path / "short.wav", speech[: start + 2 * RATE], RATE)
    rejected_add(library, path, r"only \d+ s of speech: record at least 30 s, 60 s is best")


def test_pure_noise_is_refused(library, tmp_path):
    noise = np.random.default_rng(1).normal(0, 0.2, RATE * 20).astype(np.float32)
    path = write(tmp_path / "noise.wav", noise, RATE)
    report = library.report(path)
    assert not report.usable
    assert report.speech_s < 15
    rejected_add(library, path, "speech|noise")


def test_clipped_recording_asks_to_lower_the_gain(library, speech, tmp_path):
    path = write(tmp_path / "clipped.wav", np.clip(speech * 12, -1, 1), RATE, subtype="FLOAT")
    report = library.report(path)
    rows = {r.key: r for r in report.rows}
    assert rows["clipping"].status == "reject"
    assert report.clipping_ratio > 0.01
    rejected_add(library, path, "lower the input gain")


def test_telephone_quality_8khz_is_refused(library, speech, tmp_path):
    import soxr

    low = soxr.resample(speech, RATE, 8000).astype(np.float32)
    path = write(tmp_path / "phone.wav", low, 8000)
    report = library.report(path)
    assert {r.key for r in report.problems()} == {"sample_rate"}
    rejected_add(library, path, "8 kHz")


def test_corrupt_file_is_an_input_error(library, tmp_path):
    path = tmp_path / "broken.wav"
    path.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt " + bytes(range(200)))
    err = rejected_add(library, path, "not a readable audio file|damaged")
    assert err.exit_code == 2


def test_twenty_minute_file_is_refused_before_decoding(library, tmp_path):
    path = write(tmp_path / "long.wav", np.zeros(8000 * 60 * 20, np.float32), 8000)
    with pytest.raises(RejectedError, match="20 min long: trim it"):
        load_recording(path)
    rejected_add(library, path, "trim it")


def test_missing_file_names_the_file(library, tmp_path):
    rejected_add(library, tmp_path / "nope.wav", "cannot find the recording")


def test_good_but_short_recording_is_usable_with_a_warning(library, speech, tmp_path):
    path = write(tmp_path / "ok.wav", speech, RATE)
    report = library.report(path)
    assert report.verdict == "usable"
    rows = {r.key: r for r in report.rows}
    assert rows["speech"].status == "warn" and 15 <= report.speech_s < 30
    assert rows["clipping"].status == "ok" and rows["sample_rate"].status == "ok"
    assert rows["noise"].status == "ok" and report.snr_db > 30
    assert -40 < report.loudness_lufs < -10
    # The transcript comes from the raw audio and is close to what was read.
    heard = report.transcript.lower()
    assert sum(w in heard for w in ("keeper", "stairs", "hundred", "morning", "cliff")) >= 3


def test_quiet_recording_says_move_closer(library, speech, tmp_path):
    path = write(tmp_path / "quiet.wav", speech * 0.15, RATE, subtype="FLOAT")
    report = library.report(path)
    assert any("move closer" in a for a in report.advice())


def test_stereo_is_mixed_to_mono_and_reported(speech, tmp_path):
    stereo = np.stack([speech, speech * 0.5], axis=1)
    rec = load_recording(write(tmp_path / "stereo.wav", stereo, RATE))
    assert rec.channels == 2 and rec.audio.ndim == 1
    assert np.allclose(rec.audio, speech * 0.75, atol=1e-3)
