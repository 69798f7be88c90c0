"""bench/bench_neural.py runs end to end in its CPU smoke configuration and writes its JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_neural_bench_smoke_run_writes_speed_split_and_export_stages(tmp_path):
    sys.path.insert(0, str(ROOT / "bench"))
    import bench_neural

    out = tmp_path / "neural.json"
    assert bench_neural.main(["--device", "cpu", "--batches", "2", "--seconds", "0.4", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["meta"]["device"] == "cpu" and data["meta"]["spec"] == "musetalk-tiny"
    assert {r["variant"] for r in data["speed"]} == {"eager", "channels-last"}
    assert all(r["fps"] > 0 for r in data["speed"])
    assert data["split"]["batch"] == 2
    export = data["export"]
    assert export["frames"] == export["frames_encoded"] == 10 and export["mp4_bytes"] > 0
    assert {"prepare_avatar_s", "audio_features_s", "generate_unet_vae_s"} <= set(export["stages_s"])
    assert data["errors"] == [] and data["targets"]["applies"] is False
