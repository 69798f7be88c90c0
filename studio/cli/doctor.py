"""``app.py doctor``: pre-flight checks (ffmpeg, GPU/driver, models, disk)."""

from __future__ import annotations

import argparse
import json


def add_parser(sub) -> None:
    p = sub.add_parser("doctor", help="check that everything the studio needs is in place")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from studio.config import StudioPaths
    from studio.doctor import run_checks

    checks = run_checks(StudioPaths.from_env().ensure())
    if args.json:
        print(json.dumps([c.__dict__ for c in checks], indent=2))
    else:
        for c in checks:
            mark = {True: "ok  ", False: "FAIL", None: "--  "}[c.ok]
            print(f"[{mark}] {c.name:28} {c.detail}")
    failed = [c.name for c in checks if c.ok is False]
    if failed:
        if not args.json:
            print(f"error: {len(failed)} check(s) failed ({', '.join(failed)}): see the lines marked FAIL above")
        return 2
    return 0
