"""The background render queue: jobs run in order with progress, time left and cancel."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import with_prepared_models

from studio.config import DEMO_PORTRAIT, StudioPaths
from studio.render.pipeline import RenderRequest
from studio.render.queue import RenderQueue
from studio.render.video import probe
from studio.services import Studio

pytestmark = pytest.mark.slow
LONG = " ".join(f"This is sentence number {n} of a longer script, spoken slowly and clearly." for n in range(1, 9))


@pytest.fixture(scope="module")
def queue(tmp_path_factory):
    return RenderQueue(Studio(StudioPaths(with_prepared_models(tmp_path_factory.mktemp("queue_home")))))


def request(out: Path, text: str, preset: str = "preview") -> RenderRequest:
    return RenderRequest(portrait=DEMO_PORTRAIT, out=out, text=text, preset=preset, subtitles=True)


def streams(path: Path) -> tuple[dict, dict]:
    info = probe(path)
    return (
        next(s for s in info["streams"] if s["type"] == "video"),
        next(s for s in info["streams"] if s["type"] == "audio"),
    )


def test_two_queued_renders_both_finish_correctly(queue, tmp_path):
    first = queue.submit(request(tmp_path / "one.mp4", "[happy] The first video in the queue. It has two sentences."))
    second = queue.submit(request(tmp_path / "two.mp4", "[sad] The second video waits for the first one."))
    assert second.state == "queued"  # one render at a time
    assert queue.wait(first.id, timeout=300).state == "done", first.error
    assert queue.wait(second.id, timeout=300).state == "done", second.error
    assert second.started >= first.finished - 0.05  # in order, not at the same time
    for job, words in ((first, "first video"), (second, "second video")):
        video, audio = streams(job.result.video)
        assert video["frames"] == job.result.frames
        assert abs(video["duration"] - audio["duration"]) <= 1 / 25 + 1e-3
        assert words in job.result.video.with_suffix(".srt").read_text()


def test_running_render_reports_progress_and_time_left(queue, tmp_path):
    job = queue.submit(request(tmp_path / "long.mp4", LONG, preset="512"))
    seen: list[tuple[float, float | None, str]] = []
    deadline = time.time() + 300
    while not job.is_finished and time.time() < deadline:
        if job.state == "running":
            seen.append((job.fraction, job.eta_s(), job.describe()))
        time.sleep(0.2)
    assert job.state == "done", job.error
    fractions = [f for f, _, _ in seen]
    assert fractions == sorted(fractions) and len(set(fractions)) >= 3  # progress moves forward
    etas = [e for _, e, _ in seen if e is not None]
    assert etas and max(etas) > 0
    assert any("left" in line and "%" in line for _, _, line in seen)


def test_cancel_a_queued_and_a_running_render(queue, tmp_path):
    running = queue.submit(request(tmp_path / "a.mp4", LONG.replace("slowly", "calmly"), preset="512"))
    waiting = queue.submit(request(tmp_path / "b.mp4", "This one never starts."))
    assert queue.cancel(waiting.id)
    assert waiting.state == "cancelled"
    deadline = time.time() + 120
    while running.state != "running" and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    assert queue.cancel(running.id)
    assert queue.wait(running.id, timeout=60).state == "cancelled"
    assert not (tmp_path / "a.mp4").exists() and not (tmp_path / "b.mp4").exists()
    after = queue.submit(request(tmp_path / "c.mp4", "The queue keeps working after a cancel."))
    assert queue.wait(after.id, timeout=300).state == "done"


def test_bad_request_fails_with_one_plain_line_and_the_queue_goes_on(queue, tmp_path):
    bad = queue.submit(request(tmp_path / "bad.mp4", "   [happy]   "))
    assert queue.wait(bad.id, timeout=60).state == "failed"
    assert "script is empty" in bad.error and "\n" not in bad.error
    good = queue.submit(request(tmp_path / "good.mp4", "Still working."))
    assert queue.wait(good.id, timeout=300).state == "done"
