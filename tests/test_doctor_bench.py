"""`app.py bench`: one command times every render stage and writes a JSON report."""

from __future__ import annotations

import json

from tests.test_cli_render import assert_one_error_line, cli


def test_bench_prints_per_stage_table_and_writes_json(tmp_path):
    out = tmp_path / "results" / "bench.json"
    proc = cli("bench", "--short", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    for row in ("TTS", "landmarks", "animation", "encode", "whole render", "RTF"):
        assert row in proc.stdout
    report = json.loads(out.read_text())
    cold, cached = report["renders"]
    for stage in ("load", "tts", "landmarks", "animate", "encode"):
        assert cold["stages_ms"][stage] > 0
    assert cold["video_s"] > 2 and cold["frames"] == round(cold["video_s"] * 25)
    assert abs(cold["rtf"] - cold["wall_ms"] / 1000 / cold["video_s"]) < 1e-3
    # The second render reuses the cached TTS audio and landmarks.
    assert cached["stages_ms"]["tts"] < cold["stages_ms"]["tts"]
    assert report["machine"]["cpus"] >= 1 and "load_avg_1min" in report["machine"]


def test_bench_with_unknown_preset_gives_one_error_line(tmp_path):
    assert_one_error_line(cli("bench", "--preset", "8k", "--out", str(tmp_path / "x.json")), 2, "unknown preset")
