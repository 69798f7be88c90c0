"""Fuzzing (hypothesis): the script parser, the name sanitiser and the photo/audio loaders only ever
fail with a StudioError the user can read, never with another exception."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.errors import InputError, RejectedError
from studio.script.markup import EMOTIONS, analyze, parse_script
from studio.storage import child_path, sanitize_name

FUZZ = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
FILE_FUZZ = settings(max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# Script-like text: tags (known, unknown, broken), pauses with odd numbers, punctuation, blank lines.
_pieces = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [f"[{e}]" for e in EMOTIONS]
        + [
            "[pause]",
            "[pause 0.5s]",
            "[pause 120s]",
            "[pause 999999999999s]",
            "[pause 0ms]",
            "[PAUSE 2 s]",
            "[excited]",
            "[",
            "]",
            "[[x]]",
            "\n\n",
            "\r\n",
            ". ",
            "! ",
            "? ",
            "…",
            "\x00",
            "\u202e",
            "[pause -1s]",
        ]
    ),
    st.builds(
        lambda n, unit: f"[pause {n}{unit}]",
        st.floats(min_value=0, max_value=1e30, allow_nan=False),
        st.sampled_from(["", "s", "ms", " s"]),
    ),
)
script_text = st.lists(_pieces, max_size=30).map("".join)


@FUZZ
@given(text=script_text, emotion=st.sampled_from(EMOTIONS))
def test_script_parser_raises_only_input_error_and_durations_are_sane(text, emotion):
    try:
        script = parse_script(text, emotion=emotion)
    except InputError:
        return
    assert script.sentences
    for s in script.sentences:
        assert s.text.strip() and s.emotion in EMOTIONS
        assert 0.0 <= s.pause_before and 0.0 <= s.pause_after
    assert 0.0 <= script.estimated_duration() < float("inf")
    summary = analyze(text, emotion=emotion)
    assert summary.seconds >= 0 and summary.sentences == len(script.sentences)


@FUZZ
@given(text=st.text(max_size=300), emotion=st.text(max_size=12))
def test_script_analyze_never_raises(text, emotion):
    summary = analyze(text, emotion=emotion)
    assert summary.seconds >= 0 and summary.sentences >= 0


@FUZZ
@given(name=st.text(max_size=100))
def test_any_name_is_refused_or_stays_inside_its_folder(name):
    root = Path(tempfile.gettempdir()) / "fuzz-root"
    try:
        safe = sanitize_name(name)
    except InputError:
        return
    assert 0 < len(safe) <= 64 and all(c.isascii() and (c.isalnum() or c in "-_") for c in safe)
    assert child_path(root, name).parent == root.resolve()


@FUZZ
@given(name=st.text(max_size=120))
def test_any_upload_file_name_becomes_one_plain_name(name):
    from studio.safety import safe_filename

    safe = safe_filename(name)
    assert safe and len(safe) <= 80 and not safe.startswith(".")
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in safe)
    assert safe not in (".", "..") and "/" not in safe and "\\" not in safe


# ---------------------------------------------------------------------------------------------
# Loaders: random bytes, and random bytes behind a real format's magic so the decoders get past
# their first check.

_MAGICS = [
    b"",
    b"\x89PNG\r\n\x1a\n",
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    b"RIFF\x24\x00\x00\x00WEBPVP8 ",
    b"GIF89a",
    b"BM",
    b"II*\x00",
]
_AUDIO_MAGICS = [
    b"",
    b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00",
    b"fLaC\x00\x00\x00\x22",
    b"OggS\x00\x02",
    b"ID3\x04\x00\x00\x00\x00\x00\x00",
    b"\xff\xfb\x90\x64",
    b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00",
    b"\x1a\x45\xdf\xa3",
]
_SUFFIXES = [".png", ".jpg", ".webp", ".wav", ".mp3", ".bin", ""]


def _write(data: bytes, suffix: str) -> Path:
    fd, name = tempfile.mkstemp(suffix=suffix, prefix="fuzz-")
    with open(fd, "wb") as fh:
        fh.write(data)
    return Path(name)


@FILE_FUZZ
@given(magic=st.sampled_from(_MAGICS), body=st.binary(max_size=2048), suffix=st.sampled_from(_SUFFIXES))
def test_image_loader_turns_any_bytes_into_an_image_or_an_input_error(magic, body, suffix):
    from studio.portrait.photo import load_image

    path = _write(magic + body, suffix)
    try:
        image = load_image(path)
    except InputError:
        return
    finally:
        path.unlink(missing_ok=True)
    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype.name == "uint8"


@FILE_FUZZ
@given(magic=st.sampled_from(_AUDIO_MAGICS), body=st.binary(max_size=4096), suffix=st.sampled_from(_SUFFIXES))
def test_audio_loader_turns_any_bytes_into_audio_or_an_input_error(magic, body, suffix):
    from studio.voice.audio import load_audio

    path = _write(magic + body, suffix)
    try:
        audio, rate = load_audio(path)
    except InputError:
        return
    except RejectedError as exc:  # decodable but silent: a clear refusal too
        assert "silent" in str(exc)
        return
    finally:
        path.unlink(missing_ok=True)
    assert audio.ndim == 1 and rate > 0 and audio.dtype.name == "float32"


@FILE_FUZZ
@given(
    magic=st.sampled_from(_MAGICS + _AUDIO_MAGICS),
    body=st.binary(max_size=512),
    kind=st.sampled_from(["image", "audio"]),
)
def test_upload_check_accepts_only_its_kind(magic, body, kind):
    from studio import safety

    path = _write(magic + body, ".png")
    try:
        upload = safety.check_upload(path, kind)
    except InputError:
        return
    finally:
        path.unlink(missing_ok=True)
    assert upload.type in safety.KIND_TYPES[kind]


@pytest.mark.parametrize("data", [b"\x89PNG\r\n\x1a\n" + b"\x00" * 16, b"\xff\xd8\xff" + b"\xff" * 64])
def test_header_only_photos_are_input_errors(tmp_path, data):
    from studio.portrait.photo import load_image

    path = tmp_path / "x.png"
    path.write_bytes(data)
    with pytest.raises(InputError):
        load_image(path)


_VIDEO_MAGICS = [
    b"",
    b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom",
    b"\x1a\x45\xdf\xa3",
    b"RIFF\x00\x00\x00\x00AVI ",
]


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(magic=st.sampled_from(_VIDEO_MAGICS), body=st.binary(max_size=2048))
def test_verify_turns_any_bytes_into_a_report_or_an_input_error(magic, body):
    from studio.render.provenance import verify_video

    path = _write(magic + body, ".mp4")
    try:
        report = verify_video(path, max_frames=5)
    except InputError:
        return
    finally:
        path.unlink(missing_ok=True)
    assert not (report.watermark and report.watermark.found)  # random bytes never carry a valid payload
