"""Emotional prosody on the voice: pitch, contour, effort and pauses, with timings that follow.

Pitch is measured with librosa's pYIN, not with WORLD (which makes the change).
"""

from __future__ import annotations

import numpy as np
import pytest

from engines.timing import PhonemeTiming, WordTiming
from engines.tts.base import Speech
from engines.voice.prosody import Prosody, apply, limit_peaks, pauses, resynthesize, stretch_pauses

SENTENCE = "We walked along the river, and then we went home for dinner."


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    from voice_fixtures import make_studio

    return make_studio(tmp_path_factory.mktemp("emotion_prosody_home"))


@pytest.fixture(scope="module")
def plain(studio):
    """The default voice's own speech, no emotion."""
    return studio.tts().synthesize(SENTENCE)


def pyin_f0(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """F0 in Hz per 23 ms frame, NaN where unvoiced."""
    import librosa

    f0, voiced, _ = librosa.pyin(audio, fmin=70, fmax=500, sr=sample_rate, frame_length=1024)
    return np.where(voiced, f0, np.nan)


def semitones(a: float, b: float) -> float:
    return float(12 * np.log2(a / b))


def loudness_db(audio: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))))


def test_happy_speaks_higher_and_louder_than_sad(plain):
    sr = plain.sample_rate
    happy = resynthesize(plain.audio, sr, Prosody.of("happy"))
    sad = resynthesize(plain.audio, sr, Prosody.of("sad"))
    assert len(happy) == len(sad) == len(plain.audio)  # pitch and effort never change the timing
    up = semitones(np.nanmedian(pyin_f0(happy, sr)), np.nanmedian(pyin_f0(sad, sr)))
    assert up >= 2.5, up
    assert loudness_db(happy) - loudness_db(sad) >= 2.5


