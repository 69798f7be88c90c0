"""Which device the studio renders on, and why: one answer for the first start, the Models & Engines tab
and ``app.py doctor``.

Cheap, because it runs at every start: one ``nvidia-smi`` query and the installed packages' metadata;
torch, ONNX Runtime and TensorRT are not imported. The GPU set (requirements-gpu.txt) is one CUDA line,
:data:`GPU_CUDA`; the launchers install it when ``nvidia-smi`` works and ``STUDIO_GPU`` is not ``off``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from engines.runtime.session import NO_NVIDIA_SMI, GpuReport, nvidia_smi, tensorrt_version

GPU_CUDA = "13.0"  # the CUDA of requirements-gpu.txt: torch +cu130, onnxruntime-gpu 1.31.1, tensorrt-cu13
MIN_DRIVER = {12: 525, 13: 580}  # oldest NVIDIA driver branch per CUDA major version (Windows and Linux)
MIN_COMPUTE = (7, 5)  # the CUDA 13 builds of torch and TensorRT start at Turing (RTX 20xx, GTX 16xx)
SWITCH = "STUDIO_GPU"  # "off": CPU even with an NVIDIA GPU; "on": the launchers (re)install the GPU set; "auto"
FAILED_MARK = ".gpu-failed"  # left in the environment's folder by a launcher whose GPU install failed

TO_GPU = (
    "to render on an NVIDIA GPU (RTX 20xx / GTX 16xx or newer, driver {driver} or newer): run the launcher "
    "again (./launch.sh; Windows: launch.bat): it installs the GPU set of requirements-gpu.txt (CUDA {cuda} "
    "build of torch, onnxruntime-gpu, TensorRT; about 4 GB to download). To retry after a failed install: "
    "STUDIO_GPU=on ./launch.sh (Windows: set STUDIO_GPU=on, then launch.bat)"
)
TO_CPU = (
    "to go back to the CPU: STUDIO_GPU=off ./launch.sh (Windows: set STUDIO_GPU=off, or setx STUDIO_GPU off for "
    "double-clicks, then launch.bat): it removes the GPU set and puts back onnxruntime and the torch of "
    "requirements.txt, and while STUDIO_GPU=off the studio leaves the GPU alone. STUDIO_GPU=auto and the "
    "launcher bring the GPU back"
)


@dataclass(frozen=True)
class GpuPackages:
    """What of the GPU set is installed: versions, None where absent."""

    torch: str | None = None
    torch_cuda: str | None = None  # "13.0" for a CUDA build of torch; None for a CPU build
    onnxruntime_gpu: str | None = None
    onnxruntime_cuda: str | None = None  # the CUDA onnxruntime-gpu was built for
    tensorrt: str | None = None

    @property
    def cuda(self) -> str | None:
        return self.onnxruntime_cuda or self.torch_cuda

    @property
    def usable(self) -> bool:
        """Something can run on the GPU: ONNX Runtime's CUDA/TensorRT providers or PyTorch CUDA."""
        return bool(self.onnxruntime_gpu or self.torch_cuda)


@dataclass(frozen=True)
class DeviceReport:
    """Where the neural models run and why, in the creator's words (the procedural animation is always CPU)."""

    device: str  # "gpu" or "cpu"
    headline: str  # e.g. "NVIDIA GeForce RTX 4070, CUDA 13.0: neural lip-sync available after downloading ..."
    details: tuple[str, ...] = ()
    fixable: bool = False  # an NVIDIA GPU is there, and something the creator can do would let the studio use it
    gpu: GpuReport | None = None

    def text(self) -> str:
        return "; ".join((self.headline, *self.details))


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _torch_cuda(version: str) -> str | None:
    """CUDA of the installed torch: the ``+cu130`` label of PyTorch's index, or the CUDA wheels a PyPI build needs."""
    label = re.search(r"\+cu(\d+)(\d)$", version)
    if label:
        return f"{int(label.group(1))}.{label.group(2)}"
    if "+" in version:
        return None  # +cpu, +rocm...
    for req in metadata.requires("torch") or []:
        pin = re.match(r"(?:cuda-toolkit|nvidia-cuda-runtime(?:-cu\d+)?)\b[^=;]*==\s*(\d+)\.(\d+)", req)
        if pin:
            return f"{pin.group(1)}.{pin.group(2)}"
    return None


