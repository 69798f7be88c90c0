"""``app.py models list | fetch NAME | verify``."""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(sub) -> None:
    p = sub.add_parser("models", help="list, download and verify models")
    msub = p.add_subparsers(dest="models_cmd", required=True, metavar="ACTION")
    ls = msub.add_parser("list", help="every model with its role, license, size and state")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=list_models)
    f = msub.add_parser("fetch", help="download (or unpack) a model into the cache")
    f.add_argument("name")
    f.add_argument("--accept-license", action="store_true", help="accept the model's license terms")
    f.set_defaults(func=fetch_model)
    v = msub.add_parser("verify", help="check every installed model file against its sha256")
    v.set_defaults(func=verify_models)
    pr = msub.add_parser("prepare", help="join the bundled model parts into the cache (run by launch.sh)")
    pr.set_defaults(func=prepare_models)


def list_models(args: argparse.Namespace) -> int:
    from studio import models
    from studio.config import StudioPaths

    paths = StudioPaths.from_env()
    rows = []
    for entry in models.catalog().values():
        st = models.status(entry, paths)
        rows.append(
            {
                "name": entry.name,
                "role": entry.role,
                "state": st.state,
                "size_mb": entry.size_mb,
                "license": entry.license,
                "embedded": entry.embedded,
                "verified_with_real_weights": entry.verified_with_real_weights,
                "sources": [s["kind"] for s in entry.sources],
                "detail": st.detail,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'model':32} {'role':8} {'state':9} {'MB':>7}  license")
    for r in rows:
        flag = "" if r["verified_with_real_weights"] else "  [code path tested with random weights only]"
        print(f"{r['name']:32} {r['role']:8} {r['state']:9} {r['size_mb']:7.1f}  {r['license']}{flag}")
    return 0


def fetch_model(args: argparse.Namespace) -> int:
    from studio import models
    from studio.cli.progress import progress_bar
    from studio.config import StudioPaths

    with progress_bar(args.name) as progress:
        path = models.fetch(
            args.name, StudioPaths.from_env().ensure(), accept_license=args.accept_license, progress=progress
        )
    print(path)
    return 0


def verify_models(args: argparse.Namespace) -> int:
    from studio import models
    from studio.config import StudioPaths

    rows = models.verify(StudioPaths.from_env().ensure())
    bad = 0
    for r in rows:
        mark = {True: "ok", False: "BAD", None: "-"}[r["ok"]]
        bad += r["ok"] is False
        print(f"{r['name']:32} {r['state']:9} {mark:4} {r['detail']}")
    if bad:
        print(
            f"error: {bad} model(s) failed their checksum: run ./launch.sh again or `python app.py models fetch NAME`",
            file=sys.stderr,
        )
        return 2
    return 0


def prepare_models(args: argparse.Namespace) -> int:
    """Join every bundled multi-part model once (sha256-checked); quiet when nothing to do."""
    from studio import models
    from studio.cli.progress import progress_bar
    from studio.config import StudioPaths

    paths = StudioPaths.from_env().ensure()
    for entry in models.catalog().values():
        if models.status(entry, paths).state != "assemble":
            continue
        with progress_bar(f"unpacking {entry.name}") as progress:
            models.assemble(entry, paths, progress)
    return 0
