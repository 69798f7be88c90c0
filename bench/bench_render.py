"""Render a ~20 s script at 512x512 and 1280x720 on the CPU; print per-stage ms and real-time factor.
Then a long script at 512x512 through the CLI (fresh data folder): wall time, RTF and peak memory,
and a run killed with ``kill -9`` halfway and resumed: the resumed run's time against the fresh one.

    python bench/bench_render.py                      # writes bench/results/render.json
    python bench/bench_render.py --minutes 10         # long part: bench/results/render_long.json
    python bench/bench_render.py --skip-short --minutes 2

The first pass warms the caches (models loaded, TTS cached is NOT reused: each size renders the
script fresh with a new data folder), so the numbers are a cold-ish render in a warm process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from studio.ops.benchmark import SCRIPT  # noqa: E402 - the same ~20 s script as `app.py bench`


def short_bench() -> None:
    from studio.config import DEMO_PORTRAIT, StudioPaths
    from studio.render.pipeline import RenderJob, RenderRequest
    from studio.services import Studio

    rows = []
    for preset in ("512", "720p"):
        with tempfile.TemporaryDirectory() as home:
            studio = Studio(StudioPaths(Path(home)))
            out = Path(home) / f"bench-{preset}.mp4"
            t = time.perf_counter()
            result = RenderJob(studio, RenderRequest(portrait=DEMO_PORTRAIT, out=out, text=SCRIPT, preset=preset)).run()
            wall = time.perf_counter() - t
            rows.append(
                {
                    "preset": preset,
                    "audio_s": round(result.duration, 2),
                    "wall_s": round(wall, 2),
                    "rtf": round(wall / result.duration, 3),
                    "frames": result.frames,
                    **result.timings_ms,
                    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                }
            )
    stages = [k for k in rows[0] if k not in ("preset", "audio_s", "wall_s", "rtf", "frames", "peak_rss_mb")]
    print(
        f"{'preset':7} {'audio s':>7} {'wall s':>7} {'RTF':>6} "
        + " ".join(f"{s + ' ms':>12}" for s in stages)
        + f" {'peak MB':>8}"
    )
    for r in rows:
        print(
            f"{r['preset']:7} {r['audio_s']:7.2f} {r['wall_s']:7.2f} {r['rtf']:6.3f} "
            + " ".join(f"{r.get(s, 0):12.0f}" for s in stages)
            + f" {r['peak_rss_mb']:8.0f}"
        )
    out = ROOT / "bench" / "results" / "render.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))


# --- the long script -------------------------------------------------------------------------

TOPICS = [
    "the morning light",
    "a quiet harbour",
    "the city at night",
    "an old library",
    "a mountain path",
    "the village market",
    "a summer storm",
    "the river delta",
    "a winter garden",
    "the night train",
]
MOODS = ["[neutral]", "[happy]", "[neutral]", "[surprised]", "[neutral]", "[sad]"]


def long_script(minutes: float) -> str:
    """About ``minutes`` of speech (Piper speaks ~4.2 of these words per second), every sentence different."""
    words_needed = minutes * 60 * 4.2
    sentences, words, k = [], 0, 0
    while words < words_needed:
        topic = TOPICS[k % len(TOPICS)]
        s = (
            f"{MOODS[k % len(MOODS)]} Part {k + 1} is about {topic}, and it takes a little while to describe "
            f"what makes it worth a visit."
        )
        sentences.append(s)
        words += len(s.split()) - 1
        k += 1
    return " ".join(sentences)


# Runs the CLI in a child process and reports its peak memory on the last line of stderr: the
# renderer's own, and the largest child it waited for. The child figure counts the renderer's pages
# copied at fork time (before ffmpeg starts), so it is an upper bound; ffmpeg itself stays < 100 MB.
RUNNER = (
    "import resource, runpy, sys\n"
    "sys.argv = ['app.py'] + sys.argv[1:]\n"
    "try:\n    runpy.run_path('app.py', run_name='__main__')\n"
    "finally:\n    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "    print(f'PEAK_KB {s.ru_maxrss} {c.ru_maxrss}', file=sys.stderr)\n"
)


def fresh_home(root: Path) -> dict[str, str]:
    home = Path(tempfile.mkdtemp(prefix="bench-home-", dir=root))
    (home / "cache").mkdir()
    prepared = ROOT / "studio_data" / "cache" / "models"
    if prepared.is_dir():
        (home / "cache" / "models").symlink_to(prepared, target_is_directory=True)
    return {**os.environ, "STUDIO_HOME": str(home), "PYTHONWARNINGS": "ignore"}


def cli_args(script: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        "-c",
        RUNNER,
        "render",
        "--portrait",
        "assets/portrait.png",
        "--script",
        str(script),
        "--preset",
        "512",
        "--out",
        str(out),
    ]


def timed_render(script: Path, out: Path, env: dict[str, str]) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run(cli_args(script, out), cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"render failed: {proc.stderr[-2000:]}")
    summary = json.loads(proc.stdout)
    peak = [ln for ln in proc.stderr.splitlines() if ln.startswith("PEAK_KB")][-1].split()
    return {
        "wall_s": round(wall, 1),
        "video_s": summary["duration_s"],
        "frames": summary["frames"],
        "rtf": round(wall / summary["duration_s"], 3),
        "chunks": summary["chunks"],
        "chunks_reused": summary["chunks_reused"],
        "peak_rss_mb": round(int(peak[1]) / 1024, 1),
        "peak_ffmpeg_rss_mb": round(int(peak[2]) / 1024, 1),
        "timings_ms": summary["timings_ms"],
    }


def chunks_done(env: dict[str, str]) -> tuple[int, int]:
    best = (0, 0)
    for manifest in (Path(env["STUDIO_HOME"]) / "cache" / "render").glob("*/chunks.json"):
        try:
            d = json.loads(manifest.read_text())
            best = max(best, (int(d["done"]), int(d["total"])))
        except (OSError, ValueError, KeyError):
            pass
    return best


def killed_halfway(script: Path, out: Path, env: dict[str, str]) -> dict:
    """Render ``script`` through the CLI and ``kill -9`` it once half its chunks are done."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cli_args(script, out), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    while proc.poll() is None:
        done, total = chunks_done(env)
        if total and done >= total / 2:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait()
    done, total = chunks_done(env)
    return {"wall_s": round(time.perf_counter() - t0, 1), "chunks_done": done, "chunks_total": total}


