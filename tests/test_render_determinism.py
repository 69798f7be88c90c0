"""Same inputs and settings, same video: two fresh data folders give identical decoded sound and
frames (Piper's noise is seeded per sentence from its content); another take differs on purpose."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import with_prepared_models

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = "[happy] Hello and welcome. [pause 0.2s] [neutral] The same script gives the same video. Every time."
pytestmark = pytest.mark.slow


def render(root: Path, *extra: str) -> tuple[Path, dict]:
    home = with_prepared_models(root / "home")
    out = root / "out.mp4"
    args = ["render", "--portrait", "assets/portrait.png", "--text", SCRIPT, "--preset", "preview", "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), *args, *extra],
        cwd=ROOT,
        env={**os.environ, "STUDIO_HOME": str(home), "PYTHONWARNINGS": "ignore"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return out, json.loads(proc.stdout)


def decoded(path: Path) -> tuple[np.ndarray, list[str]]:
    """The decoded sound (all samples) and one sha256 per decoded frame."""
    with av.open(str(path)) as c:
        sound = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
    with av.open(str(path)) as c:
        frames = [hashlib.sha256(f.to_ndarray(format="rgb24").tobytes()).hexdigest() for f in c.decode(video=0)]
    return sound, frames


@pytest.fixture(scope="module")
def renders(tmp_path_factory):
    first = render(tmp_path_factory.mktemp("first"))
    second = render(tmp_path_factory.mktemp("second"))
    other = render(tmp_path_factory.mktemp("take"), "--take", "7")
    return first, second, other


def test_two_fresh_data_folders_give_the_same_samples_and_frames(renders):
    (a, sa), (b, sb), _ = renders
    assert sa["chunks_reused"] == sb["chunks_reused"] == 0  # both rendered from nothing
    sound_a, frames_a = decoded(a)
    sound_b, frames_b = decoded(b)
    assert len(frames_a) == sa["frames"] > 25
    assert np.array_equal(sound_a, sound_b)
    assert frames_a == frames_b


def test_another_take_changes_the_voice_and_the_motion(renders):
    (a, _), _, (c, sc) = renders
    assert sc["take"] == 7
    sound_a, frames_a = decoded(a)
    sound_c, frames_c = decoded(c)
    n = min(len(sound_a), len(sound_c))
    assert len(sound_a) != len(sound_c) or not np.array_equal(sound_a[:n], sound_c[:n])
    assert frames_a != frames_c
    assert json.loads(c.with_suffix(".json").read_text())["take"] == 7
