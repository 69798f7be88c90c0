"""The studio UI as a person sees it: headless Chromium opens it, switches tabs, takes screenshots."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
def _built_tabs() -> list[str]:
    import importlib.util

    from studio.ui.app import TABS as ALL

    return [label for module, label in ALL if importlib.util.find_spec(f"studio.ui.{module}")]


TABS = _built_tabs()

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (.ci/run installs it)")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("ui") / "server.log"
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], cwd=ROOT,
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if urlopen(url, timeout=2).status == 200:
                break
        except OSError:
            time.sleep(0.5)
        if proc.poll() is not None:
            pytest.fail(f"the studio exited: {log.read_text()[-2000:]}")
    else:
        proc.kill()
        pytest.fail(f"the studio did not start in 120 s: {log.read_text()[-2000:]}")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"])
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.set_default_timeout(120_000)
        pg.goto(server, wait_until="load")
        pg.get_by_role("tab", name="Studio").wait_for()
        yield pg
        browser.close()


def test_server_listens_on_localhost_only(server):
    assert server.startswith("http://127.0.0.1:")


def test_every_tab_opens_and_is_screenshotted(page, tmp_path_factory):
    assert {"Voice", "Script", "Studio", "Models & Engines"} <= set(TABS)
    shots = Path(os.environ.get("UI_SCREENSHOTS", tmp_path_factory.mktemp("shots")))
    shots.mkdir(parents=True, exist_ok=True)
    for tab in TABS:
        page.get_by_role("tab", name=tab).click()
        page.wait_for_timeout(400)
        path = shots / f"tab-{tab.split()[0].lower()}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000
    page.get_by_role("tab", name="Models & Engines").click()
    assert page.get_by_text("piper-joe-medium").first.is_visible()


def test_preview_renders_a_playable_video_in_the_studio_tab(page, tmp_path_factory):
    page.get_by_role("tab", name="Studio").click()
    page.get_by_role("button", name="▶ Preview first sentence").click()
    page.wait_for_selector("video", timeout=180_000)
    page.wait_for_function("document.querySelector('video') && document.querySelector('video').readyState >= 2",
                           timeout=60_000)
    assert page.get_by_text("Done:").first.is_visible()
    shots = Path(os.environ.get("UI_SCREENSHOTS", tmp_path_factory.mktemp("shots2")))
    page.screenshot(path=str(shots / "studio-preview.png"), full_page=True)
