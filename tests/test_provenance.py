"""Provenance: every export says it is AI-generated; the optional watermark survives a re-encode."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from studio.cli import main
from studio.render import provenance
from studio.render.video import VideoWriter, probe


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _reencode(src: Path, dst: Path, *args: str) -> Path:
    subprocess.run(
        [
            _ffmpeg(),
            "-y",
            "-nostdin",
            "-loglevel",
            "error",
            "-i",
            str(src),
            "-c:v",
            "libx264",
            *args,
            "-c:a",
            "copy",
            str(dst),
        ],
        check=True,
    )
    return dst


@pytest.fixture(scope="module")
def portrait_frames(demo_portrait) -> list[np.ndarray]:
    """3 s of a talking-head-like clip: a still portrait whose mouth region moves every frame."""
    from PIL import Image

    still = np.asarray(Image.open(demo_portrait).convert("RGB").resize((512, 512)))
    frames = []
    for i in range(75):
        f = still.copy()
        f[300:380, 200:320] = np.roll(still, int(round(4 * np.sin(i / 2))), axis=0)[300:380, 200:320]
        frames.append(f)
    return frames


def _write(path: Path, frames, *, metadata=None, mark: bool) -> Path:
    prov = provenance.for_render(voice=None, voice_description="default voice", animator="procedural", watermark=mark)
    with VideoWriter(path, 512, 512, fps=25, metadata=prov.metadata() if metadata is None else metadata) as w:
        for f in frames:
            w.write_frame(prov.mark(f))
    return path


def test_watermark_survives_reencode_at_crf_28_and_verify_reads_it(tmp_path, portrait_frames, capsys):
    video = _write(tmp_path / "marked.mp4", portrait_frames, metadata={}, mark=True)
    reencoded = _reencode(video, tmp_path / "crf28.mp4", "-crf", "28", "-preset", "medium")
    assert reencoded.stat().st_size < video.stat().st_size  # really a lossier copy

    reading = provenance.verify_video(reencoded).watermark
    assert reading.found and reading.watermark_id == provenance.studio_watermark_id()

    assert main(["verify", str(reencoded)]) == 0
    out = capsys.readouterr().out
    assert f"watermark: found, id {provenance.studio_watermark_id()}" in out
    assert "AI-generated video made with Avatar Studio" in out


def test_watermark_survives_a_low_bitrate_reencode(tmp_path, portrait_frames):
    video = _write(tmp_path / "marked.mp4", portrait_frames, metadata={}, mark=True)
    low = _reencode(video, tmp_path / "low.mp4", "-b:v", "200k")
    assert provenance.verify_video(low).watermark.watermark_id == provenance.studio_watermark_id()


def test_watermark_is_invisible_and_changes_only_brightness(portrait_frames):
    frame = portrait_frames[0]
    marked = provenance.watermark_frame(frame)
    diff = marked.astype(np.int16) - frame.astype(np.int16)
    mse = float(np.mean(diff.astype(np.float64) ** 2))
    assert 10 * np.log10(255**2 / mse) > 42  # PSNR, dB
    assert np.abs(diff).max() <= provenance.STEP / 2 + 1
    # The same change on R, G and B: colour is untouched (except where clipping at 0/255).
    assert np.mean(np.ptp(diff, axis=2) <= 1) > 0.99


def test_unmarked_video_has_no_watermark_and_verify_exits_3(tmp_path, portrait_frames, capsys):
    video = _write(tmp_path / "plain.mp4", portrait_frames[:25], metadata={}, mark=False)
    reading = provenance.verify_video(video).watermark
    assert not reading.found and reading.frames == 25
    assert main(["verify", str(video)]) == 3
    captured = capsys.readouterr()
    assert "watermark: none found" in captured.out
    assert captured.err.startswith("error: no provenance found")


def test_metadata_marks_ai_generated_and_survives_reencode(tmp_path, portrait_frames):
    prov = provenance.for_render(voice="Anna", voice_description="voice match toward Anna", animator="procedural")
    video = _write(tmp_path / "tagged.mp4", portrait_frames[:25], metadata=prov.metadata(), mark=False)
    for path in (video, _reencode(video, tmp_path / "again.mp4", "-crf", "28")):
        tags = probe(path)["metadata"]  # PyAV, i.e. what ffprobe shows
        assert "AI-generated" in tags["comment"]
        assert "Avatar Studio" in tags["description"] and "Piper" in tags["description"]
        data = json.loads(tags["synopsis"])
        assert data["ai_generated"] is True and data["tool"] == "Avatar Studio"
        assert any("WORLD voice match" in m for m in data["models"])
        assert "Anna" in data["consent"] and "permission" in data["consent"]


def test_verify_reports_tags_without_a_watermark(tmp_path, portrait_frames, capsys):
    prov = provenance.for_render(voice=None, voice_description="default voice", animator="procedural")
    video = _write(tmp_path / "tagged.mp4", portrait_frames[:25], metadata=prov.metadata(), mark=False)
    assert main(["verify", str(video), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["found"] and report["ai_marked"] and not report["watermark"]["found"]
    assert report["provenance"]["consent"].startswith("Voice consent: the built-in synthetic voice")


@pytest.mark.parametrize("content", [b"", b"not a video at all" * 100, b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200])
def test_verify_unreadable_file_exits_2_with_one_line(tmp_path, capsys, content):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    assert main(["verify", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")


def test_verify_missing_file_exits_2(tmp_path, capsys):
    assert main(["verify", str(tmp_path / "nope.mp4")]) == 2
    assert "cannot find the video" in capsys.readouterr().err


def test_payload_checksum_rejects_a_damaged_payload():
    payload = bytearray(provenance.payload_bytes("00010001"))
    assert provenance._payload_id(bytes(payload)) == "00010001"
    payload[3] ^= 0x10
    assert provenance._payload_id(bytes(payload)) is None


def test_render_with_watermark_exports_tags_watermark_and_manifest(tmp_path, studio, demo_portrait):
    from studio.render.pipeline import RenderJob, RenderRequest

    out = tmp_path / "hello.mp4"
    result = RenderJob(
        studio,
        RenderRequest(
            portrait=demo_portrait, out=out, text="Hello there, this is a test.", preset="512", watermark=True
        ),
    ).run()
    tags = probe(result.video)["metadata"]
    assert "AI-generated" in tags["comment"]
    manifest = json.loads(result.manifest.read_text())
    assert manifest["provenance"]["ai_generated"] is True
    assert manifest["provenance"]["watermark_id"] == provenance.studio_watermark_id()
    assert "TTS: Piper en_US-joe-medium" in manifest["provenance"]["models"]

    again = _reencode(result.video, tmp_path / "shared.mp4", "-crf", "28")
    check = provenance.verify_video(again)
    assert check.ai_marked and check.watermark.watermark_id == provenance.studio_watermark_id()


def test_render_without_watermark_still_tags_the_export(tmp_path, studio, demo_portrait):
    from studio.render.pipeline import RenderJob, RenderRequest

    out = tmp_path / "plain.mp4"
    result = RenderJob(studio, RenderRequest(portrait=demo_portrait, out=out, text="Hello there.", preset="512")).run()
    check = provenance.verify_video(result.video)
    assert check.ai_marked and check.provenance["watermark_id"] is None
    assert not check.watermark.found


def test_watermark_fits_any_frame_size_and_leaves_the_ragged_edge_alone(portrait_frames):
    frame = np.ascontiguousarray(portrait_frames[0][:500, :300])
    marked = provenance.watermark_frame(frame)
    assert marked.shape == frame.shape and marked.dtype == np.uint8
    assert np.array_equal(marked[496:], frame[496:]) and np.array_equal(marked[:, 288:], frame[:, 288:])
    assert provenance.read_watermark([marked]).watermark_id == provenance.studio_watermark_id()
    tiny = np.ascontiguousarray(portrait_frames[0][:100, :100])
    assert np.array_equal(provenance.watermark_frame(tiny), tiny)  # too small to carry 64 bits: unchanged


def test_verify_reads_what_it_can_of_a_truncated_download(tmp_path, portrait_frames):
    prov = provenance.for_render(voice=None, voice_description="default voice", animator="procedural", watermark=True)
    video = _write(tmp_path / "full.mp4", portrait_frames, metadata=prov.metadata(), mark=True)  # faststart
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(video.read_bytes()[: video.stat().st_size * 9 // 10])
    check = provenance.verify_video(cut)
    assert check.ai_marked and 0 < check.watermark.frames < len(portrait_frames)
    assert check.watermark.watermark_id == provenance.studio_watermark_id()


def test_verify_never_prints_control_characters_from_a_hostile_file(tmp_path, portrait_frames, capsys):
    hostile = {
        "comment": "AI-generated \x1b[2J\x1b[31mgotcha",
        "synopsis": json.dumps(
            {"tool": "Avatar Studio", "ai_generated": True, "version": "\x1b]0;title\x07", "models": ["\x1b[1m"]}
        ),
    }
    video = _write(tmp_path / "hostile.mp4", portrait_frames[:10], metadata=hostile, mark=False)
    assert main(["verify", str(video)]) == 0
    assert "\x1b" not in capsys.readouterr().out


def test_each_installation_makes_its_own_key_once_and_keeps_it(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    key_a = provenance.installation_key(a)
    assert (a / provenance.KEY_FILE).is_file()
    assert provenance.installation_key(a) == key_a  # read back, not made again
    assert provenance.installation_key(b) != key_a


def test_a_mark_reads_back_only_with_the_key_that_made_it(tmp_path, portrait_frames):
    key_a = provenance.installation_key(tmp_path / "a")
    key_b = provenance.installation_key(tmp_path / "b")
    marked = [provenance.watermark_frame(f, key_a) for f in portrait_frames[:10]]
    assert provenance.read_watermark(marked, key_a).watermark_id == provenance.studio_watermark_id()
    assert not provenance.read_watermark(marked, key_b).found


def test_verify_reads_the_marks_of_this_installation(tmp_path, portrait_frames, monkeypatch, capsys):
    video = _write(tmp_path / "marked.mp4", portrait_frames[:25], mark=True, metadata={})
    assert main(["verify", str(video)]) == 0  # this data folder's key made the mark
    assert "watermark: found" in capsys.readouterr().out
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "another-installation"))
    assert main(["verify", str(video)]) == 3  # no tags, and another key: nothing to read
    out = capsys.readouterr()
    assert "watermark: none found" in out.out and out.err.startswith("error: ")


def test_a_damaged_key_file_is_one_error_line(tmp_path, portrait_frames, monkeypatch, capsys):
    home = tmp_path / "home"
    home.mkdir()
    (home / provenance.KEY_FILE).write_text("not a key")
    video = _write(tmp_path / "clip.mp4", portrait_frames[:5], mark=False)
    monkeypatch.setenv("STUDIO_HOME", str(home))
    assert main(["verify", str(video)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: the watermark key") and "damaged" in err[0]
    assert (home / provenance.KEY_FILE).read_text() == "not a key"  # left for the user to restore
