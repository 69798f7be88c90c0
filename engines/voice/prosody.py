"""Emotional prosody for any voice: pitch level and range, sentence-final contour, vocal effort,
spectral tilt and pause length, applied to finished speech with WORLD (``pyworld``).

Every speaker calls this module, so the default Piper voice, the voice match and an XTTS clone
sound happy or sad the same way, from the same numbers in ``presets/emotions.json``:

* ``pitch_semitones``: the whole sentence higher or lower;
* ``pitch_range``: intonation wider (> 1, lively) or flatter (< 1, flat), around the sentence median;
* ``final_semitones`` / ``final_db``: a glide over the last ``FINAL_S`` seconds of voiced speech
  (negative: falling and trailing off, as when sad; positive: rising, as when surprised);
* ``effort_db`` and ``tilt_db``: louder and brighter (dB, and dB per octave above ``TILT_PIVOT_HZ``),
  as a raised voice is, or softer and darker;
* ``rate`` (Piper's length scale, or XTTS's speed) and ``pause`` (silences inside the speech get
  this factor longer); ``noise``: a factor on Piper's noise scale (livelier or more even delivery).

Pitch, envelope and loudness change the samples but never their timing. Pause stretching moves
timings: every phoneme and word timing is moved by exactly the samples inserted or removed before
it, so lips and subtitles stay in sync.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from engines.emotions import clamp_strength, emotion_table
from engines.timing import PhonemeTiming, WordTiming
from engines.tts.base import Speech

FRAME_MS = 3.0  # WORLD frame period, milliseconds (5 ms loses more of the voice's character)
F0_FLOOR, F0_CEIL = 71.0, 500.0  # Hz, adult speech
FINAL_S = 0.8  # the sentence-final contour spans this much of the last voiced speech
TILT_PIVOT_HZ = 500.0  # spectral tilt leaves frequencies below this alone
MAX_TILT_GAIN_DB = 12.0
PAUSE_FLOOR_DB = 40.0  # a pause is quieter than the loudest 10 ms by this much ...
MIN_PAUSE_S = 0.06  # ... for at least this long
PEAK_CEILING = 0.98


@dataclass(frozen=True)
class Prosody:
    """How an emotion changes a voice (the neutral values change nothing)."""

    pitch_semitones: float = 0.0  # level shift of the whole sentence
    pitch_range: float = 1.0  # factor on log-F0 excursions around the sentence median
    final_semitones: float = 0.0  # pitch glide at the sentence end (+ rising, - falling)
    final_db: float = 0.0  # loudness glide at the sentence end (dB)
    effort_db: float = 0.0  # overall loudness change (dB)
    tilt_db: float = 0.0  # dB per octave above TILT_PIVOT_HZ (+ brighter, pressed; - darker, soft)
    rate: float = 1.0  # speaking-rate factor (> 1 faster), for the TTS
    pause: float = 1.0  # factor on pause length inside the speech
    noise: float = 1.0  # factor on Piper's noise scale (expressiveness)

    @classmethod
    def of(cls, emotion: str, strength: float = 1.0) -> Prosody:
        """The prosody of ``emotion`` from ``presets/emotions.json`` at ``strength`` (0 = neutral,
        1 = the preset, 2 = twice as far); unknown emotions are neutral."""
        spec = emotion_table().get(emotion, {}).get("prosody", {})
        known = {f.name for f in fields(cls)}
        return cls(**{k: float(v) for k, v in spec.items() if k in known}).scaled(strength)

    def scaled(self, strength: float) -> Prosody:
        """This prosody ``strength`` times as far from neutral (additive values times ``strength``,
        factors raised to the power ``strength``)."""
        k = clamp_strength(strength)
        if k == 1.0:
            return self
        return replace(
            self,
            pitch_semitones=self.pitch_semitones * k,
            pitch_range=max(0.2, 1.0 + (self.pitch_range - 1.0) * k),
            final_semitones=self.final_semitones * k,
            final_db=self.final_db * k,
            effort_db=self.effort_db * k,
            tilt_db=self.tilt_db * k,
            rate=self.rate**k,
            pause=self.pause**k,
            noise=self.noise**k,
        )

    @property
    def changes_pitch_or_timbre(self) -> bool:
        """Whether the voice must go through the vocoder (pitch, range, contour or tilt change)."""
        return (
            abs(self.pitch_semitones) > 1e-3
            or abs(self.pitch_range - 1.0) > 1e-3
            or abs(self.final_semitones) > 1e-3
            or abs(self.tilt_db) > 1e-3
        )

    def key(self) -> list[float]:
        """The values, rounded, for cache keys."""
        return [round(float(getattr(self, f.name)), 4) for f in fields(self)]

    # -- the signal work, on WORLD parameters (also used by the voice match's own WORLD pass) --

    def shape_f0(
        self, f0: np.ndarray, frame_s: float = FRAME_MS / 1000, energy: np.ndarray | None = None
    ) -> np.ndarray:
        """F0 per frame (Hz, 0 = unvoiced) with level, range and final contour applied; ``energy``
        (per frame, e.g. the envelope's sum) places the contour on the last *audible* voice."""
        f0 = np.asarray(f0, np.float64).copy()
        voiced = f0 > 0
        if not voiced.any():
            return f0
        lf0 = np.log(f0[voiced])
        centre = float(np.median(lf0))
        lf0 = centre + (lf0 - centre) * self.pitch_range + self.pitch_semitones * np.log(2) / 12
        f0[voiced] = np.exp(lf0)
        if abs(self.final_semitones) > 1e-3:
            ramp = self._final_ramp(_audible(voiced, energy), frame_s)
            f0[voiced] *= 2.0 ** (self.final_semitones * ramp[voiced] / 12)
        return f0

    def shape_envelope(self, sp: np.ndarray, sample_rate: int) -> np.ndarray:
        """Spectral envelope ``(frames, bins)`` with the tilt applied (dB per octave above the pivot)."""
        if abs(self.tilt_db) < 1e-3:
            return sp
        freqs = np.linspace(0, sample_rate / 2, sp.shape[1])
        octaves = np.log2(np.maximum(freqs, TILT_PIVOT_HZ) / TILT_PIVOT_HZ)
        gain_db = np.clip(self.tilt_db * octaves, -MAX_TILT_GAIN_DB, MAX_TILT_GAIN_DB)
        return sp * (10 ** (gain_db / 10))[None, :]  # sp is a power spectrum

    def gain(
        self,
        f0: np.ndarray,
        n_samples: int,
        sample_rate: int,
        frame_s: float = FRAME_MS / 1000,
        energy: np.ndarray | None = None,
    ) -> np.ndarray:
        """Per-sample amplitude factor: effort plus the final loudness glide (from WORLD's F0 frames)."""
        db = np.full(len(f0), self.effort_db, np.float64)
        if abs(self.final_db) > 1e-3:
            db += self.final_db * self._final_ramp(_audible(np.asarray(f0) > 0, energy), frame_s)
        t = (np.arange(n_samples) + 0.5) / sample_rate
        frame_t = np.arange(len(f0)) * frame_s
        return (10 ** (np.interp(t, frame_t, db) / 20)).astype(np.float32)

    @staticmethod
    def _final_ramp(voiced: np.ndarray, frame_s: float) -> np.ndarray:
        """0 before the last ``FINAL_S`` of voiced speech, rising to 1 at its last voiced frame; steep
        at first, so the last clearly voiced syllables carry the glide (a sentence often ends in creak)."""
        ramp = np.zeros(len(voiced))
        idx = np.flatnonzero(voiced)
        if not len(idx):
            return ramp
        end = idx[-1]
        span = max(1, int(round(FINAL_S / frame_s)))
        x = np.clip((np.arange(len(voiced)) - (end - span)) / span, 0.0, 1.0)
        ramp = 1.0 - (1.0 - x) ** 2
        ramp[end + 1 :] = 1.0
        return ramp


def _audible(voiced: np.ndarray, energy: np.ndarray | None, floor_db: float = 30.0) -> np.ndarray:
    """Voiced frames no more than ``floor_db`` under the loudest (WORLD also calls a fading creak
    voiced; a contour placed there would not be heard)."""
    if energy is None or not len(energy):
        return voiced
    energy = np.asarray(energy, np.float64)
    return voiced & (energy > energy.max() * 10 ** (-floor_db / 10))


def world_analysis(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """WORLD F0 (Hz), spectral envelope and aperiodicity of mono ``audio`` at ``FRAME_MS`` frames."""
    import pyworld as pw

    x = np.asarray(audio, dtype=np.float64)
    f0, t = pw.dio(x, sample_rate, f0_floor=F0_FLOOR, f0_ceil=F0_CEIL, frame_period=FRAME_MS)
    f0 = pw.stonemask(x, f0, t, sample_rate)
    fft = pw.get_cheaptrick_fft_size(sample_rate, F0_FLOOR)
    sp = pw.cheaptrick(x, f0, t, sample_rate, f0_floor=F0_FLOOR, fft_size=fft)
    ap = pw.d4c(x, f0, t, sample_rate, fft_size=fft)
    return f0, sp, ap


def resynthesize(audio: np.ndarray, sample_rate: int, prosody: Prosody) -> np.ndarray:
    """``audio`` (mono float32) with pitch, tilt and loudness changed; same length, same timing."""
    audio = np.asarray(audio, dtype=np.float32)
    if len(audio) < sample_rate // 20:
        return audio
    if not prosody.changes_pitch_or_timbre:
        f0 = np.zeros(int(len(audio) / sample_rate * 1000 / FRAME_MS) + 1)
        if abs(prosody.final_db) > 1e-3:  # the loudness glide needs to know where the voice ends
            import pyworld as pw

            f0, _ = pw.dio(audio.astype(np.float64), sample_rate, F0_FLOOR, F0_CEIL, frame_period=FRAME_MS)
        return audio * prosody.gain(f0, len(audio), sample_rate)
    import pyworld as pw

    f0, sp, ap = world_analysis(audio, sample_rate)
    energy = sp.sum(axis=1)
    y = pw.synthesize(
        prosody.shape_f0(f0, energy=energy),
        np.ascontiguousarray(prosody.shape_envelope(sp, sample_rate)),
        ap,
        sample_rate,
        FRAME_MS,
    ).astype(np.float32)
    y = y[: len(audio)] if len(y) >= len(audio) else np.pad(y, (0, len(audio) - len(y)))
    # WORLD keeps the level only roughly: match the input's loudness before the effort change.
    before, after = _rms(audio), _rms(y)
    if before > 0 and after > 0:
        y *= np.float32(before / after)
    return y * prosody.gain(f0, len(y), sample_rate, energy=energy)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


def pauses(audio: np.ndarray, sample_rate: int) -> list[tuple[int, int]]:
    """Silent stretches ``(first, end)`` in samples: ``PAUSE_FLOOR_DB`` under the loudest 10 ms, at
    least ``MIN_PAUSE_S`` long (at the start and end of the speech too)."""
    hop = max(1, sample_rate // 100)
    n = len(audio) // hop
    if n < 3:
        return []
    frames = np.asarray(audio[: n * hop], np.float64).reshape(n, hop)
    db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    quiet = db < db.max() - PAUSE_FLOOR_DB
    runs: list[tuple[int, int]] = []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]])))
    for a, b in zip(edges[::2], edges[1::2]):
        first, end = a * hop, (len(audio) if b == n else b * hop)
        if end - first >= MIN_PAUSE_S * sample_rate:
            runs.append((first, end))
    return runs


