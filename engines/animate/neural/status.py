"""What is built for the neural lip-sync, read from disk without loading any model (CLI and UI).

Cheap: only folder listings and small JSON manifests; no torch, no ONNX Runtime.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


# The neural lip-sync's layout under the studio cache folder: <cache>/neural/{onnx,avatars}.
NEURAL_DIR = "neural"
ONNX_DIR = "onnx"  # the ONNX exports (engines/animate/neural/export.py)
AVATARS_DIR = "avatars"  # the per-avatar preparations (engines/animate/neural/engine.py)


def neural_root(cache_dir: str | Path) -> Path:
    """Folder of everything the neural lip-sync caches under the studio cache folder."""
    return Path(cache_dir) / NEURAL_DIR


def onnx_root(cache_dir: str | Path) -> Path:
    """Folder of the cached ONNX exports under the studio cache folder."""
    return neural_root(cache_dir) / ONNX_DIR


def avatars_root(cache_dir: str | Path) -> Path:
    """Folder of the cached avatar preparations under the studio cache folder."""
    return neural_root(cache_dir) / AVATARS_DIR


def cache_rows(engines_dir: str | Path, cache_dir: str | Path) -> list[dict[str, Any]]:
    """One row per cached TensorRT engine folder and per ONNX export: kind, folder, bytes, key, model, valid."""
    from engines.runtime.session import EngineCache

    rows = []
    for entry in EngineCache(engines_dir).entries():
        key = entry.get("key") or {}
        rows.append(
            {
                "kind": "engine",
                "folder": entry["folder"],
                "bytes": entry["bytes"],
                "key": key or None,
                "model": entry.get("model"),
                "valid": bool(key),
            }
        )
    root = onnx_root(cache_dir)
    if root.is_dir():
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            try:
                meta = json.loads((folder / "export.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                meta = {}
            rows.append(
                {
                    "kind": "onnx",
                    "folder": folder.name,
                    "bytes": _folder_bytes(folder),
                    "key": {"weights": meta.get("weights"), "spec": meta.get("spec"), "opset": meta.get("opset")}
                    if meta
                    else None,
                    "model": str(folder),
                    "valid": bool(meta),
                }
            )
    return rows


def describe_key(row: dict[str, Any]) -> str:
    """One line about a cache row's key (what the cached item was built for)."""
    key = row["key"]
    if not key:
        return "(no valid manifest: rebuilt on next use)"
    if row["kind"] == "engine":
        return (
            f"{key['precision']} {key['gpu_name']} sm{key['compute_capability']} "
            f"TRT {key['tensorrt_version']} ORT {key['ort_version']} {key['profile']}"
        )
    return f"weights {str(key['weights'])[:16]} spec {key['spec']} opset {key['opset']}"


def build_state(
    models_dir: str | Path, cache_dir: str | Path, engines_dir: str | Path, rows: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The neural lip-sync's state in plain words plus sizes.

    ``state`` is one of ``weights missing``, ``not built``, ``ONNX exported`` (no TensorRT engine
    yet; also the final state without TensorRT) and ``TensorRT engines built``. ``onnx_bytes`` and
    ``engine_bytes`` are what the exports and the engines that were compiled from them take on disk.
    ``rows`` are :func:`cache_rows` already read by the caller (read here when None).
    """
    from engines.animate.neural.musetalk import MuseTalkWeights

    missing = MuseTalkWeights(Path(models_dir)).missing()
    if rows is None:
        rows = cache_rows(engines_dir, cache_dir)
    exports = [r for r in rows if r["kind"] == "onnx" and r["valid"]]
    folders = {r["model"] for r in exports}
    engines = [
        r
        for r in rows
        if r["kind"] == "engine" and r["valid"] and r.get("model") and str(Path(r["model"]).parent) in folders
    ]
    if engines:
        state = "TensorRT engines built"
    elif exports:
        state = "ONNX exported"
    elif missing:
        state = "weights missing"
    else:
        state = "not built"
    profiles = sorted({(r["key"] or {}).get("profile", "?") for r in engines})
    return {
        "state": state,
        "missing_weights": missing,
        "exports": len(exports),
        "onnx_bytes": sum(r["bytes"] for r in exports),
        "engines": len(engines),
        "engine_bytes": sum(r["bytes"] for r in engines),
        "profiles": profiles,
    }


def summary(state: dict[str, Any]) -> str:
    """``build_state`` as one sentence for the UI and the CLI."""
    text = f"Neural lip-sync: {state['state']}"
    if state["missing_weights"]:
        text += f" (download {', '.join(state['missing_weights'])})"
    if state["exports"]:
        text += f"; ONNX {state['onnx_bytes'] / 1e6:.1f} MB"
    if state["engines"]:
        text += f"; {state['engines']} TensorRT engine(s) {state['engine_bytes'] / 1e6:.1f} MB"
    return text + "."
