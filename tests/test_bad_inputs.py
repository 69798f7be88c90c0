"""The bad-input set: every bad portrait, recording and script is refused by ``render`` and by its
check command with the same exit status (2 unreadable, 3 rejected) and one ``error:`` line, and
nothing saved before (avatars, projects, exports) changes."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import DEMO_PORTRAIT, with_prepared_models
from PIL import Image

from studio.cli import main

pytestmark = pytest.mark.slow


def _canvas(img: Image.Image, side: int, size: int) -> Image.Image:
    """``img`` shrunk to ``size`` pixels on a plain ``side`` x ``side`` background."""
    canvas = Image.new("RGB", (side, side), (200, 200, 205))
    canvas.paste(img.resize((size, size)), ((side - size) // 2, (side - size) // 3))
    return canvas


@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> Path:
    import soundfile as sf

    d = tmp_path_factory.mktemp("bad-inputs")
    photo = Image.open(DEMO_PORTRAIT).convert("RGB")
    px = np.asarray(photo)
    (d / "notes.png").write_text("this is not an image")
    Image.fromarray(np.tile(np.linspace(0, 255, 512, dtype=np.uint8), (512, 1))).convert("RGB").save(d / "wall.png")
    photo.rotate(45, expand=True, fillcolor=(200, 200, 205)).save(d / "rolled-45.png")
    _canvas(photo, 640, 150).save(d / "tiny-face.png")  # the face is about 30 px wide
    Image.fromarray(np.concatenate([px, px[:, ::-1]], axis=1)).save(d / "two-faces.png")
    Image.fromarray((px * 0.12).astype(np.uint8)).save(d / "dark.png")
    (d / "notes.wav").write_text("this is not a recording")
    sf.write(d / "silence.wav", np.zeros(3 * 16000, np.float32), 16000)
    (d / "empty.txt").write_text("  [happy] [pause 1s]  ", encoding="utf-8")
    (d / "latin1.txt").write_bytes("Caf\xe9 cr\xe8me br\xfbl\xe9e.".encode("latin-1"))
    return d


@pytest.fixture(scope="module")
def home(tmp_path_factory, studio_home_env):
    """A data folder with an avatar, a project and an export saved before the bad inputs arrive."""
    from studio.config import StudioPaths
    from studio.portrait.avatars import AvatarLibrary
    from studio.script.projects import save_project
    from studio.services import Studio

    paths = StudioPaths(studio_home_env)
    AvatarLibrary(paths, studio=Studio(paths)).add("Kept", DEMO_PORTRAIT)
    save_project(paths, "Kept project", "[happy] Saved before.")
    paths.exports.mkdir(parents=True, exist_ok=True)
    (paths.exports / "kept.mp4").write_bytes(b"an earlier export")
    return studio_home_env


@pytest.fixture(scope="module")
def studio_home_env(tmp_path_factory):
    import os

    home = with_prepared_models(tmp_path_factory.mktemp("bad-home") / "home")
    old = os.environ.get("STUDIO_HOME")
    os.environ["STUDIO_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("STUDIO_HOME", None)
    else:
        os.environ["STUDIO_HOME"] = old


def _saved(home: Path) -> dict[str, str]:
    return {
        str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
        for folder in ("avatars", "projects", "voices", "exports")
        for p in sorted((home / folder).rglob("*"))
        if p.is_file()
    }


def _refused(capsys, argv: list[str]) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, (argv, err)
    assert "Traceback" not in err and "unexpected problem" not in errors[0], errors[0]
    return code, errors[0]


# (bad file, render option, check command, expected exit status, words of both error lines, a regex)
CASES = [
    ("notes.png", "--portrait", ["portrait", "check"], 2, "JPEG, PNG or WebP"),
    ("wall.png", "--portrait", ["portrait", "check"], 3, "no face found"),
    ("rolled-45.png", "--portrait", ["portrait", "check"], 3, "tilted"),
    ("tiny-face.png", "--portrait", ["portrait", "check"], 3, "face"),
    ("two-faces.png", "--portrait", ["portrait", "check"], 3, "faces"),
    ("dark.png", "--portrait", ["portrait", "check"], 3, "dark"),
    ("missing.png", "--portrait", ["portrait", "check"], 2, "cannot find"),
    ("notes.wav", "--audio", ["voice", "check"], 2, "not a readable audio file"),
    ("silence.wav", "--audio", ["voice", "check"], 3, "silent|no speech"),
    ("empty.txt", "--script", ["script", "check"], 2, "script is empty"),
    ("latin1.txt", "--script", ["script", "check"], 2, "UTF-8"),
    ("missing.txt", "--script", ["script", "check"], 2, "cannot"),
]


@pytest.mark.parametrize("name,option,check,code,words", CASES, ids=[c[0] for c in CASES])
def test_render_and_its_check_refuse_with_one_error_line_and_change_nothing(
    bad, home, capsys, tmp_path, name, option, check, code, words
):
    before = _saved(home)
    path = str(bad / name)
    inputs = {"--portrait": ["--portrait", str(DEMO_PORTRAIT)], option: [option, path]}
    if option != "--portrait":
        inputs.setdefault("--text", [])
    else:
        inputs["--text"] = ["--text", "Hello there."]
    argv = ["render", *[a for v in inputs.values() for a in v], "--out", str(tmp_path / "out.mp4")]
    render_code, render_error = _refused(capsys, argv)
    check_code, check_error = _refused(capsys, [*check, path])
    assert render_code == check_code == code, (render_error, check_error)
    assert re.search(words, render_error, re.I) and re.search(words, check_error, re.I), (render_error, check_error)
    assert not (tmp_path / "out.mp4").exists()
    assert _saved(home) == before
