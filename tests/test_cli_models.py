"""`app.py models` and `doctor`: listing, refusals with one clear error line, pre-flight checks."""

from __future__ import annotations

import json
import os

import pytest

from studio.errors import InputError
from tests.test_cli_render import assert_one_error_line, cli


def test_models_list_shows_every_registry_entry_with_its_license():
    proc = cli("models", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert {"piper-joe-medium", "dlib-68-landmarks", "whisper-base", "xtts-v2"} <= set(rows)
    assert all(r["license"] for r in rows.values())
    assert rows["piper-joe-medium"]["state"] == "ready"
    assert rows["xtts-v2"]["verified_with_real_weights"] is False


def test_fetching_an_unknown_model_gives_one_error_line():
    assert_one_error_line(cli("models", "fetch", "no-such-model"), 2, "unknown model")


def test_licensed_model_is_not_downloaded_before_the_license_is_accepted():
    proc = cli("models", "fetch", "xtts-v2")
    assert_one_error_line(proc, 2, "accept")
    folder = os.path.join(os.environ["STUDIO_HOME"], "cache", "models", "xtts-v2")
    assert not os.path.exists(os.path.join(folder, ".complete"))


def test_doctor_reports_ffmpeg_and_the_embedded_models():
    proc = cli("doctor", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    checks = {c["name"]: c for c in json.loads(proc.stdout)}
    assert checks["ffmpeg"]["ok"] is True
    assert checks["model piper-joe-medium"]["ok"] is True


def test_fetching_the_neural_lipsync_also_fetches_the_models_it_needs(tmp_path, monkeypatch):
    from studio import models
    from studio.config import StudioPaths

    paths = StudioPaths(tmp_path / "home").ensure()
    fetched = []

    def fake_download(url, folder, fname, sha, unpack, progress):
        fetched.append((folder.name, fname))
        (folder / fname).parent.mkdir(parents=True, exist_ok=True)
        (folder / fname).write_bytes(b"x")

    monkeypatch.setattr(models, "_download", fake_download)
    with pytest.raises(InputError, match="accept"):  # the license first, before any download
        models.fetch("musetalk-1.5", paths)
    assert fetched == []
    models.fetch("musetalk-1.5", paths, accept_license=True)
    owners = [folder for folder, _ in fetched]
    assert {"sd-vae-ft-mse", "whisper-tiny"} <= set(owners)
    assert owners.index("musetalk-1.5") > max(owners.index("sd-vae-ft-mse"), owners.index("whisper-tiny"))
