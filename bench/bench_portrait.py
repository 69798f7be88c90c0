"""Time `portrait check` on a 12-megapixel photo (target: at most 2 s on this CPU).

The demo portrait's head-and-shoulders part is upscaled to 4000x3000 (12 MP, the face about
700 pixels across) and saved as JPEG and PNG. For each, the in-process check (decode + detect
on a downscaled copy + landmarks at full size + every measurement) is timed a few times after
one warm-up, with the decode and detection shares; then `python app.py portrait check` is timed
end to end once (a fresh process: imports and the dlib model load included). Prints a table and
writes bench/results/portrait.json.

    python bench/bench_portrait.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_S = 2.0
SIZE = (4000, 3000)  # 12 megapixels


def make_photos(folder: Path) -> dict[str, Path]:
    from PIL import Image

    demo = Image.open(ROOT / "assets" / "portrait.png").convert("RGB")
    big = demo.crop((0, 0, 512, 384)).resize(SIZE, Image.Resampling.BICUBIC)
    out = {"jpeg": folder / "portrait-12mp.jpg", "png": folder / "portrait-12mp.png"}
    big.save(out["jpeg"], quality=92)
    big.save(out["png"], compress_level=1)
    return out


def time_in_process(path: Path, face, repeats: int) -> dict:
    from studio.portrait.checks import check_portrait
    from studio.portrait.faces import find_faces
    from studio.portrait.photo import read_photo

    check_portrait(read_photo(path).image, face)  # warm-up (caches, lazy imports)
    totals, decodes, detects, verdict = [], [], [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        photo = read_photo(path)
        t1 = time.perf_counter()
        report = check_portrait(photo.image, face, original_size=photo.original_size, notes=photo.notes)
        t2 = time.perf_counter()
        totals.append(t2 - t0)
        decodes.append(t1 - t0)
        verdict = report.verdict
        t3 = time.perf_counter()
        find_faces(photo.image, face)  # detection + landmark fit alone
        detects.append(time.perf_counter() - t3)
    return {
        "total_s": statistics.median(totals),
        "decode_s": statistics.median(decodes),
        "faces_s": statistics.median(detects),
        "verdict": verdict,
        "runs": len(totals),
        "face_px": report.checks[2].value if report.face is not None else None,
    }


def time_cli(path: Path) -> dict:
    with tempfile.TemporaryDirectory() as home:
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, str(ROOT / "app.py"), "portrait", "check", str(path)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "STUDIO_HOME": home},
        )
        wall = time.perf_counter() - t0
    report = json.loads(proc.stdout) if proc.returncode in (0, 3) else {}
    return {"wall_s": wall, "exit": proc.returncode, "check_s": report.get("seconds")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from engines.face.dlib68 import Dlib68

    face = Dlib68()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, path in make_photos(Path(tmp)).items():
            r = time_in_process(path, face, args.repeats)
            c = time_cli(path)
            rows.append(
                {
                    "format": fmt,
                    "megapixels": SIZE[0] * SIZE[1] / 1e6,
                    "file_mb": path.stat().st_size / 1e6,
                    **r,
                    "cli_wall_s": c["wall_s"],
                    "cli_check_s": c["check_s"],
                    "cli_exit": c["exit"],
                    "meets_target": r["total_s"] <= TARGET_S,
                }
            )

    print(f"portrait check on a {SIZE[0]}x{SIZE[1]} photo (target <= {TARGET_S:.1f} s, median of {args.repeats})")
    print(
        f"{'format':<6} {'file MB':>8} {'decode s':>9} {'faces s':>8} {'check s':>8} {'CLI wall s':>11} "
        f"{'verdict':<22} {'target':<6}"
    )
    for r in rows:
        print(
            f"{r['format']:<6} {r['file_mb']:8.1f} {r['decode_s']:9.2f} {r['faces_s']:8.2f} {r['total_s']:8.2f} "
            f"{r['cli_wall_s']:11.2f} {r['verdict']:<22} {'ok' if r['meets_target'] else 'MISS':<6}"
        )
    out = ROOT / "bench" / "results" / "portrait.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "target_s": TARGET_S,
                "size": SIZE,
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "load_avg": os.getloadavg(),
                "rows": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out.relative_to(ROOT)} (CLI wall time includes Python start-up and loading the dlib model)")
    return 0 if all(r["meets_target"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
