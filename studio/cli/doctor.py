"""``app.py doctor``: pre-flight checks (ffmpeg, disk, GPU and driver, models and checksums, engine cache)."""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(sub) -> None:
    p = sub.add_parser("doctor", help="check that everything the studio needs is in place")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--quick", action="store_true", help="skip the model checksums (hashing takes a few seconds)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from studio.config import StudioPaths
    from studio.ops.doctor import run_checks

    checks = run_checks(StudioPaths.from_env().ensure(), checksums=not args.quick)
    if args.json:
        print(json.dumps([c.__dict__ for c in checks], indent=2))
    else:
        width = max(len(c.name) for c in checks)
        for c in checks:
            mark = {True: "ok  ", False: "FAIL", None: "--  "}[c.ok]
            print(f"[{mark}] {c.name:{width}}  {c.detail}")
    failed = [c.name for c in checks if c.ok is False]
    if failed:
        if not args.json:
            print(
                f"error: {len(failed)} check(s) failed ({', '.join(failed)}): see the lines marked FAIL above",
                file=sys.stderr,
            )
        return 2
    return 0