def _onnxruntime_cuda() -> str | None:
    """The CUDA onnxruntime-gpu was built for, read from its build info without importing it."""
    spec = importlib.util.find_spec("onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        return None
    info = Path(list(spec.submodule_search_locations)[0]) / "capi" / "build_and_package_info.py"
    try:
        found = re.search(r"cuda_version\s*=\s*['\"](\d+\.\d+)", info.read_text(encoding="utf-8"))
    except OSError:
        return None
    return found.group(1) if found else None


def installed_gpu_packages() -> GpuPackages:
    torch = _version("torch")
    ort_gpu = _version("onnxruntime-gpu")
    trt = tensorrt_version()
    return GpuPackages(
        torch=torch,
        torch_cuda=_torch_cuda(torch) if torch else None,
        onnxruntime_gpu=ort_gpu,
        onnxruntime_cuda=_onnxruntime_cuda() if ort_gpu else None,
        tensorrt=None if trt == "none" else trt,
    )


def switched_off() -> bool:
    return os.environ.get(SWITCH, "").strip().lower() == "off"


def apply_switch() -> None:
    """With ``STUDIO_GPU=off``, hide the GPUs from CUDA (PyTorch, ONNX Runtime) for this process."""
    if switched_off():
        os.environ["CUDA_VISIBLE_DEVICES"] = "-1"


def install_failed(prefix: str | os.PathLike | None = None) -> bool:
    """The launcher tried the GPU set in this environment and it failed (it left :data:`FAILED_MARK`)."""
    return (Path(prefix or sys.prefix) / FAILED_MARK).exists()


def _neural_weights(models_dir: Path | None) -> str:
    if models_dir is None:
        return "available after downloading its weights"
    from engines.animate.neural.musetalk import MuseTalkWeights

    missing = MuseTalkWeights(models_dir).missing()
    if missing:
        return "available after downloading its weights (Models & Engines tab: " + ", ".join(missing) + ")"
    return "ready"


def _compute(gpu: GpuReport) -> tuple[int, int] | None:
    found = re.match(r"(\d+)\.(\d+)", gpu.compute_capability)
    return (int(found.group(1)), int(found.group(2))) if found else None


def _driver_major(gpu: GpuReport) -> int | None:
    found = re.match(r"(\d+)", gpu.driver)
    return int(found.group(1)) if found else None


def describe(models_dir: Path | None = None, *, packages: GpuPackages | None = None) -> DeviceReport:
    """Where the studio will render and why. ``models_dir`` (the model cache) tells whether the neural
    lip-sync's weights are downloaded; ``packages`` defaults to what is installed."""
    gpu, why = nvidia_smi()
    if switched_off():
        where = f"{gpu.name} found, but " if gpu else ""
        return DeviceReport("cpu", f"{where}GPU use is switched off (STUDIO_GPU=off): CPU rendering", gpu=gpu)
    if gpu is None:
        if why == NO_NVIDIA_SMI:
            return DeviceReport("cpu", "no NVIDIA GPU found: CPU rendering")
        return DeviceReport(
            "cpu",
            f"an NVIDIA driver is installed but does not answer ({why}): CPU rendering",
            ("reinstall or update the NVIDIA driver, or reboot",),
            fixable=True,
        )
    packages = packages or installed_gpu_packages()
    cuda = packages.cuda if packages.usable and packages.cuda else GPU_CUDA
    compute, driver = _compute(gpu), _driver_major(gpu)
    if compute is not None and compute < MIN_COMPUTE:
        return DeviceReport(
            "cpu",
            f"{gpu.name} (compute {gpu.compute_capability}) is older than the GPU set supports "
            f"(compute {MIN_COMPUTE[0]}.{MIN_COMPUTE[1]}: RTX 20xx / GTX 16xx or newer): CPU rendering",
            ("the GPU set is installed but unused: STUDIO_GPU=off and the launcher remove it",)
            if packages.usable
            else (),
            gpu=gpu,
        )
    need = MIN_DRIVER.get(int(cuda.split(".")[0]))
    if driver is not None and need is not None and driver < need:
        return DeviceReport(
            "cpu",
            f"{gpu.name} found, but its driver {gpu.driver} is older than CUDA {cuda} needs ({need} or newer): "
            "CPU rendering",
            ("update the NVIDIA driver, then start the studio again",),
            fixable=True,
            gpu=gpu,
        )
    if not packages.usable:
        if install_failed():
            return DeviceReport(
                "cpu",
                f"{gpu.name} found, but the launcher could not install the GPU set: CPU rendering",
                ("retry with STUDIO_GPU=on ./launch.sh (Windows: set STUDIO_GPU=on, then launch.bat)",),
                fixable=True,
                gpu=gpu,
            )
        return DeviceReport(
            "cpu",
            f"{gpu.name} found, but the GPU packages are not installed: CPU rendering",
            ("STUDIO_GPU=on ./launch.sh (Windows: set STUDIO_GPU=on, then launch.bat) installs them",),
            fixable=True,
            gpu=gpu,
        )
    if packages.onnxruntime_gpu and packages.tensorrt:
        runtime = (
            f"ONNX Runtime GPU {packages.onnxruntime_gpu} with TensorRT {packages.tensorrt}: "
            "the lip-sync engines are compiled once for this GPU and cached"
        )
    elif packages.onnxruntime_gpu:
        runtime = f"ONNX Runtime GPU {packages.onnxruntime_gpu} without TensorRT: the lip-sync runs on CUDA, uncompiled"
    else:
        runtime = f"PyTorch {packages.torch} on CUDA (onnxruntime-gpu is not installed)"
    return DeviceReport(
        "gpu",
        f"{gpu.name}, CUDA {cuda}: neural lip-sync {_neural_weights(models_dir)}",
        (runtime, "the procedural animation (the default) runs on the CPU either way"),
        gpu=gpu,
    )


def switch_advice() -> tuple[str, str]:
    """How to switch to the GPU and back to the CPU, in the launchers' words."""
    return (
        TO_GPU.format(driver=MIN_DRIVER[int(GPU_CUDA.split(".")[0])], cuda=GPU_CUDA),
        TO_CPU,
    )


def announce(models_dir: Path | None = None) -> str:
    """The start message: which device, and why (what to do when a GPU is there but unused)."""
    try:
        report = describe(models_dir)
    except Exception as exc:  # noqa: BLE001 - the studio starts even when the question cannot be answered
        return f"Device: could not be determined ({type(exc).__name__}: {exc}); run `python app.py doctor`"
    lines = [f"Device: {report.headline}"]
    if report.fixable:
        lines += [f"  {d}" for d in report.details]
    return "\n".join(lines)
