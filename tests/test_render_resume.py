"""A render killed with ``kill -9`` resumes from its finished chunks and gives the same video."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import with_prepared_models

from studio.render.video import probe

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = (
    "[happy] Hello and welcome to the studio. This video is rendered one sentence at a time. "
    "[neutral] Each sentence becomes a chunk on disk. A killed render keeps the chunks it finished. "
    "[surprised] Running it again picks up where it stopped! [neutral] The result has the same length. "
    "Sound and picture stay in sync. Thank you for watching."
)
pytestmark = pytest.mark.slow
SENTENCES = 8


def new_home(root: Path) -> Path:
    return with_prepared_models(root / "home")


def render_cmd(out: Path) -> list[str]:
    return [
        sys.executable,
        str(ROOT / "app.py"),
        "render",
        "--portrait",
        "assets/portrait.png",
        "--text",
        SCRIPT,
        "--out",
        str(out),
    ]


def env_for(home: Path) -> dict[str, str]:
    return {**os.environ, "STUDIO_HOME": str(home), "PYTHONWARNINGS": "ignore"}


def run(out: Path, home: Path) -> dict:
    proc = subprocess.run(render_cmd(out), cwd=ROOT, env=env_for(home), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def chunks_done(home: Path) -> int:
    done = 0
    for manifest in (home / "cache" / "render").glob("*/chunks.json"):
        try:
            done = max(done, int(json.loads(manifest.read_text())["done"]))
        except (OSError, ValueError, KeyError):
            pass
    return done


def frames_of(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="gray").astype(np.int16) for f in c.decode(video=0)]


def sound_of(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])


def streams(path: Path) -> tuple[dict, dict]:
    info = probe(path)
    return (
        next(s for s in info["streams"] if s["type"] == "video"),
        next(s for s in info["streams"] if s["type"] == "audio"),
    )


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    root = tmp_path_factory.mktemp("killed")
    home = new_home(root)
    out = root / "resumed.mp4"
    out.write_bytes(b"the previous export")
    proc = subprocess.Popen(
        render_cmd(out), cwd=ROOT, env=env_for(home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 600
    while chunks_done(home) < 3 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the render finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = chunks_done(home)
    unchanged = out.read_bytes() == b"the previous export"
    summary = run(out, home)
    return out, summary, killed_at, unchanged, home


@pytest.fixture(scope="module")
def fresh(resumed, tmp_path_factory):
    """The same render, uninterrupted, in a new data folder (nothing cached: speech and frames are
    made again, from the same seeds)."""
    root = tmp_path_factory.mktemp("fresh")
    fresh_out = root / "fresh.mp4"
    return fresh_out, run(fresh_out, new_home(root))


def test_kill_9_leaves_the_previous_export_untouched(resumed):
    _, _, killed_at, unchanged, _ = resumed
    assert 3 <= killed_at < SENTENCES
    assert unchanged


def test_rerun_after_kill_9_reuses_the_finished_chunks(resumed):
    out, summary, killed_at, _, _ = resumed
    assert summary["chunks"] == SENTENCES
    assert summary["chunks_reused"] >= killed_at
    manifest = json.loads(out.with_suffix(".json").read_text())
    assert manifest["chunks"] == {"total": SENTENCES, "reused": summary["chunks_reused"]}
    assert any("resuming an interrupted render" in n for n in manifest["notices"])


def test_resumed_video_matches_a_fresh_render_in_length_and_sync(resumed, fresh):
    out, summary, _, _, _ = resumed
    fresh_out, fresh_summary = fresh
    assert fresh_summary["chunks_reused"] == 0
    assert summary["frames"] == fresh_summary["frames"]
    video, audio = streams(out)
    fresh_video, fresh_audio = streams(fresh_out)
    assert video["frames"] == fresh_video["frames"] == summary["frames"]
    assert video["duration"] == pytest.approx(fresh_video["duration"], abs=1e-3)
    assert abs(video["duration"] - audio["duration"]) <= 1 / 25 + 1e-3
    assert audio["duration"] == pytest.approx(fresh_audio["duration"], abs=1 / 25)
    a, b = frames_of(out), frames_of(fresh_out)
    assert len(a) == len(b) == summary["frames"]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))  # the same picture, frame for frame
    assert np.array_equal(sound_of(out), sound_of(fresh_out))  # and the same sound, sample for sample
