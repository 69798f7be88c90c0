"""The compiled-engine cache: clear it, or export the neural lip-sync to ONNX and build its TensorRT engines.

Used by ``app.py engines`` (studio/cli/engines.py) and the Models & Engines tab. Heavy libraries load
only inside :func:`build`.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable
from typing import Any

from studio.config import StudioPaths
from studio.errors import InputError


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


def build(
    paths: StudioPaths,
    modes: tuple[str, ...] = ("preview", "export"),
    *,
    allow_cpu: bool = False,
    tiny_random: bool = False,
    progress_for: Callable[[str], Any] | None = None,
) -> list[dict[str, Any]]:
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
            raise InputError(
                f"the neural lip-sync weights are not downloaded ({', '.join(missing)}): run "
                + " and ".join(f"`python app.py models fetch {m}`" for m in missing)
                + " or use the Models & Engines tab"
            )
    if factory.chain() == [CPU] and not allow_cpu:
        raise InputError(
            "no NVIDIA GPU provider (TensorRT or CUDA) in this ONNX Runtime, so there is no engine to "
            "build: install requirements-gpu.txt on a machine with an NVIDIA GPU, or add --allow-cpu "
            "to only export and check the ONNX graphs"
        )
    results = []
    for mode in modes:
        engine = NeuralLipSync(
            models_dir=paths.models,
            cache_dir=paths.cache,
            factory=factory,
            mode=mode,
            allow_cpu=allow_cpu,
            torch_cuda=False,
            random_spec=tiny_spec() if tiny_random else None,
        )
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
        lines.append(
            f"{r['mode']:7} runs on {FRIENDLY.get(r['provider'], r['provider'])} (batch {lo}..{hi}, best {opt})"
        )
        lines.extend(f"  notice: {note}" for note in r["notices"])
    if any(r["provider"] == CPU for r in results):
        lines.append("no TensorRT engine was built (CPU only); the ONNX graphs are exported and cached")
    return lines