def _between_words(speech: Speech, first: int, end: int) -> bool:
    """Whether the silence ``first..end`` (samples) is a pause between words, not the closure of a
    stop consonant inside one: its middle lies in no phoneme, or in a space or punctuation."""
    if not speech.phonemes:
        return True
    mid = (first + end) / 2 / speech.sample_rate
    inside = [p for p in speech.phonemes if p.start <= mid < p.end]
    return not inside or not any(c.isalpha() for c in inside[0].phoneme)


def stretch_pauses(speech: Speech, factor: float) -> Speech:
    """``speech`` with every pause between words ``factor`` times as long; timings moved by exactly
    the samples inserted or removed before them (and stretched linearly inside a pause)."""
    if abs(factor - 1.0) < 1e-3 or not len(speech.audio):
        return speech
    sr = speech.sample_rate
    audio = np.asarray(speech.audio, np.float32)
    fade = max(1, sr // 200)  # 5 ms: the cut inside a pause is never heard
    pieces: list[np.ndarray] = []
    src_knots, dst_knots = [0.0], [0.0]
    pos = out_len = 0
    for first, end in pauses(audio, sr):
        if not _between_words(speech, first, end):
            continue
        length = end - first
        new = max(2 * fade, int(round(length * factor)))
        pieces.append(audio[pos:first])
        out_len += first - pos
        head = audio[first : first + min(new, length) // 2].copy()
        tail = audio[end - (min(new, length) - len(head)) : end].copy()
        f = min(fade, len(head), len(tail))
        if f:
            head[-f:] *= np.linspace(1, 0, f, dtype=np.float32)
            tail[:f] *= np.linspace(0, 1, f, dtype=np.float32)
        pieces += [head, np.zeros(new - len(head) - len(tail), np.float32), tail]
        src_knots += [float(first), float(end)]
        dst_knots += [float(out_len), float(out_len + new)]
        out_len += new
        pos = end
    if len(src_knots) == 1:
        return speech
    pieces.append(audio[pos:])
    out_len += len(audio) - pos
    src_knots.append(float(len(audio)))
    dst_knots.append(float(out_len))
    src, dst = np.array(src_knots), np.array(dst_knots)

    def move(t: float) -> float:
        x = t * sr
        if x >= src[-1]:
            return float((x + dst[-1] - src[-1]) / sr)
        return float(np.interp(x, src, dst) / sr)

    return Speech(
        audio=np.concatenate(pieces).astype(np.float32),
        sample_rate=sr,
        phonemes=[PhonemeTiming(p.phoneme, move(p.start), move(p.end)) for p in speech.phonemes],
        words=[WordTiming(w.word, move(w.start), move(w.end)) for w in speech.words],
        text=speech.text,
    )


def limit_peaks(audio: np.ndarray, sample_rate: int, ceiling: float = PEAK_CEILING) -> np.ndarray:
    """``audio`` with peaks above ``ceiling`` turned down smoothly (a 10 ms look-around limiter),
    so a louder emotion stays louder instead of being scaled back as a whole."""
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    audio = np.asarray(audio, np.float32)
    if not len(audio) or float(np.max(np.abs(audio))) <= ceiling:
        return audio
    win = max(3, sample_rate // 100)
    need = np.minimum(1.0, ceiling / np.maximum(np.abs(audio), 1e-9))
    gain = uniform_filter1d(minimum_filter1d(need, 2 * win + 1), win)
    return np.clip(audio * gain.astype(np.float32), -ceiling, ceiling)


def apply(speech: Speech, prosody: Prosody, *, vocoded: bool = False) -> Speech:
    """``speech`` spoken with ``prosody`` (pitch, tilt, loudness, then pauses), peaks limited.

    ``vocoded``: the pitch, tilt and loudness are already in the audio (the voice match applies them
    in its own WORLD pass); only pauses and the limiter remain. Speaking rate is the TTS's job.
    """
    audio = speech.audio if vocoded else resynthesize(speech.audio, speech.sample_rate, prosody)
    shaped = Speech(audio, speech.sample_rate, phonemes=speech.phonemes, words=speech.words, text=speech.text)
    out = stretch_pauses(shaped, prosody.pause)
    out.audio = limit_peaks(out.audio, out.sample_rate)
    return out
