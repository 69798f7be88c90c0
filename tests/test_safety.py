"""Safety: the server stays local by default, uploads are checked by content and size, and user
strings (voice, avatar, project names) never become paths outside the studio's folders."""

from __future__ import annotations

import io
import json
import struct
import wave
import zlib
from pathlib import Path

import numpy as np
import pytest

from studio import safety
from studio.config import StudioPaths
from studio.errors import InputError, StudioError
from studio.storage import child_path, sanitize_name

TRAVERSAL_NAMES = [
    "../../etc/passwd",
    "..\\..\\x",
    "/etc/passwd",
    "C:\\Windows\\system32",
    "a/../../b",
    "nul\x00byte",
    "~/.ssh/id_rsa",
    "%2e%2e%2fetc",
    "Ünïcødé naïve café",
    "..",
]


def _files_outside(root: Path, before: set[Path]) -> set[Path]:
    return {p for p in root.parent.rglob("*")} - before


# ---------------------------------------------------------------------------------------------
# The web server


def test_cli_serves_on_localhost_unless_listen_is_given():
    from studio.cli import build_parser

    args = build_parser().parse_args([])
    assert (args.listen, args.share) == (False, False)
    assert build_parser().parse_args(["--listen"]).listen is True


def test_launch_binds_127_0_0_1_by_default_and_caps_upload_size(monkeypatch):
    from studio.ui import app as ui_app

    seen: list[dict] = []

    class FakeDemo:
        def queue(self, **kwargs):
            return self

        def launch(self, **kwargs):
            seen.append(kwargs)

    monkeypatch.setattr(ui_app, "build_app", lambda studio=None: FakeDemo())
    ui_app.launch()
    ui_app.launch(listen=True)
    assert seen[0]["server_name"] == "127.0.0.1" and seen[0]["share"] is False
    assert seen[1]["server_name"] == "0.0.0.0"
    assert seen[0]["max_file_size"] == safety.MAX_UPLOAD_BYTES <= 256 * 1024 * 1024


# ---------------------------------------------------------------------------------------------
# Upload checks


def _png(width=8, height=8) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 150, 120)).save(buf, "PNG")
    return buf.getvalue()


def _wav(seconds=0.5, rate=16000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        t = np.arange(int(seconds * rate)) / rate
        w.writeframes((np.sin(2 * np.pi * 220 * t) * 8000).astype("<i2").tobytes())
    return buf.getvalue()


@pytest.mark.parametrize(
    "kind,data,expected",
    [
        ("image", _png(), "png"),
        ("image", b"\xff\xd8\xff\xe0" + b"\x00" * 60, "jpeg"),
        ("image", b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 40, "webp"),
        ("audio", _wav(), "wav"),
        ("audio", b"ID3\x04" + b"\x00" * 60, "mp3"),
        ("audio", b"\xff\xfb\x90\x64" + b"\x00" * 60, "mp3"),
        ("audio", b"fLaC" + b"\x00" * 60, "flac"),
        ("audio", b"OggS" + b"\x00" * 60, "ogg"),
        ("audio", b"\x00\x00\x00\x20ftypM4A " + b"\x00" * 60, "m4a"),
    ],
)
def test_accepts_expected_types_by_content(tmp_path, kind, data, expected):
    path = tmp_path / "upload.bin"  # the extension says nothing: the content decides
    path.write_bytes(data)
    assert safety.check_upload(path, kind).type == expected


@pytest.mark.parametrize(
    "kind,data,name",
    [
        ("image", b"<html><script>alert(1)</script></html>", "face.png"),
        ("image", b"MZ\x90\x00\x03" + b"\x00" * 100, "face.jpg"),  # a Windows executable
        ("image", b"PK\x03\x04" + b"\x00" * 100, "face.webp"),  # a zip archive
        ("image", b"GIF89a" + b"\x00" * 100, "face.gif"),  # an image, but not one of ours
        ("image", _wav(), "face.png"),  # a recording named like a photo
        ("audio", _png(), "voice.wav"),  # a photo named like a recording
        ("audio", b"#!/bin/sh\nrm -rf /\n", "voice.mp3"),
        ("audio", b"%PDF-1.7\n" + b"\x00" * 100, "voice.m4a"),
    ],
)
def test_refuses_wrong_content_whatever_the_extension(tmp_path, kind, data, name):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(InputError) as err:
        safety.check_upload(path, kind)
    assert name in str(err.value) and "use a" in str(err.value)


def test_refuses_huge_uploads_without_reading_them(tmp_path):
    huge = tmp_path / "huge.wav"
    with open(huge, "wb") as fh:  # sparse: costs no disk space
        fh.write(_wav()[:44])
        fh.truncate(safety.MAX_AUDIO_BYTES + 1)
    with pytest.raises(InputError, match="over the 200 MB limit"):
        safety.check_audio_upload(huge)
    photo = tmp_path / "huge.png"
    with open(photo, "wb") as fh:
        fh.write(_png())
        fh.truncate(safety.MAX_IMAGE_BYTES + 1)
    with pytest.raises(InputError, match="limit for photos"):
        safety.check_image_upload(photo)


@pytest.mark.parametrize("case", ["missing", "folder", "empty"])
def test_refuses_missing_empty_and_folders(tmp_path, case):
    target = {"missing": tmp_path / "missing.png", "folder": tmp_path, "empty": tmp_path / "empty.png"}[case]
    if case == "empty":
        target.write_bytes(b"")
    with pytest.raises(InputError):
        safety.check_image_upload(target)


def test_refuses_no_file_and_nul_in_path():
    for bad in (None, "", "a\x00b.png"):
        with pytest.raises(InputError):
            safety.check_image_upload(bad)


def test_messages_never_echo_control_characters(tmp_path):
    path = tmp_path / "evil\x1b[31mname.png"
    path.write_bytes(b"not an image")
    with pytest.raises(InputError) as err:
        safety.check_image_upload(path)
    assert "\x1b" not in str(err.value)


@pytest.mark.parametrize(
    "name,expected",
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\x", "x"),
        ("C:\\Users\\me\\photo 1.JPG", "photo-1.jpg"),
        ("/abs/path/.bashrc", "bashrc"),
        ("nul\x00byte.png", "nulbyte.png"),
        ("café.webp", "cafe.webp"),
        ("名前.png", "upload.png"),
        ("..", "upload"),
        ("", "upload"),
    ],
)
def test_safe_filename_keeps_only_a_plain_name(name, expected):
    assert safety.safe_filename(name) == expected


