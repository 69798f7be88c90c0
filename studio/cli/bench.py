"""``app.py bench``: time each stage of a real render; print a table and write JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from studio.config import REPO_ROOT

DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "app-bench.json"


def add_parser(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="time every render stage (TTS, landmarks, animation, encode) on this machine",
        description="Render a ~20 s script in a fresh data folder and time each stage.",
    )
    p.add_argument("--preset", default="512", help="output preset to time: 512 (default), 720p, preview")
    p.add_argument("--short", action="store_true", help="a ~5 s script instead of ~20 s (quick check)")
    p.add_argument("--portrait", type=Path, help="portrait to animate (default: the demo portrait)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON report (default {DEFAULT_OUT})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from studio.ops.benchmark import format_table, run_benchmark
    from studio.storage import atomic_write_json

    report = run_benchmark(
        preset=args.preset,
        short=args.short,
        portrait=args.portrait,
        progress=lambda msg: print(f"bench: {msg}", file=sys.stderr, flush=True),
    )
    print(format_table(report))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out, report.to_dict())
    print(f"wrote {args.out}")
    return 0
