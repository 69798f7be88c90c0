"""`app.py engines build | list | clear`, the neural notice in renders, and a start-up free of GPU packages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from studio.cli import main
from tests.neural_fixtures import speech_like

ROOT = Path(__file__).resolve().parent.parent
CUDA_ONLY = ("tensorrt", "torch_tensorrt", "pycuda", "cuda", "cupy", "triton", "nvidia")


def test_engines_build_exports_the_tiny_model_and_list_and_tab_show_state_and_size(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path))
    from studio.config import StudioPaths
    from studio.services import Studio
    from studio.ui import models_tab

    studio = Studio(StudioPaths(tmp_path))
    assert models_tab.neural_summary(studio).startswith("Neural lip-sync: weights missing")
    assert models_tab.engine_rows(studio) == []
    assert main(["engines", "build", "--tiny-random", "--allow-cpu", "--mode", "preview"]) == 0
    out = capsys.readouterr().out
    assert "preview runs on CPU (batch 1..1, best 1)" in out
    assert "ONNX graphs are exported and cached" in out
    assert main(["engines", "list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    onnx = [r for r in listing["cache"] if r["kind"] == "onnx"]
    assert len(onnx) == 1 and onnx[0]["valid"] and onnx[0]["bytes"] > 10_000
    assert listing["neural"]["state"] == "ONNX exported" and listing["neural"]["onnx_bytes"] == onnx[0]["bytes"]
    assert main(["engines", "list"]) == 0
    assert "Neural lip-sync: ONNX exported" in capsys.readouterr().out
    # The Models & Engines tab reads the same state: build state and size, and the export's row.
    summary = models_tab.neural_summary(studio)
    assert summary.startswith("Neural lip-sync: ONNX exported") and "; ONNX " in summary and " MB" in summary
    rows = models_tab.engine_rows(studio)
    assert len(rows) == 1 and rows[0][0] == "onnx" and float(rows[0][2]) > 0.0 and "opset 17" in rows[0][3]
    assert main(["engines", "clear", "--all"]) == 0
    assert "removed 1 cached item(s)" in capsys.readouterr().out
    assert main(["engines", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cache"] == []


def test_engines_build_without_weights_says_what_to_download(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path))
    assert main(["engines", "build", "--allow-cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(
        "error: the neural lip-sync weights are not downloaded (musetalk-1.5, sd-vae-ft-mse, whisper-tiny)"
    )
    assert "python app.py models fetch musetalk-1.5" in err and len(err.splitlines()) == 1


def test_engines_build_without_a_gpu_provider_explains_the_choices(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path))
    assert main(["engines", "build", "--tiny-random"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no NVIDIA GPU provider") and "--allow-cpu" in err


def test_render_with_the_neural_engine_on_this_machine_falls_back_and_tells_the_user(tmp_path):
    wav = tmp_path / "speech.wav"
    sf.write(wav, speech_like(0.8), 16_000)
    out = tmp_path / "clip.mp4"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "app.py"),
            "render",
            "--portrait",
            "assets/portrait.png",
            "--audio",
            str(wav),
            "--preset",
            "preview",
            "--animator",
            "musetalk",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert proc.returncode == 0, proc.stderr
    notes = [ln for ln in proc.stderr.splitlines() if ln.startswith("note: ")]
    assert any("neural lip-sync" in n and "procedural animation instead" in n for n in notes), proc.stderr
    manifest = json.loads(out.with_suffix(".json").read_text())
    assert manifest["animator"] == "musetalk"
    assert any("procedural animation instead" in n for n in manifest["notices"])
    assert out.stat().st_size > 1000


def test_starting_the_app_imports_no_gpu_only_package_and_not_the_neural_stack():
    code = (
        "import json, runpy, sys\n"
        "sys.argv = ['app.py', '--help']\n"
        "try:\n    runpy.run_path('app.py', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "from studio.ui.app import build_app\n"
        "build_app()\n"
        "print(json.dumps(sorted(sys.modules)), flush=True)\n"
        "import os; os._exit(0)\n"  # skip interpreter teardown: only the imports matter here
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert proc.returncode == 0, proc.stderr
    modules = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "studio.ui.models_tab" in modules  # the Models & Engines tab really was built
    tops = {m.split(".")[0] for m in modules}
    assert not tops & set(CUDA_ONLY)
    assert "diffusers" not in tops and "engines.animate.neural.engine" not in modules
    assert not any(m.startswith("onnxruntime.capi.onnxruntime_providers") for m in modules)


def test_neural_state_reads_weights_and_builds_from_disk_only(tmp_path):
    from engines.animate.neural.status import build_state, summary

    state = build_state(tmp_path / "models", tmp_path / "cache", tmp_path / "engines")
    assert state["state"] == "weights missing"
    assert "download musetalk-1.5, sd-vae-ft-mse, whisper-tiny" in summary(state)
    assert np.isfinite(state["onnx_bytes"])
