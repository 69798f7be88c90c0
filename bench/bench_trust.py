"""Repeatable renders: the ~20 s benchmark script rendered through the CLI at 512x512.

1. Two fresh renders, each in a new data folder: are the decoded sound samples and the frames
   identical (sha256 of every decoded frame, sha256 of the decoded audio)?
2. A render killed with ``kill -9`` halfway (half of its chunks finished) and run again in the
   same data folder: is the result identical to the fresh render, and how long did the re-run take
   against the faster of the two fresh renders (target <= 60 %)?

    python bench/bench_trust.py          # prints a table, writes bench/results/trust.json

Wall times include starting Python and loading the models (a few seconds), as a user sees them.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_render import fresh_home, killed_halfway, timed_render  # noqa: E402

from studio.ops.benchmark import SCRIPT  # noqa: E402 - the same ~20 s script as `app.py bench`


def fingerprint(path: Path) -> dict:
    """sha256 of the decoded audio samples and of every decoded frame (as an independent reader sees them)."""
    import av

    with av.open(str(path)) as c:
        audio = hashlib.sha256()
        samples = 0
        for f in c.decode(audio=0):
            a = f.to_ndarray()
            audio.update(a.tobytes())
            samples += a.shape[-1]
    with av.open(str(path)) as c:
        frames = [hashlib.sha256(f.to_ndarray(format="rgb24").tobytes()).hexdigest() for f in c.decode(video=0)]
    return {"audio_sha256": audio.hexdigest(), "audio_samples": samples, "frames": len(frames), "frame_hashes": frames}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-trust-") as tmp:
        root = Path(tmp)
        script = root / "script.txt"
        script.write_text(SCRIPT, encoding="utf-8")
        runs = {}
        for name in ("fresh_a", "fresh_b"):
            runs[name] = timed_render(script, root / f"{name}.mp4", fresh_home(root))
            print(f"{name}: {runs[name]['wall_s']} s", flush=True)
        env = fresh_home(root)
        killed = killed_halfway(script, root / "resumed.mp4", env)
        print(f"killed: {killed}", flush=True)
        runs["resumed"] = timed_render(script, root / "resumed.mp4", env)
        prints = {name: fingerprint(root / f"{name}.mp4") for name in runs}
    a = prints["fresh_a"]
    same = {
        name: {
            "audio": prints[name]["audio_sha256"] == a["audio_sha256"],
            "frames": prints[name]["frame_hashes"] == a["frame_hashes"],
        }
        for name in ("fresh_b", "resumed")
    }
    fresh_s = min(runs["fresh_a"]["wall_s"], runs["fresh_b"]["wall_s"])  # the faster fresh render (conservative)
    ratio = runs["resumed"]["wall_s"] / fresh_s
    result = {
        "script_s": runs["fresh_a"]["video_s"],
        "preset": "512",
        "runs": {k: {kk: v for kk, v in r.items() if kk != "timings_ms"} for k, r in runs.items()},
        "killed": killed,
        "identical_to_fresh_a": same,
        "audio_sha256": {k: p["audio_sha256"] for k, p in prints.items()},
        "frames": {k: p["frames"] for k, p in prints.items()},
        "resume_ratio": round(ratio, 3),
        "targets": {"identical": True, "resume_ratio": 0.6},
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
    }
    print(f"{'run':8} {'video s':>8} {'wall s':>7} {'reused':>7} {'same audio':>10} {'same frames':>11}")
    for name, r in runs.items():
        s = same.get(name, {"audio": True, "frames": True})
        print(
            f"{name:8} {r['video_s']:8.2f} {r['wall_s']:7.1f} {r['chunks_reused']:>3}/{r['chunks']:<3} "
            f"{str(s['audio']):>10} {str(s['frames']):>11}"
        )
    print(
        f"killed at {killed['chunks_done']}/{killed['chunks_total']} chunks; the re-run took {ratio:.0%} of the faster "
        f"fresh render (target <= 60%); load average {result['load_average'][0]:.1f} on {result['cpus']} CPUs"
    )
    out = ROOT / "bench" / "results" / "trust.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
