"""The neural lip-sync through the render job, on the CPU with tiny random weights in the released
file layout (``STUDIO_NEURAL_ALLOW_CPU=1`` lets the tiny model run without a GPU): a playable MP4
with subtitles, manifest and lip-sync check, resume, and chunk caches that never mix engines.

Random weights draw noise, not a mouth: these tests check the code paths, never the picture's quality.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import av
import numpy as np
import pytest

from engines.animate.neural.engine import ALLOW_CPU_ENV
from studio.config import DEMO_PORTRAIT, StudioPaths
from studio.errors import CancelledError
from studio.render.pipeline import RenderJob, RenderRequest
from studio.services import Studio
from tests.neural_fixtures import neural_home

pytestmark = pytest.mark.slow
TWO = "[happy] Hello from the neural lip-sync. [neutral] The head still moves and blinks."
FALLBACK = "using the procedural animation instead"


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return neural_home(tmp_path_factory.mktemp("neural_home"))


def studio_for(home: Path, monkeypatch, *, cpu: bool) -> Studio:
    """A fresh studio (as a new process would start) on ``home``; ``cpu`` lets the tiny model run on the CPU."""
    if cpu:
        monkeypatch.setenv(ALLOW_CPU_ENV, "1")
    else:
        monkeypatch.delenv(ALLOW_CPU_ENV, raising=False)
    return Studio(StudioPaths(home))


def render(studio: Studio, out: Path, text: str = TWO, animator: str = "musetalk", **kw):
    request = RenderRequest(
        portrait=DEMO_PORTRAIT, out=out, text=text, preset="preview", animator=animator, subtitles=True
    )
    return RenderJob(studio, request, **kw).run()


def decoded(path: Path) -> tuple[list[np.ndarray], dict]:
    """Every video frame (RGB) and what the container says, read with PyAV (not our encoder)."""
    with av.open(str(path)) as c:
        info = {s.type: s.codec_context.name for s in c.streams}
        info["duration"] = c.duration / 1e6
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    return frames, info


def test_neural_render_makes_a_playable_mp4_with_subtitles_manifest_and_lipsync_check(home, tmp_path, monkeypatch):
    studio = studio_for(home, monkeypatch, cpu=True)
    result = render(studio, tmp_path / "neural.mp4")
    assert not any(FALLBACK in n for n in result.notices), result.notices
    frames, info = decoded(result.video)
    assert info["video"] == "h264" and info["audio"] == "aac"
    assert len(frames) == result.frames and abs(info["duration"] - result.duration) < 0.1
    assert frames[0].shape == (256, 256, 3)
    manifest = json.loads(result.manifest.read_text())
    assert manifest["animator"] == "musetalk" and manifest["chunks"] == {"total": 2, "reused": 0}
    check = manifest["lipsync_check"]
    assert check is not None and check["frames"] == result.frames  # every neural frame was measured
    srt = next(p for p in result.subtitles if p.suffix == ".srt").read_text()
    assert "neural" in srt and "blinks" in srt

    # The same script drawn by the procedural engine: the upper face (the procedural head in both)
    # matches, the lower face (drawn by the random network) does not.
    plain = render(studio, tmp_path / "procedural.mp4", animator="procedural")
    other, _ = decoded(plain.video)
    assert len(other) == len(frames)
    eyes = slice(60, 105)  # rows of the eyes and brows in the 256 preview of the demo portrait
    chin = slice(150, 185)  # rows of the mouth and chin
    upper = np.mean([np.abs(a[eyes].astype(int) - b[eyes].astype(int)).mean() for a, b in zip(frames, other)])
    lower = np.mean([np.abs(a[chin].astype(int) - b[chin].astype(int)).mean() for a, b in zip(frames, other)])
    assert upper < 3.0 and lower > 4 * upper


def test_switching_engines_never_reuses_the_other_engines_chunks(home, tmp_path, monkeypatch):
    text = "One script, three engines. Each keeps its own chunks."
    procedural = render(studio_for(home, monkeypatch, cpu=True), tmp_path / "a.mp4", text, animator="procedural")
    assert procedural.chunks_reused == 0
    neural = render(studio_for(home, monkeypatch, cpu=True), tmp_path / "b.mp4", text)
    assert neural.chunks_reused == 0 and not any(FALLBACK in n for n in neural.notices)
    # Without a GPU (and without the test switch) the engine falls back, says so, and draws new chunks.
    fallback = render(studio_for(home, monkeypatch, cpu=False), tmp_path / "c.mp4", text)
    assert any("far too slow" in n and FALLBACK in n for n in fallback.notices)
    assert fallback.chunks_reused == 0
    # Back on the network: its own chunks are still there, and the fallback's notice is not repeated.
    again = render(studio_for(home, monkeypatch, cpu=True), tmp_path / "d.mp4", text)
    assert again.chunks_reused == again.chunks == 2
    assert not any(FALLBACK in n for n in again.notices)
    assert decoded(again.video)[0][10].tobytes() == decoded(neural.video)[0][10].tobytes()


def test_an_interrupted_neural_render_resumes_from_its_finished_chunks(home, tmp_path, monkeypatch):
    text = "The first part is finished. Then the render stops. The last part comes later."
    studio = studio_for(home, monkeypatch, cpu=True)
    cancel = threading.Event()
    with pytest.raises(CancelledError):
        render(studio, tmp_path / "resumed.mp4", text, cancel=cancel, on_chunk=lambda ready: cancel.set())
    assert not (tmp_path / "resumed.mp4").exists()
    result = render(studio, tmp_path / "resumed.mp4", text)
    assert result.chunks == 3 and result.chunks_reused == 1
    assert any("resuming an interrupted render" in n for n in result.notices)
    frames, _ = decoded(result.video)
    assert len(frames) == result.frames


def test_chunks_drawn_after_a_mid_render_fallback_are_never_served_as_neural_ones(home, tmp_path, monkeypatch):
    text = "The network draws this first part. Then the GPU gives up on the second."
    studio = studio_for(home, monkeypatch, cpu=True)
    engine = studio.animator("musetalk")
    assert engine.ready()
    generate = engine._runner.generate
    first_done = threading.Event()

    def fails_after_the_first_sentence(latents, tokens):
        if first_done.is_set():
            raise RuntimeError("CUDA error: out of memory")
        return generate(latents, tokens)

    monkeypatch.setattr(engine._runner, "generate", fails_after_the_first_sentence)
    broken = render(studio, tmp_path / "broken.mp4", text, on_chunk=lambda ready: first_done.set())
    assert any("failed at frame" in n for n in broken.notices)
    assert len(decoded(broken.video)[0]) == broken.frames  # the render still finishes, procedurally
    # A later render whose network works reuses the neural chunk, and draws the other one again.
    healthy = render(studio_for(home, monkeypatch, cpu=True), tmp_path / "healthy.mp4", text)
    assert healthy.chunks == 2 and healthy.chunks_reused == 1
    assert not any("failed at frame" in n for n in healthy.notices)
