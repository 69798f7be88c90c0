"""`app.py doctor`: the pre-flight check finds what is wrong and says how to fix it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from studio.config import StudioPaths
from studio.ops import doctor

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def paths(tmp_path) -> StudioPaths:
    return StudioPaths(tmp_path / "home").ensure()


def _by_name(checks) -> dict[str, doctor.Check]:
    return {c.name: c for c in checks}


def _fake_tool(folder: Path, name: str, script: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _doctor_cli(*args: str, home: Path, path_prefix: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "STUDIO_HOME": str(home), "PYTHONWARNINGS": "ignore"}
    if path_prefix is not None:
        env["PATH"] = f"{path_prefix}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "doctor", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )


def test_healthy_install_passes_with_ffmpeg_encoders_and_verified_models():
    checks = _by_name(doctor.run_checks(StudioPaths.from_env().ensure()))
    assert checks["ffmpeg"].ok is True and "libx264 + aac" in checks["ffmpeg"].detail
    assert checks["data folder"].ok is True
    assert checks["model piper-joe-medium"].ok is True and "sha256 verified" in checks["model piper-joe-medium"].detail
    assert not [c.name for c in checks.values() if c.ok is False]


def test_damaged_model_file_fails_with_a_fix_and_exit_2(paths):
    target = paths.models / "whisper-base" / "model.bin"  # the joined bundled model (pip parts)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"truncated download")
    checks = _by_name(doctor.run_checks(paths))
    bad = checks["model whisper-base"]
    assert bad.ok is False and "checksum mismatch" in bad.detail and "to restore it" in bad.detail

    proc = _doctor_cli(home=paths.home)
    assert proc.returncode == 2
    assert "[FAIL] model whisper-base" in proc.stdout
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: 1 check(s) failed (model whisper-base)")


def test_quick_skips_the_checksums(paths):
    target = paths.models / "whisper-base" / "model.bin"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"truncated download")
    proc = _doctor_cli("--quick", "--json", home=paths.home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _by_name(doctor.Check(**c) for c in json.loads(proc.stdout))["model whisper-base"].ok is True


def test_reports_gpu_name_memory_and_driver_from_nvidia_smi(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    _fake_tool(bin_dir, "nvidia-smi", 'echo "NVIDIA GeForce RTX 4090, 550.54.14, 24564, 1024, 8.9"\n')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    checks = _by_name(doctor._gpu())
    assert checks["gpu"].ok is True and "RTX 4090" in checks["gpu"].detail and "1024/24564 MiB" in checks["gpu"].detail
    assert checks["gpu driver"].detail == "NVIDIA driver 550.54.14"
    assert checks["gpu runtime"].ok in (True, None)


def test_broken_driver_is_a_failure_that_says_what_to_do(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    _fake_tool(
        bin_dir,
        "nvidia-smi",
        'echo "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver." >&2\nexit 9\n',
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    (gpu,) = doctor._gpu()
    assert gpu.ok is False and "couldn't communicate" in gpu.detail and "driver" in gpu.detail


def test_no_gpu_is_optional_not_a_failure(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi anywhere
    (gpu,) = doctor._gpu()
    assert gpu.ok is None and "CPU" in gpu.detail


def test_ffmpeg_without_h264_fails(tmp_path, monkeypatch):
    import imageio_ffmpeg

    fake = _fake_tool(tmp_path, "ffmpeg", 'echo "ffmpeg version 1.0"\necho " A..... mp2  MP2"\n')
    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", lambda: str(fake))
    (check,) = doctor._ffmpeg()
    assert check.ok is False and "libx264" in check.detail and "aac" in check.detail


def test_low_disk_space_fails_with_advice(paths, monkeypatch):
    monkeypatch.setattr(doctor, "disk_free_bytes", lambda p: 500 * 1024**2)
    check = doctor._disk(paths)
    assert check.ok is False and "0.5 GB free" in check.detail and "free at least 2 GB" in check.detail


def test_unwritable_data_folder_fails(paths, monkeypatch):
    import tempfile

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", refuse)
    check = doctor._writable(paths)
    assert check.ok is False and "STUDIO_HOME" in check.detail


def test_engine_cache_counts_stale_and_incomplete_engines(paths):
    stale = paths.engines / "abc-OtherGPU-sm86-fp16-1"
    stale.mkdir(parents=True)
    (stale / "model.engine").write_bytes(b"x" * 2000)
    key = {
        "model_sha256": "abc",
        "gpu_name": "Some Other GPU",
        "compute_capability": "8.6",
        "tensorrt_version": "10.0",
        "ort_version": "1.0",
        "precision": "fp16",
        "profile": "p",
    }
    (stale / "manifest.json").write_text(json.dumps({"key": key, "model": "m.onnx"}))
    (paths.engines / "half-built").mkdir()
    check = doctor._engine_cache(paths)
    assert "2 engine(s)" in check.detail
    assert "1 built for another GPU or runtime version, 1 incomplete" in check.detail


def test_a_crashing_check_is_reported_not_raised(paths, monkeypatch):
    def boom():
        raise RuntimeError("driver exploded")

    monkeypatch.setattr(doctor, "_gpu", boom)
    checks = doctor.run_checks(paths, checksums=False)
    failed = [c for c in checks if c.ok is False]
    assert [c.name for c in failed] == ["gpu"] and "driver exploded" in failed[0].detail


# ---------------------------------------------------------------- which device, and why (studio/ops/device.py)

RTX_4070 = 'echo "NVIDIA GeForce RTX 4070, 581.57, 12282, 900, 8.9"\n'


def _fake_dists(site: Path, dists: dict[str, str], requires: dict[str, list[str]] | None = None) -> None:
    for name, version in dists.items():
        info = site / f"{name}-{version}.dist-info"
        info.mkdir(parents=True)
        lines = [f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"]
        lines += [f"Requires-Dist: {r}\n" for r in (requires or {}).get(name, [])]
        (info / "METADATA").write_text("".join(lines))


@pytest.fixture
def gpu_machine(tmp_path, monkeypatch):
    """An RTX 4070 with a CUDA 13 driver; no GPU packages installed until a test adds them."""
    monkeypatch.setenv("PATH", str(_fake_tool(tmp_path / "bin", "nvidia-smi", RTX_4070).parent))
    monkeypatch.delenv("STUDIO_GPU", raising=False)
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    return site


def test_start_message_names_the_gpu_cuda_and_what_the_lip_sync_still_needs(gpu_machine, tmp_path, monkeypatch):
    from studio.ops import device

    _fake_dists(gpu_machine, {"torch": "2.13.0+cu130", "onnxruntime_gpu": "1.31.1", "tensorrt_cu13": "10.16.1.11"})
    report = device.describe(tmp_path / "models")
    assert report.device == "gpu"
    assert report.headline.startswith("NVIDIA GeForce RTX 4070, CUDA 13.0: neural lip-sync available after downloading")
    assert "TensorRT 10.16.1.11" in report.text()
    # once the weights are in the model cache, it says so
    from engines.animate.neural.musetalk import MuseTalkWeights

    weights = MuseTalkWeights(tmp_path / "models")
    files = [weights.unet_weights, weights.unet_config, weights.vae_dir / "config.json"]
    files += [weights.vae_dir / "diffusion_pytorch_model.safetensors", weights.whisper_dir / "config.json"]
    for path in [*files, weights.whisper_dir / "model.safetensors"]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    assert device.describe(tmp_path / "models").headline == "NVIDIA GeForce RTX 4070, CUDA 13.0: neural lip-sync ready"


def test_pypi_linux_torch_counts_as_a_cuda_build_by_the_wheels_it_needs(gpu_machine, monkeypatch):
    from studio.ops import device

    _fake_dists(
        gpu_machine, {"torch": "2.13.0"}, {"torch": ['cuda-toolkit[cublas]==13.0.3; platform_system == "Linux"']}
    )
    packages = device.installed_gpu_packages()
    assert packages.torch_cuda == "13.0" and packages.onnxruntime_gpu is None
    report = device.describe(None, packages=packages)
    assert report.device == "gpu" and "PyTorch 2.13.0 on CUDA" in report.text()


def test_gpu_without_the_gpu_set_says_what_to_run(gpu_machine, monkeypatch, tmp_path):
    from studio.ops import device

    cpu_only = device.GpuPackages(torch="2.13.0+cpu")
    report = device.describe(None, packages=cpu_only)
    assert report.device == "cpu" and report.fixable
    assert report.headline == "NVIDIA GeForce RTX 4070 found, but the GPU packages are not installed: CPU rendering"
    assert "launch.bat" in report.text()
    # after a failed install the launcher left its mark in the environment: retrying needs STUDIO_GPU=on
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / device.FAILED_MARK).touch()
    monkeypatch.setattr(device.sys, "prefix", str(tmp_path / "env"))
    report = device.describe(None, packages=cpu_only)
    assert "could not install the GPU set" in report.headline and "STUDIO_GPU=on" in report.text()


@pytest.mark.parametrize(
    ("smi", "expected"),
    [
        ('echo "NVIDIA GeForce RTX 3060, 550.54.14, 12288, 0, 8.6"', "driver 550.54.14 is older than CUDA 13.0 needs"),
        ('echo "NVIDIA GeForce GTX 1080, 581.57, 8192, 0, 6.1"', "(compute 6.1) is older than the GPU set supports"),
    ],
)
def test_gpu_the_cuda_13_set_cannot_use_renders_on_the_cpu_and_says_why(tmp_path, monkeypatch, smi, expected):
    from studio.ops import device

    monkeypatch.setenv("PATH", str(_fake_tool(tmp_path, "nvidia-smi", smi + "\n").parent))
    monkeypatch.delenv("STUDIO_GPU", raising=False)
    report = device.describe(None, packages=device.GpuPackages(torch="2.13.0+cu130", torch_cuda="13.0"))
    assert report.device == "cpu" and expected in report.headline and report.headline.endswith("CPU rendering")


def test_no_gpu_and_switched_off_are_told_plainly(tmp_path, monkeypatch):
    from studio.ops import device

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("STUDIO_GPU", raising=False)
    assert device.describe().headline == "no NVIDIA GPU found: CPU rendering"

    monkeypatch.setenv("PATH", str(_fake_tool(tmp_path / "bin", "nvidia-smi", RTX_4070).parent))
    monkeypatch.setenv("STUDIO_GPU", "off")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    report = device.describe(packages=device.GpuPackages(torch="2.13.0+cu130", torch_cuda="13.0"))
    assert report.device == "cpu" and "switched off (STUDIO_GPU=off)" in report.headline
    device.apply_switch()
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "-1"  # PyTorch and ONNX Runtime see no GPU either


def test_first_start_prints_the_device_before_the_ui_starts(tmp_path, monkeypatch, capsys):
    import studio.ui.app
    from studio.cli import main

    started = []
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("STUDIO_GPU", raising=False)
    monkeypatch.setattr(studio.ui.app, "launch", lambda **kw: started.append(capsys.readouterr().out))
    assert main([]) == 0
    assert started == ["Device: no NVIDIA GPU found: CPU rendering\n"]


def test_doctor_and_models_tab_give_the_same_answer_and_both_ways_to_switch(paths, tmp_path, monkeypatch):
    from studio.ui.models_tab import device_markdown

    monkeypatch.setenv("PATH", str(_fake_tool(tmp_path / "bin", "nvidia-smi", RTX_4070).parent))
    monkeypatch.delenv("STUDIO_GPU", raising=False)
    checks = _by_name(doctor._device(paths))
    headline = checks["device"].detail.split(";")[0]
    assert headline.startswith("NVIDIA GeForce RTX 4070")
    assert "launch.bat" in checks["switch to GPU"].detail and "requirements-gpu.txt" in checks["switch to GPU"].detail
    assert "STUDIO_GPU=off" in checks["switch to CPU"].detail and "launch.bat" in checks["switch to CPU"].detail

    class FakeStudio:
        def __init__(self, p):
            self.paths = p

    shown = device_markdown(FakeStudio(paths))
    assert f"**Device:** {headline}" in shown and "STUDIO_GPU=off" in shown
