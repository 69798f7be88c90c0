"""``app.py engines list | build | clear``: the cached TensorRT engines (and ONNX exports).

``build`` exports the neural lip-sync model to ONNX and compiles its TensorRT engines for the
preview (batch 1) and export (batch 1..32, best at 16) shape profiles, with a progress bar, so the
first render does not wait minutes. Heavy libraries load only inside ``build``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from studio.config import StudioPaths
from studio.errors import InputError

NEURAL_MODEL = "musetalk-1.5"


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


def _folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def cache_rows(paths: StudioPaths) -> list[dict[str, Any]]:
    """One row per cached TensorRT engine folder and per ONNX export: kind, folder, bytes, key."""
    from engines.runtime.session import EngineCache

    rows = []
    for entry in EngineCache(paths.engines).entries():
        key = entry.get("key") or {}
        rows.append({"kind": "engine", "folder": entry["folder"], "bytes": entry["bytes"],
                     "key": key or None, "model": entry.get("model"), "valid": bool(key)})
    onnx_root = paths.cache / "neural" / "onnx"
    if onnx_root.is_dir():
        for folder in sorted(p for p in onnx_root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            try:
                meta = json.loads((folder / "export.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                meta = {}
            rows.append({"kind": "onnx", "folder": folder.name, "bytes": _folder_bytes(folder),
                         "key": {"weights": meta.get("weights"), "spec": meta.get("spec"), "opset": meta.get("opset")}
                         if meta else None, "model": str(folder), "valid": bool(meta)})
    return rows


def _describe_key(row: dict[str, Any]) -> str:
    key = row["key"]
    if not key:
        return "(no valid manifest: rebuilt on next use)"
    if row["kind"] == "engine":
        return (f"{key['precision']} {key['gpu_name']} sm{key['compute_capability']} "
                f"TRT {key['tensorrt_version']} ORT {key['ort_version']} {key['profile']}")
    return f"weights {str(key['weights'])[:16]} spec {key['spec']} opset {key['opset']}"


def list_engines(args: argparse.Namespace) -> int:
    paths = StudioPaths.from_env()
    rows = cache_rows(paths)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no cached engines in {paths.engines}")
        return 0
    print(f"{'kind':6} {'MB':>9}  {'folder':60} key")
    for r in rows:
        print(f"{r['kind']:6} {r['bytes'] / 1e6:9.1f}  {r['folder']:60} {_describe_key(r)}")
    return 0


def clear(paths: StudioPaths, everything: bool = False) -> int:
    """Delete the cached engines (and with ``everything`` the ONNX exports and avatar preparations).

    Returns how many folders or files were removed.
    """
    from engines.runtime.session import EngineCache

    count = EngineCache(paths.engines).clear()
    if everything:
        for sub in ("onnx", "avatars"):
            folder = paths.cache / "neural" / sub
            if folder.is_dir():
                count += sum(1 for _ in folder.iterdir())
                shutil.rmtree(folder, ignore_errors=True)
    return count


def clear_engines(args: argparse.Namespace) -> int:
    paths = StudioPaths.from_env()
    count = clear(paths, everything=args.all)
    print(f"removed {count} cached item(s)" + ("" if args.all else " (ONNX exports kept; --all removes them too)"))
    return 0


def build_engines(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from engines.animate.neural.engine import NeuralLipSync
    from engines.animate.neural.musetalk import MuseTalkWeights, tiny_spec
    from engines.runtime.session import CPU, SessionFactory

    paths = StudioPaths.from_env().ensure()
    factory = SessionFactory(paths.engines)
    if not args.tiny_random:
        missing = MuseTalkWeights(paths.models).missing()
        if missing:
            raise InputError(f"the neural lip-sync weights are not downloaded ({', '.join(missing)}): run "
                             + " and ".join(f"`python app.py models fetch {m}`" for m in missing))
    if factory.chain() == [CPU] and not args.allow_cpu:
        raise InputError("no NVIDIA GPU provider (TensorRT or CUDA) in this ONNX Runtime: install "
                         "requirements-gpu.txt on a machine with an NVIDIA GPU, or add --allow-cpu to only export "
                         "the ONNX graphs")
    modes = ("preview", "export") if args.mode == "both" else (args.mode,)
    results = []
    for mode in modes:
        engine = NeuralLipSync(models_dir=paths.models, cache_dir=paths.cache, factory=factory, mode=mode,
                               allow_cpu=args.allow_cpu, random_spec=tiny_spec() if args.tiny_random else None)
        with tqdm(total=100, unit="%", desc=f"{mode:7}", file=sys.stderr) as bar:
            def progress(fraction: float, message: str) -> None:
                bar.n = round(fraction * 90, 1)  # the last 10 % is the first batch (TensorRT compiles here)
                bar.set_postfix_str(message)
                bar.refresh()

            try:
                result = engine.build(progress)
            except RuntimeError as exc:
                raise InputError(f"could not build the {mode} engines: {exc}") from exc
            bar.n = 100
            bar.set_postfix_str("done")
        results.append(result)
    for r in results:
        where = {"TensorrtExecutionProvider": "TensorRT", "CUDAExecutionProvider": "CUDA", CPU: "CPU"}.get(
            r["provider"], r["provider"])
        lo, opt, hi = r["batch"]
        print(f"{r['mode']:7} runs on {where} (batch {lo}..{hi}, best {opt})")
        for note in r["notices"]:
            print(f"  notice: {note}")
    if any(r["provider"] == CPU for r in results):
        print("no TensorRT engine was built (CPU only); the ONNX graphs are exported and cached")
    return 0
