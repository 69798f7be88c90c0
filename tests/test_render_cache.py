"""Content-hash caches: an edit re-renders only what changed; damaged cache entries are rebuilt."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import with_prepared_models

from studio.config import DEMO_PORTRAIT, StudioPaths
from studio.errors import CancelledError
from studio.render.pipeline import RenderJob, RenderRequest
from studio.render.video import probe
from studio.services import Studio
from studio.storage import read_npz

FOUR = (
    "[happy] The first sentence is short. The second one is a little longer than that. "
    "[sad] The third sentence will be edited. [neutral] The fourth sentence closes the script."
)
EDITED = FOUR.replace("The third sentence will be edited.", "This third sentence was rewritten by the user.")


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    return Studio(StudioPaths(with_prepared_models(tmp_path_factory.mktemp("cache_home"))))


def render(studio: Studio, out: Path, text: str, **kw):
    return RenderJob(studio, RenderRequest(portrait=DEMO_PORTRAIT, out=out, text=text, preset="preview", **kw)).run()


def video_frames(path: Path) -> int:
    return next(s for s in probe(path)["streams"] if s["type"] == "video")["frames"]


def test_editing_one_sentence_renders_only_that_sentences_chunk(studio, tmp_path):
    first = render(studio, tmp_path / "first.mp4", FOUR)
    assert (first.chunks, first.chunks_reused) == (4, 0)
    calls = []
    original = studio.tts().synthesize

    def counting(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    studio.tts().synthesize = counting
    try:
        edited = render(studio, tmp_path / "edited.mp4", EDITED)
    finally:
        del studio.tts().synthesize
    assert (edited.chunks, edited.chunks_reused) == (4, 3)
    assert len(calls) <= 1  # only the new sentence was spoken (the rest came from the TTS cache)
    assert video_frames(edited.video) == edited.frames


def test_same_render_twice_reuses_every_chunk_and_gives_the_same_length(studio, tmp_path):
    a = render(studio, tmp_path / "a.mp4", FOUR)
    b = render(studio, tmp_path / "b.mp4", FOUR)
    assert b.chunks_reused == b.chunks == 4
    assert b.frames == a.frames == video_frames(b.video)


def test_a_changed_setting_renders_every_chunk_again(studio, tmp_path):
    from engines.animate.base import AnimationSettings

    render(studio, tmp_path / "a.mp4", FOUR)
    other = render(studio, tmp_path / "b.mp4", FOUR, animation=AnimationSettings(lip_amplitude=1.4))
    assert other.chunks_reused == 0


def test_damaged_chunk_is_discarded_and_rendered_again(studio, tmp_path):
    good = render(studio, tmp_path / "good.mp4", FOUR)
    chunks = sorted((studio.paths.cache / "chunks").glob("*/*.mp4"), key=lambda p: p.stat().st_mtime)
    victim = chunks[-1]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\0" * 64
    victim.write_bytes(bytes(data))
    again = render(studio, tmp_path / "again.mp4", FOUR)
    assert again.chunks_reused == again.chunks - 1
    assert again.frames == good.frames == video_frames(again.video)
    third = render(studio, tmp_path / "third.mp4", FOUR)
    assert third.chunks_reused == third.chunks  # the re-rendered chunk was stored intact


@pytest.mark.parametrize("folder", ["tts", "landmarks", "rigs"])
def test_damaged_stage_cache_entry_is_rebuilt(studio, tmp_path, folder):
    render(studio, tmp_path / "warm.mp4", FOUR)
    entries = list((studio.paths.cache / folder).glob("*.npz"))
    assert entries
    for entry in entries:
        entry.write_bytes(b"PK\x03\x04 not really a zip file")
    result = render(studio, tmp_path / "rebuilt.mp4", FOUR + " One more sentence.")
    assert video_frames(result.video) == result.frames

    def loads(path: Path) -> bool:
        try:
            return bool(read_npz(path))
        except Exception:  # noqa: BLE001
            return False

    needed = {"tts": 5, "landmarks": 1, "rigs": 1}[folder]  # what this render used, now rebuilt
    assert sum(loads(e) for e in (studio.paths.cache / folder).glob("*.npz")) >= needed


def test_cancelled_render_keeps_the_existing_export_and_leaves_no_temp_files(studio, tmp_path):
    out = tmp_path / "keep.mp4"
    out.write_bytes(b"previous export")
    cancel = threading.Event()
    job = RenderJob(
        studio,
        RenderRequest(portrait=DEMO_PORTRAIT, out=out, text=EDITED + " And a brand new ending.", preset="preview"),
        cancel=cancel,
        on_chunk=lambda ready: cancel.set(),
    )
    with pytest.raises(CancelledError):
        job.run()
    assert out.read_bytes() == b"previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.mp4"]


def test_chunks_join_without_a_jump_in_the_picture(studio, tmp_path):
    """Sentence edges are invisible: no frame-to-frame change at a chunk boundary stands out."""
    import av

    result = render(studio, tmp_path / "smooth.mp4", FOUR)
    with av.open(str(result.video)) as c:
        frames = [f.to_ndarray(format="gray").astype(np.float32) for f in c.decode(video=0)]
    diffs = np.array([np.abs(frames[i + 1] - frames[i]).mean() for i in range(len(frames) - 1)])
    assert diffs.max() < 6 * np.median(diffs[diffs > 0]) + 2.0


def test_uploaded_audio_renders_in_windows_that_are_reused_and_stay_in_sync(studio, tmp_path):
    import soundfile as sf

    sr = 16000
    t = np.arange(int(23.3 * sr)) / sr
    bursts = (np.sin(2 * np.pi * 1.5 * t) > 0.2).astype(np.float32)
    sf.write(tmp_path / "talk.wav", 0.3 * bursts * np.sin(2 * np.pi * 160 * t), sr)

    def run(name: str):
        return RenderJob(
            studio,
            RenderRequest(portrait=DEMO_PORTRAIT, out=tmp_path / name, audio=tmp_path / "talk.wav", preset="preview"),
        ).run()

    first = run("a.mp4")
    again = run("b.mp4")
    assert first.chunks == 3 and (again.chunks, again.chunks_reused) == (3, 3)
    info = probe(again.video)
    video = next(s for s in info["streams"] if s["type"] == "video")
    audio = next(s for s in info["streams"] if s["type"] == "audio")
    assert video["frames"] == again.frames == first.frames
    assert audio["duration"] == pytest.approx(23.3, abs=0.08)
    assert abs(video["duration"] - audio["duration"]) <= 1 / 25 + 1e-3
