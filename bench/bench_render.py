"""Render a ~20 s script at 512x512 and 1280x720 on the CPU; print per-stage ms and real-time factor.

    python bench/bench_render.py            # writes bench/results/render.json

The first pass warms the caches (models loaded, TTS cached is NOT reused: each size renders the
script fresh with a new data folder), so the numbers are a cold-ish render in a warm process.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SCRIPT = ("[happy] Hello and welcome to Avatar Studio! Today I will show you how a single photo becomes a talking "
          "video. [pause 0.4s] [neutral] First, record about a minute of your voice. Then upload a clear portrait, "
          "and write what you want to say. [surprised] It all runs on your own computer! [neutral] When you are "
          "happy with the preview, export the video and share it.")


def main() -> None:
    from studio.config import DEMO_PORTRAIT, StudioPaths
    from studio.render import RenderJob, RenderRequest
    from studio.services import Studio

    rows = []
    for preset in ("512", "720p"):
        with tempfile.TemporaryDirectory() as home:
            studio = Studio(StudioPaths(Path(home)))
            out = Path(home) / f"bench-{preset}.mp4"
            t = time.perf_counter()
            result = RenderJob(studio, RenderRequest(portrait=DEMO_PORTRAIT, out=out, text=SCRIPT, preset=preset)).run()
            wall = time.perf_counter() - t
            rows.append({"preset": preset, "audio_s": round(result.duration, 2), "wall_s": round(wall, 2),
                         "rtf": round(wall / result.duration, 3), "frames": result.frames, **result.timings_ms,
                         "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)})
    stages = [k for k in rows[0] if k not in ("preset", "audio_s", "wall_s", "rtf", "frames", "peak_rss_mb")]
    print(f"{'preset':7} {'audio s':>7} {'wall s':>7} {'RTF':>6} " + " ".join(f"{s + ' ms':>12}" for s in stages) + f" {'peak MB':>8}")
    for r in rows:
        print(f"{r['preset']:7} {r['audio_s']:7.2f} {r['wall_s']:7.2f} {r['rtf']:6.3f} "
              + " ".join(f"{r.get(s, 0):12.0f}" for s in stages) + f" {r['peak_rss_mb']:8.0f}")
    out = ROOT / "bench" / "results" / "render.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
