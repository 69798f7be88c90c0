"""Pre-flight checks: what the studio needs and what it found, in plain words.

Each check returns a :class:`Check`: ``ok`` True (fine), False (the studio cannot work until it is
fixed; the detail says how) or None (optional and absent, e.g. no GPU). ``app.py doctor`` prints them
and exits 2 when any check failed.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

from studio.config import StudioPaths
from studio.storage import disk_free_bytes

GB = 1024**3
MIN_FREE_GB = 2.0  # a 10-minute 720p render with its chunks and caches needs about 1 GB


@dataclass
class Check:
    name: str
    ok: bool | None  # None = optional, not present
    detail: str


def run_checks(paths: StudioPaths, *, checksums: bool = True) -> list[Check]:
    """Every check, in the order they are shown. ``checksums`` hashes the model files (a few seconds)."""
    checks: list[Check] = []
    steps: list[tuple[str, Callable[[], list[Check]]]] = [
        ("python", lambda: [_python()]),
        ("ffmpeg", _ffmpeg),
        ("disk", lambda: [_disk(paths), _writable(paths)]),
        ("onnxruntime", _onnxruntime),
        ("gpu", _gpu),
        ("tensorrt", lambda: [_tensorrt()]),
        ("device", lambda: _device(paths)),
        ("llama-cpp-python", lambda: [_llama()]),
        ("models", lambda: _models(paths, checksums)),
        ("engine cache", lambda: [_engine_cache(paths)]),
    ]
    for name, step in steps:
        try:
            checks += step()
        except Exception as exc:  # noqa: BLE001 - a broken check is reported, never a traceback
            checks.append(Check(name, False, f"the check itself failed ({type(exc).__name__}: {exc})"))
    return checks


def _python() -> Check:
    return Check("python", sys.version_info[:2] == (3, 11), f"{platform.python_version()} (3.11 expected)")


def _ffmpeg() -> list[Check]:
    """The bundled ffmpeg runs and has the H.264 and AAC encoders the export uses."""
    try:
        import imageio_ffmpeg

        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as exc:  # noqa: BLE001
        return [Check("ffmpeg", False, f"not found ({exc}): run ./launch.sh again")]
    try:
        proc = subprocess.run([exe, "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=20)
        version = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=20).stdout.split("\n", 1)[0]
    except (OSError, subprocess.SubprocessError) as exc:
        return [Check("ffmpeg", False, f"{exe} does not run ({exc}): run ./launch.sh again")]
    missing = [enc for enc in ("libx264", "aac") if not re.search(rf"\b{enc}\b", proc.stdout)]
    if proc.returncode != 0 or missing:
        return [
            Check(
                "ffmpeg",
                False,
                f"{exe} lacks the {', '.join(missing) or 'listed'} encoder(s): reinstall imageio-ffmpeg (./launch.sh)",
            )
        ]
    m = re.search(r"ffmpeg version (\S+)", version)
    return [Check("ffmpeg", True, f"bundled {m.group(1) if m else ''} with libx264 + aac: {exe}")]


def _disk(paths: StudioPaths) -> Check:
    free = disk_free_bytes(paths.home)
    ok = free > MIN_FREE_GB * GB
    return Check(
        "disk",
        ok,
        f"{free / GB:.1f} GB free in {paths.home}" + ("" if ok else f" — free at least {MIN_FREE_GB:g} GB for renders"),
    )


def _writable(paths: StudioPaths) -> Check:
    """The data folder takes a write (and the temporary file is removed again)."""
    try:
        paths.home.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=paths.home, prefix=".doctor.", delete=True) as fh:
            fh.write(b"ok")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        return Check(
            "data folder",
            False,
            f"cannot write in {paths.home} ({exc.strerror or exc}): set STUDIO_HOME to a writable folder",
        )
    return Check("data folder", True, f"{paths.home} is writable")


def _onnxruntime() -> list[Check]:
    import onnxruntime as ort

    providers = ort.get_available_providers()
    return [Check("onnxruntime", True, f"{ort.__version__}, providers: {', '.join(providers)}")]


def _gpu() -> list[Check]:
    """The GPU and its driver, and whether ONNX Runtime can use it."""
    from engines.runtime.session import NO_NVIDIA_SMI, nvidia_smi

    gpu, why = nvidia_smi()
    if gpu is None:
        if why == NO_NVIDIA_SMI:
            return [Check("gpu", None, "no NVIDIA GPU found: rendering runs on the CPU")]
        return [
            Check(
                "gpu",
                False,
                f"an NVIDIA tool is installed but the driver does not answer ({why}): "
                "reinstall or update the NVIDIA driver, or reboot",
            )
        ]
    checks = [
        Check(
            "gpu",
            True,
            f"{gpu.name} (compute {gpu.compute_capability}), {gpu.memory_used_mib}/{gpu.memory_total_mib} MiB in use",
        ),
        Check("gpu driver", True, f"NVIDIA driver {gpu.driver}"),
    ]
    import onnxruntime as ort

    providers = ort.get_available_providers()
    if "CUDAExecutionProvider" in providers:
        checks.append(Check("gpu runtime", True, "ONNX Runtime can run on the GPU (CUDA provider)"))
    else:
        checks.append(
            Check(
                "gpu runtime",
                None,
                "ONNX Runtime is the CPU build: neural models run on the CPU (the GPU set is not installed: "
                "see 'switch to GPU' below)",
            )
        )
    return checks


def _tensorrt() -> Check:
    from engines.runtime.session import tensorrt_version

    trt = tensorrt_version()
    return Check(
        "tensorrt",
        None if trt == "none" else True,
        "not installed (optional; part of the GPU set: see 'switch to GPU' below)" if trt == "none" else trt,
    )


def _device(paths: StudioPaths) -> list[Check]:
    """Where the studio renders and why (the start message's answer), and how to switch either way."""
    from studio.ops.device import describe, switch_advice

    report = describe(paths.models)
    to_gpu, to_cpu = switch_advice()
    return [
        Check("device", True if report.device == "gpu" else None, report.text()),
        Check("switch to GPU", None, to_gpu),
        Check("switch to CPU", None, to_cpu),
    ]


def _llama() -> Check:
    llama = importlib.util.find_spec("llama_cpp") is not None
    return Check(
        "llama-cpp-python",
        llama or None,
        "installed" if llama else "not installed: the script assistant falls back to a slower engine or templates",
    )


def _models(paths: StudioPaths, checksums: bool) -> list[Check]:
    """Each registry model: present? and, with ``checksums``, do its files match their sha256?"""
    from studio import models

    verified = {row["name"]: row for row in models.verify(paths)} if checksums else {}
    checks = []
    for entry in models.catalog().values():
        st = models.status(entry, paths)
        ok = True if st.state == "ready" else (None if not entry.embedded or st.state == "assemble" else False)
        detail = f"{st.state}{': ' + st.detail if st.detail else ''}"
        row = verified.get(entry.name)
        if row is not None and row.get("ok") is False:
            ok, detail = (
                False,
                (
                    f"{row['detail']}: the file is damaged; run `python app.py models fetch "
                    f"{entry.name}` (or ./launch.sh for bundled models) to restore it"
                ),
            )
        elif row is not None and row.get("ok"):
            detail = f"ready, sha256 verified ({row['detail']})"
        checks.append(Check(f"model {entry.name}", ok, detail))
    return checks


def _engine_cache(paths: StudioPaths) -> Check:
    """Compiled TensorRT engines: how many, how big, and how many no longer fit this machine."""
    from engines.runtime import EngineCache
    from engines.runtime.session import current_machine_key

    entries = EngineCache(paths.engines).entries()
    size = sum(e["bytes"] for e in entries)
    machine = current_machine_key()
    stale = damaged = 0
    for e in entries:
        key = e.get("key")
        if not isinstance(key, dict):
            damaged += 1
        elif {field: key.get(field) for field in machine} != machine:
            stale += 1
    detail = f"{len(entries)} engine(s), {size / 1e6:.1f} MB in {paths.engines}"
    if stale or damaged:
        detail += (
            f"; {stale} built for another GPU or runtime version, {damaged} incomplete — they are rebuilt "
            "when needed; `python app.py engines clear` frees the space"
        )
    return Check("engine cache", True, detail)
