"""``app.py engines list | build | clear``: the cached TensorRT engines (and ONNX exports).

``build`` exports the neural lip-sync model to ONNX and compiles its TensorRT engines for the
preview (batch 1) and export (batch 1..32, best at 16) shape profiles, with a progress bar, so the
first render does not wait minutes. Heavy libraries load only inside ``build``.
"""

from __future__ import annotations

import argparse
import json

from studio.config import StudioPaths
from studio.ops.engines import build, clear, describe_build


def add_parser(sub) -> None:
    p = sub.add_parser("engines", help="list, pre-build or clear the cached GPU engines")
    esub = p.add_subparsers(dest="engines_cmd", required=True, metavar="ACTION")
    ls = esub.add_parser("list", help="cached engines and ONNX exports: folder, size, key")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=list_engines)
    b = esub.add_parser("build", help="export the neural lip-sync model and build its TensorRT engines")
    b.add_argument(
        "--mode",
        choices=("preview", "export", "both"),
        default="both",
        help="shape profile to build: preview (batch 1), export (batch 1-32) or both (default)",
    )
    b.add_argument(
        "--allow-cpu",
        action="store_true",
        help="go on without a GPU provider (only exports the ONNX graphs and checks them on the CPU)",
    )
    b.add_argument(
        "--tiny-random",
        action="store_true",
        help="use a tiny randomly initialised model: a quick check of the tool chain, no download",
    )
    b.set_defaults(func=build_engines)
    c = esub.add_parser("clear", help="delete every cached engine")
    c.add_argument("--all", action="store_true", help="also delete the ONNX exports and avatar preparations")
    c.set_defaults(func=clear_engines)


def list_engines(args: argparse.Namespace) -> int:
    from engines.animate.neural.status import build_state, cache_rows, describe_key, summary

    paths = StudioPaths.from_env()
    rows = cache_rows(paths.engines, paths.cache)
    state = build_state(paths.models, paths.cache, paths.engines, rows)
    if args.json:
        print(json.dumps({"neural": state, "cache": rows}, indent=2))
        return 0
    print(summary(state))
    if not rows:
        print(f"no cached engines in {paths.engines}")
        return 0
    print(f"{'kind':6} {'MB':>9}  {'folder':60} key")
    for r in rows:
        print(f"{r['kind']:6} {r['bytes'] / 1e6:9.1f}  {r['folder']:60} {describe_key(r)}")
    return 0


def clear_engines(args: argparse.Namespace) -> int:
    paths = StudioPaths.from_env()
    count = clear(paths, everything=args.all)
    print(f"removed {count} cached item(s)" + ("" if args.all else " (ONNX exports kept; --all removes them too)"))
    return 0


def build_engines(args: argparse.Namespace) -> int:
    from studio.cli.progress import progress_bar

    modes = ("preview", "export") if args.mode == "both" else (args.mode,)
    results = build(
        StudioPaths.from_env(),
        modes,
        allow_cpu=args.allow_cpu,
        tiny_random=args.tiny_random,
        progress_for=lambda mode: progress_bar(f"{mode:7}"),
    )
    print("\n".join(describe_build(results)))
    return 0