def test_sad_falls_and_surprised_rises_at_the_end_of_the_sentence(plain):
    sr = plain.sample_rate
    # The same level and range, only the final contour differs: compare the last voiced frames.
    shapes = {
        "base": Prosody(tilt_db=0.01),
        "falling": Prosody(final_semitones=-4.0),
        "rising": Prosody(final_semitones=4.0),
    }
    curves = {name: pyin_f0(resynthesize(plain.audio, sr, p), sr) for name, p in shapes.items()}

    def end_and_start(name: str) -> tuple[float, float]:
        both = np.flatnonzero(np.isfinite(curves[name]) & np.isfinite(curves["base"]))
        end = both[both >= both[-1] - int(0.3 * sr / 256)]  # the last 0.3 s voiced (pYIN hop: 256)
        start = both[both < len(curves[name]) // 2]
        return float(np.median(curves[name][end])), float(np.median(curves[name][start]))

    (base_end, base_start), (fall_end, fall_start), (rise_end, rise_start) = map(end_and_start, shapes)
    assert semitones(fall_end, base_end) < -1.5 and semitones(rise_end, base_end) > 1.5
    # only the end moves
    assert abs(semitones(fall_start, base_start)) < 0.5 and abs(semitones(rise_start, base_start)) < 0.5


def test_strength_scales_the_change_from_neutral():
    half, full, double = (Prosody.of("sad", k) for k in (0.5, 1.0, 2.0))
    assert Prosody.of("sad", 0.0) == Prosody()
    assert half.pitch_semitones == pytest.approx(full.pitch_semitones / 2)
    assert double.effort_db == pytest.approx(2 * full.effort_db)
    assert double.rate == pytest.approx(full.rate**2) and double.rate < full.rate < half.rate < 1
    assert not Prosody.of("happy", 0.0).changes_pitch_or_timbre and Prosody.of("happy", 0.5).changes_pitch_or_timbre


def test_a_stronger_emotion_moves_the_voice_further(plain):
    sr = plain.sample_rate
    f0 = {k: np.nanmedian(pyin_f0(resynthesize(plain.audio, sr, Prosody.of("happy", k)), sr)) for k in (0.5, 1.5)}
    assert semitones(f0[1.5], f0[0.5]) >= 1.0


def test_louder_emotion_stays_louder_with_its_peaks_limited():
    sr = 22_050
    t = np.arange(sr) / sr
    loud = (1.3 * np.sin(2 * np.pi * 220 * t) * (t > 0.5)).astype(np.float32)  # peaks at 1.3 in the second half
    quiet = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    out = limit_peaks(loud + quiet, sr)
    assert np.max(np.abs(out)) <= 0.98 + 1e-6
    # the quiet first half is untouched: only the peaks were turned down, not the whole clip
    assert np.allclose(out[: int(0.45 * sr)], quiet[: int(0.45 * sr)], atol=1e-6)


def bursts() -> Speech:
    """Three tone "words" with silences between them, and their timings."""
    sr = 16_000
    rng = np.random.default_rng(0)
    parts, words, t = [], [], 0.0
    for i, (length, gap) in enumerate(((0.4, 0.3), (0.5, 0.2), (0.3, 0.25))):
        n = int(length * sr)
        parts.append((0.5 * np.sin(2 * np.pi * (200 + 50 * i) * np.arange(n) / sr)).astype(np.float32))
        words.append(WordTiming(f"w{i}", t, t + length))
        parts.append(rng.normal(0, 1e-5, int(gap * sr)).astype(np.float32))
        t += length + gap
    phonemes = [PhonemeTiming("a", w.start, w.end) for w in words]
    return Speech(np.concatenate(parts), sr, phonemes=phonemes, words=words, text="w0 w1 w2")


@pytest.mark.parametrize("factor", [0.6, 1.8])
def test_longer_or_shorter_pauses_move_every_timing_by_exactly_the_samples_inserted(factor):
    speech = bursts()
    sr = speech.sample_rate
    found = pauses(speech.audio, sr)
    assert len(found) == 3  # the two gaps between words and the one after the last
    out = stretch_pauses(speech, factor)
    gaps = sum(b - a for a, b in found)
    assert abs(len(out.audio) - (len(speech.audio) + (factor - 1) * gaps)) <= 3 * len(found)
    for before, after, ph in zip(speech.words, out.words, out.phonemes):
        assert (ph.start, ph.end) == (after.start, after.end)
        a, b = round(before.start * sr), round(after.start * sr)
        n = round((before.end - before.start) * sr)
        assert round((after.end - after.start) * sr) == n  # words keep their length
        # the word's samples are exactly where its new timing says
        assert np.array_equal(out.audio[b : b + n], speech.audio[a : a + n])
    new_gaps = [out.words[i + 1].start - out.words[i].end for i in range(2)]
    old_gaps = [speech.words[i + 1].start - speech.words[i].end for i in range(2)]
    assert new_gaps == pytest.approx([g * factor for g in old_gaps], abs=0.012)


def test_sad_speech_keeps_its_timings_on_the_spoken_words(studio):
    """Sad at strength 2 lengthens the pauses between words: each word's sound is found exactly
    where its new timing says (against the same speech before the pauses changed)."""
    from studio.voice.speakers import speaker_for

    prosody = Prosody.of("sad", 2.0)
    base = studio.tts().synthesize(SENTENCE, emotion="sad", strength=2.0)  # the same take: seeded noise
    shaped = resynthesize(base.audio, base.sample_rate, prosody)
    out = speaker_for(studio, None).synthesize(SENTENCE, emotion="sad", strength=2.0)
    sr = out.sample_rate
    assert out.duration > base.duration + 0.05  # the pause after "river," and the end grew
    assert [w.word for w in out.words] == [w.word for w in base.words]
    moved = 0.0
    for before, after in zip(base.words, out.words):
        a, b = round(before.start * sr), round(after.start * sr)
        n = min(round((before.end - before.start) * sr), round(0.06 * sr))
        ours, theirs = out.audio[b : b + n], shaped[a : a + n]
        assert np.corrcoef(ours, theirs)[0, 1] > 0.99, before.word  # the limiter may scale, never move
        moved = max(moved, after.start - before.start)
    assert moved > 0.05  # later words really moved


def test_every_emotion_stays_the_same_person(studio, plain):
    """Resemblyzer cosine between each emotion and the neutral voice of the same sentence."""
    from studio.voice.speakers import speaker_for

    speaker = speaker_for(studio, None)
    encoder = studio.engine("speaker", "resemblyzer")
    neutral = encoder.embed(plain.audio, plain.sample_rate)
    for emotion in ("happy", "sad", "angry", "surprised"):
        speech = speaker.synthesize(SENTENCE, emotion=emotion)
        cosine = float(np.dot(encoder.embed(speech.audio, speech.sample_rate), neutral))
        assert cosine >= 0.8, (emotion, cosine)


def test_apply_without_any_change_returns_the_speech_unchanged(plain):
    out = apply(plain, Prosody())
    assert np.array_equal(out.audio, limit_peaks(plain.audio, plain.sample_rate))
    assert out.words == plain.words and out.phonemes == plain.phonemes


def test_an_xtts_clone_gets_the_same_emotion_post_processing(studio, plain):
    """The XTTS worker only speaks (at the emotion's speed); pitch, effort and pauses are added here."""
    import soxr

    from studio.voice.speakers import XttsSpeaker

    class FakeWorker:  # stands in for the XTTS-v2 process: returns the default voice at 24 kHz
        sample_rate = 24_000
        speeds: list[float] = []

        def synthesize_audio(self, text, latents, *, speed=1.0):
            self.speeds.append(speed)
            return soxr.resample(plain.audio, plain.sample_rate, self.sample_rate).astype(np.float32)

    speaker = XttsSpeaker.__new__(XttsSpeaker)  # no model, no profile on disk: only what synthesize uses
    speaker.engine, speaker.sample_rate, speaker._timing_tts = FakeWorker(), 24_000, studio.tts()
    speaker.profile = type("P", (), {"xtts_latents_path": "unused.safetensors"})()
    happy = speaker.synthesize(SENTENCE, emotion="happy")
    sad = speaker.synthesize(SENTENCE, emotion="sad")
    assert FakeWorker.speeds == pytest.approx([Prosody.of("happy").rate, Prosody.of("sad").rate])
    up = semitones(np.nanmedian(pyin_f0(happy.audio, 24_000)), np.nanmedian(pyin_f0(sad.audio, 24_000)))
    assert up >= 2.5 and loudness_db(happy.audio) - loudness_db(sad.audio) >= 2.5
    assert sad.duration > happy.duration  # sad's longer pauses
    assert sad.words[-1].end <= sad.duration and [w.word for w in sad.words] == SENTENCE.split()
