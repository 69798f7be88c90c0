"""Pre-flight checks: what the studio needs and what it found, in plain words."""

from __future__ import annotations

import importlib.util
import platform
import shutil
import sys
from dataclasses import dataclass

from studio.config import StudioPaths
from studio.storage import disk_free_bytes


@dataclass
class Check:
    name: str
    ok: bool | None  # None = optional, not present
    detail: str


def run_checks(paths: StudioPaths) -> list[Check]:
    checks = [Check("python", sys.version_info[:2] == (3, 11), f"{platform.python_version()} (3.11 expected)")]
    try:
        import imageio_ffmpeg

        exe = imageio_ffmpeg.get_ffmpeg_exe()
        checks.append(Check("ffmpeg", True, f"bundled: {exe}"))
    except Exception as exc:  # noqa: BLE001
        checks.append(Check("ffmpeg", False, f"not found ({exc}): run ./launch.sh again"))
    free = disk_free_bytes(paths.home)
    checks.append(Check("disk", free > 2 * 1024**3, f"{free / 1024**3:.1f} GB free in {paths.home}"
                        + ("" if free > 2 * 1024**3 else " — free at least 2 GB for renders")))
    import onnxruntime as ort

    providers = ort.get_available_providers()
    checks.append(Check("onnxruntime", True, f"{ort.__version__}, providers: {', '.join(providers)}"))
    from engines.runtime.session import gpu_identity, tensorrt_version

    gpu = gpu_identity()
    smi = shutil.which("nvidia-smi")
    checks.append(Check("gpu", None if gpu.name == "none" else True,
                        "no NVIDIA GPU found: rendering runs on the CPU" if gpu.name == "none"
                        else f"{gpu.name} (compute {gpu.compute_capability}), nvidia-smi at {smi}"))
    trt = tensorrt_version()
    checks.append(Check("tensorrt", None if trt == "none" else True,
                        "not installed (optional; GPU users: pip install -r requirements-gpu.txt)" if trt == "none" else trt))
    llama = importlib.util.find_spec("llama_cpp") is not None
    checks.append(Check("llama-cpp-python", llama or None, "installed" if llama else
                        "not installed: the script assistant falls back to a slower engine or templates"))
    from studio import models

    for entry in models.catalog().values():
        st = models.status(entry, paths)
        ok = True if st.state == "ready" else (None if not entry.embedded or st.state == "assemble" else False)
        checks.append(Check(f"model {entry.name}", ok, f"{st.state}{': ' + st.detail if st.detail else ''}"))
    from engines.runtime import EngineCache

    entries = EngineCache(paths.engines).entries()
    size = sum(e["bytes"] for e in entries)
    checks.append(Check("engine cache", True, f"{len(entries)} engine(s), {size / 1e6:.1f} MB in {paths.engines}"))
    return checks
