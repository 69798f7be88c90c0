"""Subtitles of a real render: the SRT/VTT beside the MP4 follow the spoken words (within 100 ms of
the TTS word timings, located in the MP4's own audio track), and burned-in text appears only while a
cue is on screen, inside the safe area."""

from __future__ import annotations

import re

import numpy as np
import pytest

from studio.config import StudioPaths
from studio.render.pipeline import RenderJob, RenderRequest
from studio.render.subtitles import read_subtitles
from studio.render.video import resample
from studio.services import Studio
from studio.voice.audio import load_audio
from studio.voice.speakers import DefaultSpeaker

pytestmark = pytest.mark.slow

SCRIPT = (
    "[happy] Hello and welcome to our little bakery on the corner. [pause 1.5s] "
    "[neutral] Today we bake fresh bread together, step by step."
)


@pytest.fixture(scope="module")
def renders(tmp_path_factory, demo_portrait):
    """The same script rendered with subtitle files and with burned-in subtitles; the TTS output
    the renders used is recorded as it is produced."""
    home = tmp_path_factory.mktemp("subs_home")
    studio = Studio(StudioPaths(home))  # empty caches: every sentence is really synthesized
    spoken = []
    real = DefaultSpeaker.synthesize

    def recording(self, text, **kwargs):
        speech = real(self, text, **kwargs)
        spoken.append(speech)
        return speech

    mp = pytest.MonkeyPatch()
    mp.setattr(DefaultSpeaker, "synthesize", recording)
    try:
        out = home / "exports"
        plain = RenderJob(
            studio, RenderRequest(portrait=demo_portrait, out=out / "plain.mp4", text=SCRIPT, subtitles=True)
        ).run()
        burned = RenderJob(
            studio,
            RenderRequest(
                portrait=demo_portrait, out=out / "burned.mp4", text=SCRIPT, subtitles=True, burn_subtitles=True
            ),
        ).run()
    finally:
        mp.undo()
    return plain, burned, spoken


def _offset_in(track: np.ndarray, piece: np.ndarray) -> float:
    """Where ``piece`` starts inside ``track`` (both mono at the same rate), in samples."""
    n = 1 << int(np.ceil(np.log2(len(track) + len(piece))))
    corr = np.fft.irfft(np.fft.rfft(track, n) * np.conj(np.fft.rfft(piece, n)), n)
    return float(np.argmax(corr[: len(track)]))


def test_srt_and_vtt_are_written_beside_the_mp4(renders):
    plain, _, _ = renders
    assert [p.name for p in plain.subtitles] == ["plain.srt", "plain.vtt"]
    assert all(p.parent == plain.video.parent for p in plain.subtitles)
    srt, vtt = (read_subtitles(p) for p in plain.subtitles)
    assert [c.text for c in srt] == [c.text for c in vtt] and len(srt) >= 2
    words = " ".join(c.text.replace("\n", " ") for c in srt)
    assert words == (
        "Hello and welcome to our little bakery on the corner. Today we bake fresh bread together, step by step."
    )


def test_subtitle_cues_are_within_100_ms_of_the_spoken_words(renders):
    plain, _, spoken = renders
    sentences = spoken[:2]  # the first render synthesized both sentences (the second hit the cache)
    assert [s.text for s in sentences] == [
        "Hello and welcome to our little bakery on the corner.",
        "Today we bake fresh bread together, step by step.",
    ]
    track, rate = load_audio(plain.video)
    # locate each synthesized sentence in the MP4's own (AAC) audio, then place its TTS word timings there
    known = []
    for speech in sentences:
        piece = resample(speech.audio, speech.sample_rate, rate)
        start = _offset_in(track, piece) / rate
        known += [(w.word, w.start + start, w.end + start) for w in speech.words]
    cues = read_subtitles(plain.subtitles[0])
    i = 0
    for cue in cues:
        n = len(cue.text.split())
        first, last = known[i], known[i + n - 1]
        assert cue.text.split()[0] == first[0] and cue.text.split()[-1] == last[0]
        assert abs(cue.start - first[1]) <= 0.1, (cue, first)
        assert abs(cue.end - last[2]) <= 0.1 or (cue.end > last[2] and cue.end - cue.start <= 0.75), (cue, last)
        i += n
    assert i == len(known)


def _frame_at(path, t: float) -> np.ndarray:
    import av

    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        for frame in c.decode(stream):
            if frame.time is not None and frame.time >= t - 1e-3:
                return frame.to_ndarray(format="rgb24")
    raise AssertionError(f"no frame at {t} s")


def test_burned_in_subtitles_show_only_while_a_cue_is_on_screen_inside_the_safe_area(renders, tmp_path):
    plain, burned, _ = renders
    cues = read_subtitles(plain.subtitles[0])
    during = (cues[0].start + cues[0].end) / 2
    pause = (cues[0].end + cues[1].start) / 2
    assert cues[1].start - cues[0].end > 1.0  # the [pause 1.5s] has no cue
    a, b = _frame_at(plain.video, during), _frame_at(burned.video, during)
    h, w = a.shape[:2]
    strong = np.abs(a.astype(int) - b.astype(int)).max(axis=2) > 80
    ys, xs = np.nonzero(strong)
    assert len(ys) > 300  # the subtitle is there
    assert ys.min() > h * 0.55 and ys.max() < h * 0.94  # lower part of the frame, above the bottom margin
    assert xs.min() > w * 0.05 and xs.max() < w * 0.95
    from PIL import Image

    Image.fromarray(np.concatenate([a, b], axis=1)).save(tmp_path / "burn_in_side_by_side.png")
    # during the pause the two videos show the same picture
    a, b = _frame_at(plain.video, pause), _frame_at(burned.video, pause)
    assert (np.abs(a.astype(int) - b.astype(int)).max(axis=2) > 80).sum() < 20


def test_uploaded_voice_over_gets_subtitles_from_word_timestamps(tmp_path, demo_portrait, studio):
    import soundfile as sf

    from studio import models
    from studio.script import dictation

    if models.status(dictation.BUILT_IN_ASR, studio.paths).state != "ready":
        pytest.skip("the bundled Whisper base model is not prepared")
    speech = studio.tts().synthesize("Fresh bread every morning. See you at the bakery soon!")
    wav = tmp_path / "voice-over.wav"
    sf.write(wav, np.concatenate([np.zeros(speech.sample_rate // 2, np.float32), speech.audio]), speech.sample_rate)
    result = RenderJob(
        studio, RenderRequest(portrait=demo_portrait, out=tmp_path / "upload.mp4", audio=wav, subtitles=True)
    ).run()
    cues = read_subtitles(result.subtitles[0])
    heard = re.findall(r"[a-z]+", " ".join(c.text for c in cues).lower())
    assert heard == "fresh bread every morning see you at the bakery soon".split()
    # Whisper's word times are coarser than TTS timings: the cues still start with their words
    assert abs(cues[0].start - (0.5 + speech.words[0].start)) < 0.35
    last = speech.words[-1]
    assert abs(cues[-1].end - (0.5 + last.end)) < 0.35