# ---------------------------------------------------------------------------------------------
# Names through the public APIs


@pytest.mark.parametrize("name", TRAVERSAL_NAMES)
def test_sanitize_and_child_path_never_leave_the_root(tmp_path, name):
    root = tmp_path / "root"
    root.mkdir()
    try:
        safe = sanitize_name(name)
    except InputError:
        return  # refusing is fine; escaping is not
    assert "/" not in safe and "\\" not in safe and "\x00" not in safe and not safe.startswith(".")
    assert child_path(root, name).parent == root.resolve()


@pytest.mark.parametrize("name", ["", "   ", "..", ".", "/", "CON", "nul", "名前", "\x00"])
def test_names_with_nothing_usable_are_refused_with_one_line(name):
    with pytest.raises(InputError) as err:
        sanitize_name(name)
    assert "\n" not in str(err.value)


@pytest.fixture
def paths(tmp_path) -> StudioPaths:
    return StudioPaths(tmp_path / "home").ensure()


@pytest.mark.parametrize("name", TRAVERSAL_NAMES)
def test_project_names_stay_inside_projects(paths, name):
    from studio.script.projects import delete_project, list_projects, load_project, save_project

    before = set(paths.home.parent.rglob("*"))
    try:
        project = save_project(paths, name, "Hello there.")
    except InputError:
        assert set(paths.home.parent.rglob("*")) == before  # refused: nothing written anywhere
        return
    assert project.folder.parent == paths.projects.resolve()
    created = set(paths.home.parent.rglob("*")) - before
    assert created and all(p.resolve().is_relative_to(paths.projects.resolve()) for p in created)
    assert load_project(paths, name).script == "Hello there."
    assert list_projects(paths) == [project.folder.name]
    delete_project(paths, name)
    assert list_projects(paths) == []


def test_project_traversal_cannot_read_or_delete_outside(paths):
    from studio.script.projects import delete_project, load_project

    secret = paths.home / "secret"
    secret.mkdir()
    (secret / "script.txt").write_text("private")
    for name in ("../secret", "../../home/secret", str(secret)):
        with pytest.raises(InputError):
            load_project(paths, name)
        with pytest.raises(InputError):
            delete_project(paths, name)
    assert (secret / "script.txt").read_text() == "private"


def _fake_voice(paths: StudioPaths, key: str) -> Path:
    folder = paths.voices / key
    folder.mkdir(parents=True)
    (folder / "profile.json").write_text(json.dumps({"name": key, "created": "", "report": {}, "settings": {}}))
    return folder


