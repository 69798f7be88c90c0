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