def long_bench(minutes: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-long-") as tmp:
        root = Path(tmp)
        script = root / "script.txt"
        script.write_text(long_script(minutes), encoding="utf-8")
        print(f"long script: {minutes} min target, {len(script.read_text().split())} words", flush=True)
        fresh = timed_render(script, root / "fresh.mp4", fresh_home(root))
        print(f"fresh: {fresh}", flush=True)

        env = fresh_home(root)
        killed = killed_halfway(script, root / "resumed.mp4", env)
        resumed = timed_render(script, root / "resumed.mp4", env)
        print(f"killed: {killed}\nresumed: {resumed}", flush=True)
    result = {
        "minutes_target": minutes,
        "preset": "512",
        "fresh": fresh,
        "killed_at": killed,
        "resumed": resumed,
        "resume_ratio": round(resumed["wall_s"] / fresh["wall_s"], 3),
        "same_frames": resumed["frames"] == fresh["frames"],
        "targets": {"rtf": 1.0, "peak_rss_mb": 3072, "resume_ratio": 0.6},
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
    }
    print(f"{'run':8} {'video s':>8} {'wall s':>8} {'RTF':>6} {'peak MB':>8} {'ffmpeg MB':>9} {'reused':>7}")
    for name, r in (("fresh", fresh), ("resumed", resumed)):
        print(
            f"{name:8} {r['video_s']:8.1f} {r['wall_s']:8.1f} {r['rtf']:6.3f} {r['peak_rss_mb']:8.0f} "
            f"{r['peak_ffmpeg_rss_mb']:9.0f} {r['chunks_reused']:>3}/{r['chunks']:<3}"
        )
    print(
        f"resume after kill -9 at {killed['chunks_done']} chunks: {result['resume_ratio']:.0%} of a fresh run "
        f"(target <= 60%); load average {result['load_average'][0]:.1f} on {result['cpus']} CPUs"
    )
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description="render benchmarks")
    ap.add_argument("--minutes", type=float, default=0.0, help="also render a script this long (fresh and resumed)")
    ap.add_argument("--skip-short", action="store_true", help="skip the 20 s script at 512 and 720p")
    args = ap.parse_args()
    if not args.skip_short:
        short_bench()
    if args.minutes > 0:
        result = long_bench(args.minutes)
        out = ROOT / "bench" / "results" / "render_long.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