@pytest.mark.parametrize("name", TRAVERSAL_NAMES)
def test_voice_names_stay_inside_voices(paths, name):
    from studio.voice.profiles import VoiceLibrary

    lib = VoiceLibrary(paths)
    outside = paths.home / "victim"
    outside.mkdir()
    (outside / "profile.json").write_text(json.dumps({"name": "victim"}))
    _fake_voice(paths, "anna")
    try:
        assert lib.exists(name) is False
    except InputError:
        pass  # a name with nothing usable in it is refused outright
    with pytest.raises(InputError):
        lib.load(name)
    with pytest.raises(InputError):
        lib.remove(name)
    try:
        renamed = lib.rename("anna", name)
    except InputError:
        renamed = None
    if renamed is not None:
        assert renamed.folder.resolve().parent == paths.voices.resolve()
    assert (outside / "profile.json").exists()
    assert {p.name for p in paths.home.iterdir()} >= {"victim", "voices"}


def test_voice_add_refuses_a_traversal_name_that_sanitises_to_nothing(paths, tmp_path):
    from studio.voice.profiles import VoiceLibrary

    with pytest.raises(InputError):
        VoiceLibrary(paths).add("../..", tmp_path / "whatever.wav")
    assert list(paths.voices.iterdir()) == []


@pytest.mark.parametrize("name", ["../../evil", "..\\..\\evil", "/tmp/evil"])
def test_avatar_with_traversal_name_is_saved_inside_avatars(paths, name, demo_portrait, studio):
    from studio.portrait.avatars import AvatarLibrary

    lib = AvatarLibrary(paths, studio=studio)
    avatar = lib.add(name, demo_portrait)
    assert avatar.folder.resolve().parent == paths.avatars.resolve()
    assert avatar.name == sanitize_name(name) and avatar.name.endswith("evil")
    assert not (paths.home.parent / "evil").exists() and not (paths.home / "evil").exists()
    renamed = lib.rename(avatar.name, "../../../../renamed")
    assert renamed.folder.resolve().parent == paths.avatars.resolve()
    with pytest.raises(InputError):
        lib.load("../avatars/renamed/..")
    lib.remove("renamed")
    assert lib.names() == []


# ---------------------------------------------------------------------------------------------
# Huge and malformed uploads through the loaders and libraries


def _png_header_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels, with one tiny IDAT chunk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + idat + chunk(b"IEND", b"")


def test_decompression_bomb_photo_is_refused_before_decoding(tmp_path):
    from studio.portrait.photo import load_image

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header_claiming(100_000, 100_000))
    assert safety.check_image_upload(bomb).size < 1000  # tiny on disk: only the decoder would blow up
    with pytest.raises(InputError, match="too large"):
        load_image(bomb)


def test_truncated_photo_is_an_input_error(tmp_path):
    from studio.portrait.photo import load_image

    cut = tmp_path / "cut.png"
    cut.write_bytes(_png(64, 64)[:60])
    with pytest.raises(InputError):
        load_image(cut)


def test_hours_long_wav_is_refused_from_its_header(tmp_path):
    from studio.voice.audio import load_audio

    long_wav = tmp_path / "long.wav"
    rate, seconds = 8000, 2 * 3600
    header = _wav(0.01, rate)[:44]
    data_bytes = rate * seconds * 2
    header = header[:4] + struct.pack("<I", 36 + data_bytes) + header[8:40] + struct.pack("<I", data_bytes)
    with open(long_wav, "wb") as fh:  # sparse
        fh.write(header)
        fh.truncate(44 + rate * seconds * 2)
    with pytest.raises(InputError, match="minutes"):
        load_audio(long_wav)


@pytest.mark.parametrize(
    "data",
    [
        b"RIFF\xff\xff\xff\xffWAVEfmt " + b"\xff" * 40,
        b"ID3" + b"\xff" * 500,
        b"OggS" + bytes(range(256)) * 4,
        b"\x00" * 4096,
    ],
)
def test_malformed_recording_is_an_input_error(tmp_path, data):
    from studio.voice.audio import load_audio

    bad = tmp_path / "bad.wav"
    bad.write_bytes(data)
    with pytest.raises(InputError):
        load_audio(bad)


def test_avatar_library_refuses_a_non_image_and_saves_nothing(paths, tmp_path, studio):
    from studio.portrait.avatars import AvatarLibrary

    fake = tmp_path / "face.png"
    fake.write_bytes(b"<html>not a photo</html>")
    with pytest.raises(InputError):
        AvatarLibrary(paths, studio=studio).add("me", fake)
    assert [p for p in paths.avatars.iterdir()] == []


def test_voice_library_refuses_a_non_audio_file_and_saves_nothing(paths, tmp_path):
    from studio.voice.profiles import VoiceLibrary

    fake = tmp_path / "voice.wav"
    fake.write_bytes(_png())
    with pytest.raises(StudioError):
        VoiceLibrary(paths).add("me", fake)
    assert [p for p in paths.voices.iterdir()] == []
