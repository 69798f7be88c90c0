"""``app.py engines list | build | clear``: the cached TensorRT engines (and ONNX exports).

``build`` exports the neural lip-sync model to ONNX and compiles its TensorRT engines for the
preview (batch 1) and export (batch 1..32, best at 16) shape profiles, with a progress bar, so the
first render does not wait minutes. Heavy libraries load only inside ``build``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
from typing import Any, Callable

from studio.config import StudioPaths
from studio.errors import InputError


def add_parser(sub) -> None:
    p = sub.add_parser("engines", help="list, pre-build or clear the cached GPU engines")
    esub = p.add_subparsers(dest="engines_cmd", required=True, metavar="ACTION")
    ls = esub.add_parser("list", help="cached engines and ONNX exports: folder, size, key")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=list_engines)
    b = esub.add_parser("build", help="export the neural lip-sync model and build its TensorRT engines")
    b.add_argument("--mode", choices=("preview", "export", "both"), default="both",
                   help="shape profile to build: preview (batch 1), export (batch 1-32) or both (default)")
    b.add_argument("--allow-cpu", action="store_true",
                   help="go on without a GPU provider (only exports the ONNX graphs and checks them on the CPU)")
    b.add_argument("--tiny-random", action="store_true",
                   help="use a tiny randomly initialised model: a quick check of the tool chain, no download")
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


def clear(paths: StudioPaths, everything: bool = False) -> int:
    """Delete the cached engines (and with ``everything`` the ONNX exports and avatar preparations).

    Returns how many folders or files were removed.
    """
    from engines.animate.neural.status import avatars_root, onnx_root
    from engines.runtime.session import EngineCache

    count = EngineCache(paths.engines).clear()
    if everything:
        for folder in (onnx_root(paths.cache), avatars_root(paths.cache)):
            if folder.is_dir():
                count += sum(1 for _ in folder.iterdir())
                shutil.rmtree(folder, ignore_errors=True)
    return count


def clear_engines(args: argparse.Namespace) -> int:
    paths = StudioPaths.from_env()
    count = clear(paths, everything=args.all)
    print(f"removed {count} cached item(s)" + ("" if args.all else " (ONNX exports kept; --all removes them too)"))
    return 0


def build(paths: StudioPaths, modes: tuple[str, ...] = ("preview", "export"), *, allow_cpu: bool = False,
          tiny_random: bool = False, progress_for: Callable[[str], Any] | None = None) -> list[dict[str, Any]]:
    """Export the neural lip-sync to ONNX and build its TensorRT engines for ``modes`` (CLI and UI).

    ``progress_for(mode)`` returns a context manager yielding a ``progress(fraction, message)``
    callback. Returns one dict per mode (provider, batch sizes, notices); raises InputError with
    what to do when the weights or a GPU provider are missing.
    """
    from engines.animate.neural.engine import NeuralLipSync
    from engines.animate.neural.musetalk import MuseTalkWeights, tiny_spec
    from engines.runtime.session import CPU, SessionFactory

    paths = paths.ensure()
    factory = SessionFactory(paths.engines)
    if not tiny_random:
        missing = MuseTalkWeights(paths.models).missing()
        if missing:
            raise InputError(f"the neural lip-sync weights are not downloaded ({', '.join(missing)}): run "
                             + " and ".join(f"`python app.py models fetch {m}`" for m in missing)
                             + " or use the Models & Engines tab")
    if factory.chain() == [CPU] and not allow_cpu:
        raise InputError("no NVIDIA GPU provider (TensorRT or CUDA) in this ONNX Runtime, so there is no engine to "
                         "build: install requirements-gpu.txt on a machine with an NVIDIA GPU, or add --allow-cpu "
                         "to only export and check the ONNX graphs")
    results = []
    for mode in modes:
        engine = NeuralLipSync(models_dir=paths.models, cache_dir=paths.cache, factory=factory, mode=mode,
                               allow_cpu=allow_cpu, torch_cuda=False, random_spec=tiny_spec() if tiny_random else None)
        bar = progress_for(mode) if progress_for else contextlib.nullcontext(None)
        with bar as progress:
            try:
                results.append(engine.build(progress))
            except RuntimeError as exc:
                raise InputError(f"could not build the {mode} engines: {exc}") from exc
    return results


def describe_build(results: list[dict[str, Any]]) -> list[str]:
    """Plain lines about a build: where each profile runs, and every notice."""
    from engines.runtime.session import CPU, FRIENDLY

    lines = []
    for r in results:
        lo, opt, hi = r["batch"]
        lines.append(f"{r['mode']:7} runs on {FRIENDLY.get(r['provider'], r['provider'])} "
                     f"(batch {lo}..{hi}, best {opt})")
        lines.extend(f"  notice: {note}" for note in r["notices"])
    if any(r["provider"] == CPU for r in results):
        lines.append("no TensorRT engine was built (CPU only); the ONNX graphs are exported and cached")
    return lines


def build_engines(args: argparse.Namespace) -> int:
    from studio.cli.progress import progress_bar

    modes = ("preview", "export") if args.mode == "both" else (args.mode,)
    results = build(StudioPaths.from_env(), modes, allow_cpu=args.allow_cpu, tiny_random=args.tiny_random,
                    progress_for=lambda mode: progress_bar(f"{mode:7}"))
    print("\n".join(describe_build(results)))
    return 0
