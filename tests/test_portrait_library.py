"""Avatars: a checked photo saved with its face crop, cached face data and thumbnail; list,
rename, remove; and the `app.py portrait ...` commands with their exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import DEMO_PORTRAIT
from PIL import Image

from studio.errors import InputError, RejectedError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def library(tmp_path, studio):
    from studio.config import StudioPaths
    from studio.portrait.avatars import AvatarLibrary

    # A fresh data folder, the session's face engine (loaded once).
    return AvatarLibrary(StudioPaths(tmp_path / "home").ensure(), studio=studio)


def test_add_keeps_the_original_and_crops_around_the_face(library):
    avatar = library.add("Anna's avatar", DEMO_PORTRAIT, expand=2.0)
    assert avatar.name == "Anna-s-avatar"
    assert avatar.original_path.read_bytes() == DEMO_PORTRAIT.read_bytes()  # byte-exact for paste-back
    assert avatar.verdict == "usable" and avatar.settings["crop_expand"] == 2.0
    crop = np.asarray(Image.open(avatar.crop_path))
    x0, y0, x1, y1 = avatar.settings["crop_box"]
    assert crop.shape[:2] == (y1 - y0, x1 - x0)
    data = avatar.face_data()
    lm = data["landmarks"]
    # The face sits in the middle of the crop, about 1/expand of its width (room for motion).
    assert abs(lm[:, 0].mean() - crop.shape[1] / 2) < 0.1 * crop.shape[1]
    assert 0.35 < np.ptp(lm[:, 0]) / crop.shape[1] < 0.6
    assert np.allclose(lm + (x0, y0), avatar.landmarks(), atol=1e-3)
    assert data["triangles"].shape[1] == 3 and len(data["triangles"]) > 100
    assert data["face_mask"].shape == crop.shape[:2] and data["mouth_mask"].max() == 255
    thumb = Image.open(avatar.thumbnail)
    assert thumb.size == (256, 256)


def test_larger_expand_gives_more_room(library):
    tight = library.add("tight", DEMO_PORTRAIT, expand=1.4)
    loose = library.add("loose", DEMO_PORTRAIT, expand=3.0)
    w = lambda a: a.settings["crop_box"][2] - a.settings["crop_box"][0]  # noqa: E731
    assert w(loose) / w(tight) == pytest.approx(3.0 / 1.4, rel=0.02)
    with pytest.raises(InputError, match="expand ratio"):
        library.add("silly", DEMO_PORTRAIT, expand=9)


def test_face_cache_is_rebuilt_when_the_photo_changes(library):
    avatar = library.add("cached", DEMO_PORTRAIT)
    first = avatar.face_data()
    assert avatar.face_data()["key"] == first["key"]  # served from the cache
    mirrored = np.ascontiguousarray(np.asarray(Image.open(DEMO_PORTRAIT).convert("RGB"))[:, ::-1])
    Image.fromarray(mirrored).save(avatar.original_path)  # someone replaced the file
    again = avatar.face_data()
    assert again["key"] != first["key"]


def test_rejected_photo_is_not_saved(library, tmp_path):
    dark = tmp_path / "dark.png"
    Image.fromarray((np.asarray(Image.open(DEMO_PORTRAIT).convert("RGB")) * 0.15).astype(np.uint8)).save(dark)
    with pytest.raises(RejectedError, match="too dark"):
        library.add("dark", dark)
    assert library.names() == []
    assert not any(p.name.startswith(".dark") for p in library.root.iterdir())  # no staging left behind


def test_list_rename_remove(library):
    library.add("first", DEMO_PORTRAIT)
    library.add("second", DEMO_PORTRAIT)
    assert {a.name for a in library.list()} == {"first", "second"}
    with pytest.raises(InputError, match="already exists"):
        library.rename("first", "second")
    renamed = library.rename("first", "Best shot")
    assert renamed.name == "Best-shot" and renamed.original_path.is_file()
    assert json.loads((renamed.folder / "avatar.json").read_text())["display_name"] == "Best shot"
    library.remove("second")
    assert library.names() == ["Best-shot"]
    with pytest.raises(InputError, match="no avatar named"):
        library.load("second")
    with pytest.raises(InputError, match="already exists"):
        library.add("Best shot", DEMO_PORTRAIT)


def test_render_finds_avatar_photo(library, studio):
    from studio.render.jobs import portrait_path

    avatar = library.add("for-render", DEMO_PORTRAIT)

    class _S:  # portrait_path only needs .paths
        paths = library.paths

    assert portrait_path(_S(), "for-render", None) == avatar.original_path


# -- command line ---------------------------------------------------------------------------
def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "portrait", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "STUDIO_HOME": str(home), "PYTHONWARNINGS": "ignore"},
        timeout=300,
    )


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    return lines[0]


def test_cli_check_prints_json_and_exit_codes(tmp_path):
    home = tmp_path / "home"
    ok = cli(home, "check", str(DEMO_PORTRAIT))
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert report["verdict"] == "usable" and report["faces_found"] == 1
    assert {c["name"]: c["status"] for c in report["checks"]}["head_pose"] == "ok"

    grad = tmp_path / "gradient.png"
    Image.fromarray(
        np.tile(np.linspace(0, 255, 600, dtype=np.float32)[None, :, None], (400, 1, 3)).astype(np.uint8)
    ).save(grad)
    rejected = cli(home, "check", str(grad))
    assert rejected.returncode == 3
    assert json.loads(rejected.stdout)["verdict"] == "rejected"

    junk = tmp_path / "notes.jpg"
    junk.write_text("not an image")
    bad = cli(home, "check", str(junk))
    assert bad.returncode == 2 and "not a photo" in one_error_line(bad)


def test_cli_add_list_rename_remove(tmp_path):
    home = tmp_path / "home"
    added = cli(home, "add", "Demo", "--image", str(DEMO_PORTRAIT), "--expand", "2.2")
    assert added.returncode == 0, added.stderr
    assert "verdict: usable" in added.stdout and "saved avatar 'Demo'" in added.stdout
    listed = json.loads(cli(home, "list", "--json").stdout)
    assert [a["name"] for a in listed] == ["Demo"] and listed[0]["crop_expand"] == 2.2
    assert cli(home, "rename", "Demo", "Hero").returncode == 0
    assert "Hero" in cli(home, "list").stdout
    again = cli(home, "add", "Hero", "--image", str(DEMO_PORTRAIT))
    assert again.returncode == 2 and "already exists" in one_error_line(again)
    assert cli(home, "remove", "Hero").returncode == 0
    gone = cli(home, "remove", "Hero")
    assert gone.returncode == 2 and "no avatar named" in one_error_line(gone)


def test_cli_add_refuses_a_rejected_photo(tmp_path):
    two = tmp_path / "two.png"
    img = np.asarray(Image.open(DEMO_PORTRAIT).convert("RGB"))
    Image.fromarray(np.concatenate([img, img[:, ::-1]], axis=1)).save(two)
    proc = cli(tmp_path / "home", "add", "pair", "--image", str(two))
    assert proc.returncode == 3 and "2 faces found" in one_error_line(proc)
    assert "[FAIL] One face" in proc.stdout


def test_cli_add_refuses_an_out_of_range_expand_before_checking_the_photo(tmp_path):
    home = tmp_path / "home"
    assert cli(home, "add", "Kept", "--image", str(DEMO_PORTRAIT)).returncode == 0
    proc = cli(home, "add", "Wide", "--image", str(DEMO_PORTRAIT), "--expand", "9")
    assert proc.returncode == 2 and "expand ratio 9 is out of range" in one_error_line(proc)
    assert "verdict:" not in proc.stdout  # refused at once, not after the face check
    assert [a["name"] for a in json.loads(cli(home, "list", "--json").stdout)] == ["Kept"]
