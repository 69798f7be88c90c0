"""The Studio tab with the neural lip-sync chosen, in headless Chromium: the preview plays its first
sentence as soon as that chunk exists, and an export finishes through the queue with the network
drawing the frames (tiny random weights on the CPU, ``STUDIO_NEURAL_ALLOW_CPU=1``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engines.animate.neural.engine import ALLOW_CPU_ENV
from tests.neural_fixtures import neural_home
from tests.test_ui_browser import CHROMIUM, FIRST_PLAYABLE_JS, opened_page, running_studio

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (.ci/run installs it)"),
]


@pytest.fixture(scope="module")
def studio_url(tmp_path_factory):
    home = neural_home(tmp_path_factory.mktemp("neural_ui_home"))
    env = {"STUDIO_HOME": str(home), ALLOW_CPU_ENV: "1"}
    with running_studio(home / "server.log", env) as url:
        yield url, home


@pytest.fixture(scope="module")
def page(studio_url):
    with opened_page(studio_url[0]) as pg:
        pg.get_by_role("tab", name="Studio").click()
        if not pg.locator("#studio-animator").is_visible():
            pg.get_by_text("Advanced animation").click()
        pg.locator("#studio-animator input").click()
        pg.get_by_role("option", name="Neural lip-sync", exact=False).click()
        yield pg


def _shots(tmp_path_factory) -> Path:
    shots = Path(os.environ.get("UI_SCREENSHOTS") or tmp_path_factory.mktemp("neural_shots"))
    shots.mkdir(parents=True, exist_ok=True)
    return shots


def test_neural_preview_plays_the_first_sentence_before_the_rest(page, tmp_path_factory):
    page.locator("#studio-script textarea").fill(
        "[happy] The first sentence plays at once. [neutral] The rest follows it, one sentence at a time."
    )
    page.get_by_role("button", name="▶ Preview").click()
    page.wait_for_function(FIRST_PLAYABLE_JS, timeout=300_000, polling=100)
    first = page.evaluate("document.querySelector('#studio-video video').duration")
    page.screenshot(path=str(_shots(tmp_path_factory) / "neural-preview-first.png"), full_page=True)
    page.get_by_text("Done:").first.wait_for(timeout=300_000)
    page.wait_for_function(FIRST_PLAYABLE_JS, timeout=60_000)
    whole = page.evaluate("document.querySelector('#studio-video video').duration")
    assert whole > first + 1.0  # the first update was the first sentence alone


def test_neural_export_from_the_studio_tab_is_drawn_by_the_network(page, studio_url, tmp_path_factory):
    page.locator("#studio-script textarea").fill("Exported with the neural lip-sync. Two sentences.")
    page.get_by_role("button", name="⬇ Export video").click()
    page.wait_for_function(
        "document.querySelector('#export-queue').innerText.includes('done in')", timeout=600_000, polling=500
    )
    page.screenshot(path=str(_shots(tmp_path_factory) / "neural-export-done.png"), full_page=True)
    manifest = max((studio_url[1] / "exports").glob("*.json"), key=lambda p: p.stat().st_mtime)
    data = json.loads(manifest.read_text())
    assert data["animator"] == "musetalk" and data["chunks"]["total"] == 2
    assert not any("procedural animation instead" in n for n in data["notices"]), data["notices"]
    assert data["lipsync_check"]["frames"] == data["frames"]
    assert (manifest.with_suffix(".mp4")).stat().st_size > 10_000
