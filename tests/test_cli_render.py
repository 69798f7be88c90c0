"""`app.py render` end to end: a real MP4 from the demo portrait, and clear errors for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.render.video import is_faststart, probe

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        timeout=600,
    )


def assert_one_error_line(proc: subprocess.CompletedProcess, code: int, *phrases: str) -> None:
    assert proc.returncode == code, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    for phrase in phrases:
        assert phrase in lines[0]


@pytest.fixture(scope="module")
def demo_render(tmp_path_factory):
    out = tmp_path_factory.mktemp("render") / "demo.mp4"
    proc = cli(
        "render",
        "--portrait",
        "assets/portrait.png",
        "--text",
        "Hello! Welcome to Avatar Studio.",
        "--subtitles",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    return out, json.loads(proc.stdout)


def test_render_writes_h264_yuv420p_aac_mp4_at_25_fps(demo_render):
    out, summary = demo_render
    info = probe(out)
    video = next(s for s in info["streams"] if s["type"] == "video")
    audio = next(s for s in info["streams"] if s["type"] == "audio")
    assert video["codec"] == "h264" and video["pix_fmt"] == "yuv420p"
    assert (video["width"], video["height"]) == (512, 512)
    assert video["fps"] == pytest.approx(25.0)
    assert audio["codec"] == "aac"
    assert video["frames"] == summary["frames"]


def test_render_audio_and_video_end_within_one_frame(demo_render):
    out, _ = demo_render
    info = probe(out)
    video = next(s for s in info["streams"] if s["type"] == "video")
    audio = next(s for s in info["streams"] if s["type"] == "audio")
    assert video["duration"] > 2.0  # the sentence really was spoken
    assert abs(video["duration"] - audio["duration"]) <= 1 / 25 + 1e-3


def test_render_is_faststart_and_has_a_manifest_and_subtitles(demo_render):
    out, summary = demo_render
    assert is_faststart(out)
    manifest = json.loads(out.with_suffix(".json").read_text())
    assert manifest["ai_generated"] is True
    assert set(manifest["timings_ms"]) >= {"landmarks", "tts", "animate", "encode"}
    srt = out.with_suffix(".srt").read_text()
    assert "Welcome" in srt and "-->" in srt
    assert out.with_suffix(".vtt").read_text().startswith("WEBVTT")


def test_render_frames_move_the_mouth(demo_render):
    """The video is not a still: frames differ while the avatar speaks."""
    import av

    out, _ = demo_render
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24").astype(np.int16) for _, f in zip(range(40), c.decode(video=0))]
    diffs = [np.abs(frames[i] - frames[0]).mean() for i in range(10, 40, 5)]
    assert max(diffs) > 0.2


def test_render_uploaded_audio_instead_of_tts(tmp_path):
    import soundfile as sf

    sr = 16000
    t = np.arange(int(2.0 * sr)) / sr
    envelope = (np.sin(2 * np.pi * 2.0 * t) > 0).astype(np.float32)  # 4 bursts of "speech"
    sf.write(tmp_path / "voice.wav", 0.3 * envelope * np.sin(2 * np.pi * 180 * t), sr)
    out = tmp_path / "uploaded.mp4"
    proc = cli("render", "--portrait", "assets/portrait.png", "--audio", str(tmp_path / "voice.wav"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    audio = next(s for s in probe(out)["streams"] if s["type"] == "audio")
    assert audio["duration"] == pytest.approx(2.0, abs=0.08)


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    (d / "notes.png").write_text("this is not an image")
    Image.fromarray(np.tile(np.linspace(0, 255, 256, dtype=np.uint8), (256, 1))).convert("RGB").save(d / "wall.png")
    import soundfile as sf

    sf.write(d / "silence.wav", np.zeros(16000, np.float32), 16000)
    return d


@pytest.mark.parametrize(
    "args,code,phrase",
    [
        (["--portrait", "missing.png", "--text", "Hi."], 2, "cannot find the portrait"),
        (["--portrait", "{bad}/notes.png", "--text", "Hi."], 2, "JPEG, PNG or WebP"),
        (["--portrait", "{bad}/wall.png", "--text", "Hello there."], 3, "no face found"),
        (["--portrait", "assets/portrait.png", "--text", "   [happy]  "], 2, "script is empty"),
        (["--portrait", "assets/portrait.png", "--text", "Hi.", "--voice", "nobody"], 2, "unknown voice"),
        (["--portrait", "assets/portrait.png", "--audio", "{bad}/silence.wav"], 3, "silent"),
        (["--portrait", "assets/portrait.png", "--text", "Hi.", "--preset", "8k"], 2, "unknown preset"),
    ],
)
def test_bad_input_gives_one_error_line_and_no_output(bad_inputs, tmp_path, args, code, phrase):
    out = tmp_path / "out.mp4"
    proc = cli("render", *[a.replace("{bad}", str(bad_inputs)) for a in args], "--out", str(out))
    assert_one_error_line(proc, code, phrase)
    assert not out.exists()


def test_failed_render_keeps_the_existing_export(bad_inputs, tmp_path):
    out = tmp_path / "keep.mp4"
    out.write_bytes(b"previous export")
    proc = cli("render", "--portrait", str(bad_inputs / "wall.png"), "--text", "Hello.", "--out", str(out))
    assert proc.returncode == 3
    assert out.read_bytes() == b"previous export"
    assert list(tmp_path.iterdir()) == [out]  # no half-written temp files


def test_every_engine_animation_control_is_a_render_option_that_reaches_the_manifest(tmp_path):
    from engines.animate.base import CONTROLS

    out = tmp_path / "controls.mp4"
    values = {c.name: round(c.minimum + 0.25 * (c.maximum - c.minimum), 2) for c in CONTROLS}
    flags = {"expression_strength": "--expression"}
    args = []
    for name, value in values.items():
        args += [flags.get(name, "--" + name.replace("_", "-")), str(value)]
    proc = cli(
        "render",
        "--portrait",
        "assets/portrait.png",
        "--text",
        "Controls.",
        "--preset",
        "preview",
        *args,
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    animation = json.loads(out.with_suffix(".json").read_text())["animation"]
    for name, value in values.items():
        assert animation[name] == pytest.approx(value), name


# ---------------------------------------------------------------------------------------------
# One gate: render runs the same portrait check as `portrait check`


def test_render_refuses_a_photo_the_portrait_check_rejects(tmp_path):
    rolled = tmp_path / "rolled.png"
    Image.open(ROOT / "assets" / "portrait.png").rotate(45, expand=True, fillcolor=(200, 200, 205)).save(rolled)
    check = cli("portrait", "check", str(rolled))
    assert check.returncode == 3
    report = json.loads(check.stdout)  # the JSON report on stdout...
    assert report["verdict"] == "rejected"
    assert_one_error_line(  # ...and one error line on stderr
        subprocess.CompletedProcess(check.args, 3, "", check.stderr), 3, "tilted to the side"
    )
    out = tmp_path / "out.mp4"
    proc = cli("render", "--portrait", str(rolled), "--text", "Hello there.", "--out", str(out))
    assert_one_error_line(proc, 3, "tilted to the side", "looking straight into the camera")
    assert not out.exists()


def test_render_prints_the_portrait_warnings_and_keeps_them_in_the_manifest(tmp_path):
    small = tmp_path / "small.png"
    Image.open(ROOT / "assets" / "portrait.png").resize((400, 400)).save(small)  # a thumbnail: usable, with warnings
    out = tmp_path / "warned.mp4"
    proc = cli("render", "--portrait", str(small), "--text", "Hi.", "--preset", "preview", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    warnings = [ln for ln in proc.stderr.splitlines() if ln.startswith("warning: portrait: ")]
    assert any("Image resolution" in w for w in warnings), proc.stderr
    check = json.loads(out.with_suffix(".json").read_text())["portrait_check"]
    assert check["verdict"] == "usable with warnings"
    assert [f"warning: portrait: {w}" for w in check["warnings"]] == warnings


def test_new_take_prints_its_number_and_take_n_renders_it_again(tmp_path):
    first = cli(
        "render", "--portrait", "assets/portrait.png", "--text", "Hi.", "--preset", "preview", "--new-take",
        "--out", str(tmp_path / "a.mp4"),
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    take = json.loads(first.stdout)["take"]
    assert take > 0 and f"--take {take}" in first.stderr
    again = cli(
        "render", "--portrait", "assets/portrait.png", "--text", "Hi.", "--preset", "preview", "--take", str(take),
        "--out", str(tmp_path / "b.mp4"),
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["chunks_reused"] == 1  # the very same chunk: the same take
