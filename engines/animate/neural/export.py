"""ONNX export of the lip-sync UNet and VAE decoder, with a dynamic batch axis, cached on disk.

One folder per (architecture, weights, precision) under ``<cache>/neural/onnx/``::

    musetalk-1.5-<digest>/unet.onnx
                          vae_decoder.onnx
                          export.json

For the GPU the UNet is exported in FP16 (weights and arithmetic; inputs and outputs stay float32),
which also keeps the released UNet (0.86 G parameters, 3.4 GB in FP32) in ONE ONNX file under
protobuf's 2 GB limit: ONNX Runtime's TensorRT provider has known failures with models whose
tensors live in an external ``.data`` file. The CPU gets FP32 graphs (its kernels are FP32). An FP32
graph over the limit (the full UNet for the CPU) keeps its tensors in one ``unet.onnx.data``.

The weights' digest is also written into each graph's metadata, so the graph file's own sha256
(which keys the TensorRT engine cache, see ``engines/runtime/session.py``) changes whenever the
weights do, even when the tensors themselves live in an external ``.data`` file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engines.files import file_sha256, write_json_atomic
from engines.progress import Progress

log = logging.getLogger(__name__)

OPSET = 17
EXPORT_VERSION = 2  # bump when the exported graphs change for the same weights (2: FP16 UNet for the GPU)
PRECISIONS = ("fp16", "fp32")
_PROTO_LIMIT = 1_800_000_000  # bytes; protobuf cannot hold a graph over 2 GB, keep a margin
UNET_INPUTS = ("latents", "audio")
VAE_INPUTS = ("latents",)


@dataclass(frozen=True)
class ExportedModels:
    """Paths of the exported graphs and the digest they were made from."""

    folder: Path
    unet: Path
    vae_decoder: Path
    digest: str


def weights_digest(files: list[Path], memo: Path | None = None) -> str:
    """sha256 over the weight files' own sha256s; remembered in ``memo`` by (path, size, mtime)."""
    known: dict[str, Any] = {}
    if memo is not None and memo.exists():
        try:
            known = json.loads(memo.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            known = {}
    digest = hashlib.sha256()
    changed = False
    for path in files:
        st = path.stat()
        stamp = [st.st_size, st.st_mtime_ns]
        row = known.get(str(path.resolve()))
        if not row or row.get("stamp") != stamp:
            row = {"stamp": stamp, "sha256": file_sha256(path)}
            known[str(path.resolve())] = row
            changed = True
        digest.update(path.name.encode() + b"\0" + row["sha256"].encode())
    if memo is not None and changed:
        write_json_atomic(memo, known)
    return digest.hexdigest()


def export_key(spec_digest: str, weights: str, precision: str = "fp32") -> str:
    """Folder key of an export: architecture + weights + UNet precision + exporter (torch) version +
    export code version."""
    import torch

    parts = [spec_digest, weights, torch.__version__, OPSET, EXPORT_VERSION]
    if precision != "fp32":  # (FP32 keys stay as they were)
        parts.append(precision)
    text = json.dumps(parts)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached_export(root: Path, name: str, key: str) -> ExportedModels | None:
    """The finished export for ``key`` under ``root``, or None."""
    folder = root / f"{name}-{key}"
    try:
        meta = json.loads((folder / "export.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    unet, vae = folder / meta["unet"], folder / meta["vae_decoder"]
    if meta.get("key") != key or not unet.exists() or not vae.exists():
        return None
    return ExportedModels(folder=folder, unet=unet, vae_decoder=vae, digest=meta["weights"])


def ensure_exported(
    root: str | os.PathLike,
    nets_fn: Callable[[], Any],
    *,
    spec_digest: str,
    weights: str,
    name: str = "musetalk",
    progress: Progress | None = None,
    precision: str = "fp32",
) -> ExportedModels:
    """Return the cached export for these weights, exporting once if needed (atomically).

    ``nets_fn`` is only called when an export must be made (loading the full weights takes a while).
    ``precision`` is the UNet's: ``fp16`` for the GPU, ``fp32`` for the CPU.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}")
    root = Path(root)
    key = export_key(spec_digest, weights, precision)
    found = cached_export(root, name, key)
    if found:
        return found
    nets = nets_fn()
    folder = root / f"{name}-{key}"
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-{key}.", suffix=".part", dir=root))
    try:
        meta = {
            "studio.weights": weights,
            "studio.spec": spec_digest,
            "studio.export_key": key,
            "studio.precision": precision,
        }
        if progress:
            progress(0.0, f"exporting the UNet to ONNX ({precision.upper()})")
        export_unet(nets, staging / "unet.onnx", meta, fp16=precision == "fp16")
        if progress:
            progress(0.6, "exporting the VAE decoder to ONNX")
        export_vae_decoder(nets, staging / "vae_decoder.onnx", meta)
        write_json_atomic(
            staging / "export.json",
            {
                "key": key,
                "weights": weights,
                "spec": spec_digest,
                "unet": "unet.onnx",
                "vae_decoder": "vae_decoder.onnx",
                "opset": OPSET,
                "precision": precision,
            },
        )
        if folder.exists():  # an unfinished or stale export with the same key
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if progress:
        progress(1.0, "ONNX export done")
    found = cached_export(root, name, key)
    assert found is not None
    return found


def _export(
    module: Any,
    args: tuple,
    path: Path,
    inputs: tuple[str, ...],
    output: str,
    meta: dict[str, str],
    fp16: bool = False,
) -> Path:
    import torch

    dynamic = {n: {0: "batch"} for n in (*inputs, output)}
    raw = path.with_name(path.stem + ".raw")
    raw.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python-side shape checks in diffusers
        with torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(
                module,
                args,
                str(raw / path.name),
                input_names=list(inputs),
                output_names=[output],
                dynamic_axes=dynamic,
                opset_version=OPSET,
                do_constant_folding=True,
                dynamo=False,
            )
    _finish(raw / path.name, path, meta, fp16)
    shutil.rmtree(raw, ignore_errors=True)
    return path


def _finish(src: Path, dst: Path, meta: dict[str, str], fp16: bool = False) -> None:
    """Add metadata and re-save (``fp16``: converted to FP16 with float32 inputs and outputs, in one
    file); FP32 graphs over the protobuf limit keep their tensors in one ``.data`` file."""
    import onnx

    model = onnx.load(str(src), load_external_data=True)
    if fp16:
        from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

        # keep_io_types: the caller feeds and reads float32 whatever the graph computes in. Resize (the
        # UNet's upsamplers) and the constants of its ``roi``/``scales`` inputs stay FP32: ONNX
        # requires float32 there.
        sizes = {i for n in model.graph.node if n.op_type == "Resize" for i in list(n.input)[1:] if i}
        constants = [n.name for n in model.graph.node if n.op_type == "Constant" and set(n.output) & sizes]
        model = convert_float_to_float16(
            model,
            keep_io_types=True,
            disable_shape_infer=True,
            op_block_list=[*DEFAULT_OP_BLOCK_LIST, "Resize"],
            node_block_list=constants,
        )
        if sum(t.ByteSize() for t in model.graph.initializer) > _PROTO_LIMIT:
            raise RuntimeError(f"{dst.name} is over 2 GB even in FP16: it cannot be one ONNX file")
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    size = sum(t.ByteSize() for t in model.graph.initializer)
    if size > _PROTO_LIMIT:
        onnx.save_model(
            model,
            str(dst),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=dst.name + ".data",
            size_threshold=1024,
        )
    else:
        onnx.save_model(model, str(dst))


def export_unet(nets: Any, path: Path, meta: dict[str, str], fp16: bool = False) -> Path:
    """Export the single-step UNet: inputs ``latents`` (B, 8, h, w), ``audio`` (B, T, D) -> ``predicted``
    (all float32; ``fp16``: weights and arithmetic in FP16 inside)."""
    import torch

    spec = nets.spec
    step = nets.unet_step().to(nets.device).eval()
    lat = torch.zeros(
        2, 2 * spec.latent_channels, spec.latent_size, spec.latent_size, device=nets.device, dtype=nets.dtype
    )
    aud = torch.zeros(2, spec.audio_tokens, spec.audio_dim, device=nets.device, dtype=nets.dtype)
    return _export(step, (lat, aud), path, UNET_INPUTS, "predicted", meta, fp16)


def export_vae_decoder(nets: Any, path: Path, meta: dict[str, str]) -> Path:
    """Export the VAE decoder: input ``latents`` (B, 4, h, w) -> ``image`` (B, 3, S, S) RGB in [0, 1]."""
    import torch

    spec = nets.spec
    step = nets.vae_decode_step().to(nets.device).eval()
    lat = torch.zeros(2, spec.latent_channels, spec.latent_size, spec.latent_size, device=nets.device, dtype=nets.dtype)
    return _export(step, (lat,), path, VAE_INPUTS, "image", meta)


def graph_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX graph (without loading external tensors)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}


def unet_profile(spec: Any, lo: int, opt: int, hi: int):
    """TensorRT shape profile of the UNet for batch sizes ``lo``/``opt``/``hi``."""
    from engines.runtime.session import ShapeProfile

    def shapes(b: int) -> dict[str, tuple[int, ...]]:
        return {
            "latents": (b, 2 * spec.latent_channels, spec.latent_size, spec.latent_size),
            "audio": (b, spec.audio_tokens, spec.audio_dim),
        }

    return ShapeProfile(min=shapes(lo), opt=shapes(opt), max=shapes(hi))


def vae_profile(spec: Any, lo: int, opt: int, hi: int):
    """TensorRT shape profile of the VAE decoder for batch sizes ``lo``/``opt``/``hi``."""
    from engines.runtime.session import ShapeProfile

    def shapes(b: int) -> dict[str, tuple[int, ...]]:
        return {"latents": (b, spec.latent_channels, spec.latent_size, spec.latent_size)}

    return ShapeProfile(min=shapes(lo), opt=shapes(opt), max=shapes(hi))
