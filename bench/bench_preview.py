"""Time from pressing Preview to a playable video on screen, through the real UI in headless Chromium.

    python bench/bench_preview.py [--runs 5]     # writes bench/results/preview.json

Starts the studio on a free port with a throw-away data folder (engines warm up in the background
at start, as for a user), waits for the warm-up, then for each run types a script the TTS cache
has never seen and clicks Preview. Reported per run: seconds until the first ``<video>`` can play
(the first sentence) and until the whole preview is ready. Target: first playable <= 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PLAYABLE = """(prev) => { const v = document.querySelector('#studio-video video');
    return !!(v && v.currentSrc && v.currentSrc !== prev && v.readyState >= 2 && v.duration > 0); }"""
SRC = "document.querySelector('#studio-video video')?.currentSrc || ''"
STATUS = "document.querySelector('#studio-status').innerText"
SCRIPTS = [
    "[happy] Good morning, run {n}! [neutral] This preview shows the first sentence while the rest is rendered.",
    "[neutral] Welcome back for take {n}. Here is a second sentence that streams in behind the first.",
    "[surprised] Take {n} starts now! [neutral] A longer second sentence follows it, at low resolution.",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warm-up-s", type=float, default=20.0, help="seconds to let the engines warm up after start")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    home = Path(
        tempfile.mkdtemp(
            prefix="bench-preview-", dir=ROOT / ".pytest_cache" if (ROOT / ".pytest_cache").exists() else ROOT
        )
    )
    (home / "cache").mkdir(parents=True)
    prepared = ROOT / "studio_data" / "cache" / "models"
    if prepared.is_dir():
        (home / "cache" / "models").symlink_to(prepared, target_is_directory=True)
    port = free_port()
    env = {**os.environ, "STUDIO_HOME": str(home), "GRADIO_ANALYTICS_ENABLED": "False"}
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    rows = []
    try:
        url = f"http://127.0.0.1:{port}/"
        for _ in range(480):
            try:
                if urlopen(url, timeout=2).status == 200:
                    break
            except OSError:
                time.sleep(0.25)
        time.sleep(args.warm_up_s)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(180_000)
            page.goto(url, wait_until="load")
            page.get_by_role("tab", name="Studio").click()
            for n in range(args.runs):
                page.locator("#studio-script textarea").fill(SCRIPTS[n % len(SCRIPTS)].format(n=n + 1))
                before = page.evaluate(SRC)
                t0 = time.perf_counter()
                page.get_by_role("button", name="▶ Preview").click()
                page.wait_for_function(PLAYABLE, arg=before, polling=20)
                first = time.perf_counter() - t0
                first_src = page.evaluate(SRC)
                page.wait_for_function(f"(s) => {STATUS}.includes('Done:') && ({SRC}) !== s", arg=first_src)
                whole = time.perf_counter() - t0
                rows.append({"run": n + 1, "first_playable_s": round(first, 3), "whole_preview_s": round(whole, 3)})
                print(f"run {n + 1}: first playable {first:.2f} s, whole preview {whole:.2f} s", flush=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)
    firsts = [r["first_playable_s"] for r in rows]
    summary = {
        "runs": rows,
        "median_first_playable_s": round(statistics.median(firsts), 3),
        "max_first_playable_s": max(firsts),
        "target_s": 2.0,
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
    }
    print(f"{'run':>4} {'first playable s':>17} {'whole preview s':>16}")
    for r in rows:
        print(f"{r['run']:>4} {r['first_playable_s']:>17.2f} {r['whole_preview_s']:>16.2f}")
    print(
        f"median first playable {summary['median_first_playable_s']:.2f} s (target <= 2 s), "
        f"load average {summary['load_average'][0]:.1f} on {summary['cpus']} CPUs"
    )
    out = ROOT / "bench" / "results" / "preview.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
