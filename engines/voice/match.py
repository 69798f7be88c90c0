"""Offline voice match: move a synthetic voice toward a recorded speaker with WORLD.

Not cloning. The default TTS voice is analysed with WORLD (``pyworld``: F0, spectral envelope,
aperiodicity) and resynthesised with

* its pitch level and range mapped onto the speaker's (log-F0 mean and spread),
* its spectral envelope frequency-warped (a formant shift, ``warp`` > 1 moves formants up),
* its envelope mapped band by band onto the speaker's (64 mel bands, 80..7600 Hz): every voiced
  frame's shape is moved to the speaker's long-term average and its frame-to-frame movement per
  band scaled to the speaker's spread (mean and variance mapping of the log envelope; timbre,
  how pronounced the formants are, and the microphone),

Speaking rate is the TTS's job (Piper's length scale), so timings stay exact. The warp and
envelope-mapping strength are chosen per profile by :func:`calibrate`, which keeps whichever
setting makes a speaker-embedding model hear the result as closest to the recording.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from engines.registry import register
from engines.voice.prosody import Prosody, limit_peaks

MATCH_VERSION = 2  # bump when the same settings give other audio (render caches are keyed by it)
FRAME_MS = 5.0  # WORLD frame period, milliseconds
F0_FLOOR, F0_CEIL = 71.0, 500.0  # Hz: adult speech (71 Hz keeps WORLD's FFT at 1024 for 22 kHz)
# Long-term envelope compared on a mel-spaced grid, so recordings at any sample rate compare.
GRID_HZ = 700.0 * (10 ** (np.linspace(2595 * np.log10(1 + 80 / 700), 2595 * np.log10(1 + 7600 / 700), 64) / 2595) - 1)
MAX_EQ_DB = 18.0  # largest per-band change of the envelope mapping
WARP_RANGE = (0.8, 1.35)  # formant-shift factors the calibration may choose


@dataclass
class VoiceTraits:
    """What the match needs to know about a voice (all from voiced frames)."""

    f0_log_mean: float  # mean of ln(F0 / Hz)
    f0_log_std: float  # spread of ln(F0 / Hz)
    envelope_db: list[float]  # long-term average envelope on GRID_HZ, dB, mean removed
    voiced_seconds: float
    envelope_std_db: list[float] | None = None  # per-band spread of the frames' envelope on GRID_HZ, dB

    @property
    def f0_median_hz(self) -> float:
        return float(np.exp(self.f0_log_mean))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> VoiceTraits:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass
class MatchSettings:
    """How to move the TTS voice toward one speaker (stored in the voice profile)."""

    target: VoiceTraits
    warp: float = 1.0  # envelope frequency-warp factor (formant shift), 0.8..1.25
    eq_strength: float = 0.5  # envelope mapping: 0 = none, 1 = full mean and spread match (up to 1.5)
    rate: float = 1.0  # speaking-rate factor handed to the TTS
    score: float | None = None  # embedding similarity reached during calibration

    def to_dict(self) -> dict:
        d = asdict(self)
        d["target"] = self.target.to_dict()
        return d

    @classmethod
    def from_dict(cls, data: dict) -> MatchSettings:
        data = dict(data)
        data["target"] = VoiceTraits.from_dict(data["target"])
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass
class _Analysis:
    f0: np.ndarray
    sp: np.ndarray
    ap: np.ndarray
    sample_rate: int
    rms: float
    traits: VoiceTraits = field(repr=False, default=None)


def _world(audio: np.ndarray, sample_rate: int, frame_ms: float = FRAME_MS, aperiodicity: bool = True):
    import pyworld as pw

    x = np.asarray(audio, dtype=np.float64)
    # speed=3: DIO on a 3x decimated signal (StoneMask refines the F0 on the full signal after it).
    f0, t = pw.dio(x, sample_rate, f0_floor=F0_FLOOR, f0_ceil=F0_CEIL, frame_period=frame_ms, speed=3)
    f0 = pw.stonemask(x, f0, t, sample_rate)
    fft = pw.get_cheaptrick_fft_size(sample_rate, F0_FLOOR)
    sp = pw.cheaptrick(x, f0, t, sample_rate, f0_floor=F0_FLOOR, fft_size=fft)
    ap = None
    if aperiodicity:
        # Aperiodicity changes slowly: measured on every other frame (half the cost), then repeated.
        ap = pw.d4c(x, np.ascontiguousarray(f0[::2]), np.ascontiguousarray(t[::2]), sample_rate, fft_size=fft)
        ap = np.ascontiguousarray(np.repeat(ap, 2, axis=0)[: len(f0)])
    return f0, sp, ap


def _to_grid_matrix(n_bins: int, sample_rate: int) -> np.ndarray:
    """(n_bins, len(GRID_HZ)) linear-interpolation weights from FFT bins onto GRID_HZ."""
    pos = np.clip(GRID_HZ / (sample_rate / 2) * (n_bins - 1), 0, n_bins - 1)
    i0 = np.floor(pos).astype(int)
    i1 = np.minimum(i0 + 1, n_bins - 1)
    w = np.zeros((n_bins, len(GRID_HZ)))
    cols = np.arange(len(GRID_HZ))
    np.add.at(w, (i0, cols), 1 - (pos - i0))
    np.add.at(w, (i1, cols), pos - i0)
    return w


def _frames_on_grid(sp: np.ndarray, sample_rate: int) -> np.ndarray:
    """Each frame's log envelope (dB) on GRID_HZ, its mean over the bands removed."""
    db = 10 * np.log10(np.maximum(sp, 1e-12)) @ _to_grid_matrix(sp.shape[1], sample_rate)
    return db - db.mean(axis=1, keepdims=True)


def _timbre_frames(sp: np.ndarray, f0: np.ndarray) -> np.ndarray:
    """The loudest half of the voiced frames: the vowels that carry timbre, not breath and silence."""
    voiced = f0 > 0
    frames = sp[voiced] if voiced.sum() >= 10 else sp
    energy = frames.sum(axis=1)
    return frames[energy >= np.median(energy)]


def _envelope_stats(sp: np.ndarray, f0: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Long-term average envelope and its per-band spread on GRID_HZ (dB; the average's mean removed)."""
    grid = _frames_on_grid(_timbre_frames(sp, f0), sample_rate)
    mean = grid.mean(axis=0)
    return mean - mean.mean(), grid.std(axis=0)


def _envelope_on_grid(sp: np.ndarray, f0: np.ndarray, sample_rate: int) -> np.ndarray:
    return _envelope_stats(sp, f0, sample_rate)[0]


def traits_of(audio: np.ndarray, sample_rate: int) -> VoiceTraits:
    """Pitch and long-term envelope of mono ``audio`` (``sample_rate`` Hz).

    Long recordings are analysed at 16 kHz with 10 ms frames, which is plenty for averages.
    """
    import soxr

    audio = np.asarray(audio, dtype=np.float32)
    if sample_rate > 16_000:
        audio = soxr.resample(audio, sample_rate, 16_000)
        sample_rate = 16_000
    f0, sp, _ = _world(audio, sample_rate, frame_ms=10.0, aperiodicity=False)
    return _traits(f0, sp, sample_rate, 0.010)


def _traits(f0: np.ndarray, sp: np.ndarray, sample_rate: int, frame_s: float) -> VoiceTraits:
    voiced = f0[f0 > 0]
    if len(voiced) < 10:
        raise ValueError("no voiced speech found")
    lf0 = np.log(voiced)
    # Trim octave errors before taking the spread.
    lo, hi = np.percentile(lf0, [5, 95])
    core = lf0[(lf0 >= lo) & (lf0 <= hi)]
    mean, spread = _envelope_stats(sp, f0, sample_rate)
    return VoiceTraits(
        f0_log_mean=float(np.median(lf0)),
        f0_log_std=float(max(core.std(), 0.02)),
        envelope_db=[float(v) for v in mean],
        voiced_seconds=float(len(voiced) * frame_s),
        envelope_std_db=[float(v) for v in spread],
    )


def _warp_envelope(sp: np.ndarray, warp: float) -> np.ndarray:
    """Envelope with every frequency f moved to f * warp (formant shift), in the log domain."""
    if abs(warp - 1.0) < 1e-3:
        return sp
    n = sp.shape[1]
    src = np.clip(np.arange(n) / warp, 0, n - 1)
    i0 = np.floor(src).astype(int)
    i1 = np.minimum(i0 + 1, n - 1)
    w = (src - i0)[None, :]
    log_sp = np.log(np.maximum(sp, 1e-16))
    return np.exp(log_sp[:, i0] * (1 - w) + log_sp[:, i1] * w)


@register("voice_match", "world")
class WorldVoiceMatch:
    """Moves speech toward a speaker's pitch and timbre; length and timings unchanged."""

    name = "world"

    def analyse(self, audio: np.ndarray, sample_rate: int) -> _Analysis:
        """WORLD analysis of TTS output, reusable for several :meth:`render` settings."""
        audio = np.asarray(audio, dtype=np.float32)
        f0, sp, ap = _world(audio, sample_rate)
        rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2))) if len(audio) else 0.0
        an = _Analysis(f0=f0, sp=sp, ap=ap, sample_rate=sample_rate, rms=rms)
        try:
            an.traits = _traits(f0, sp, sample_rate, FRAME_MS / 1000)
        except ValueError:
            an.traits = None
        return an

    def render(
        self,
        analysis: _Analysis,
        settings: MatchSettings,
        *,
        source: VoiceTraits | None = None,
        pitch_semitones: float = 0.0,
        energy: float = 1.0,
        length: int | None = None,
        prosody: Prosody | None = None,
    ) -> np.ndarray:
        """Resynthesised float32 audio at the analysis sample rate.

        ``source`` is the TTS voice's own traits (defaults to this utterance's), ``pitch_semitones``
        and ``energy`` (a gain factor) carry emotion, ``length`` pads or trims to that many samples.
        ``prosody`` (``engines.voice.prosody``) shapes pitch, tilt and loudness in this same WORLD
        pass, after the match (the emotion moves the matched voice, not the TTS voice).
        """
        import pyworld as pw

        src = source or analysis.traits
        tgt = settings.target
        f0 = analysis.f0.copy()
        voiced = f0 > 0
        if src is not None and voiced.any():
            spread = float(np.clip(tgt.f0_log_std / max(src.f0_log_std, 1e-3), 0.5, 2.0))
            lf0 = (np.log(f0[voiced]) - src.f0_log_mean) * spread + tgt.f0_log_mean
            f0[voiced] = np.exp(lf0 + pitch_semitones * np.log(2) / 12)
        sp = _warp_envelope(analysis.sp, settings.warp)
        if settings.eq_strength > 0 and src is not None:
            sp = sp * map_envelope_gain(sp, analysis.f0, analysis.sample_rate, tgt, settings.eq_strength)
        if prosody is not None:
            f0 = prosody.shape_f0(f0, FRAME_MS / 1000, energy=analysis.sp.sum(axis=1))
            sp = prosody.shape_envelope(sp, analysis.sample_rate)
        y = pw.synthesize(f0, np.ascontiguousarray(sp), analysis.ap, analysis.sample_rate, FRAME_MS)
        y = y.astype(np.float32)
        if length is not None:
            y = y[:length] if len(y) >= length else np.pad(y, (0, length - len(y)))
        rms = float(np.sqrt(np.mean(y.astype(np.float64) ** 2))) if len(y) else 0.0
        if rms > 0 and analysis.rms > 0:
            y *= analysis.rms * energy / rms
        if prosody is not None:  # louder stays louder: limit the peaks, not the whole utterance
            gain = prosody.gain(analysis.f0, len(y), analysis.sample_rate, FRAME_MS / 1000, analysis.sp.sum(axis=1))
            return limit_peaks(y * gain, analysis.sample_rate)
        peak = float(np.max(np.abs(y))) if len(y) else 0.0
        if peak > 0.98:  # never clip: soft-limit by scaling the whole utterance
            y *= 0.98 / peak
        return y


def map_envelope_gain(
    sp: np.ndarray, f0: np.ndarray, sample_rate: int, target: VoiceTraits, strength: float
) -> np.ndarray:
    """Per-frame gains (same shape as ``sp``) that map the envelope band by band onto ``target``.

    Every frame's mean-removed log envelope on GRID_HZ is moved from this utterance's long-term
    average to the target's; on voiced frames the deviation from the average is also scaled by the
    ratio of the per-band spreads (a speaker with sharper formants varies more per band). The change
    is smoothed across neighbouring bands (timbre, not single harmonics) and limited to MAX_EQ_DB.
    """
    mean_src, std_src = _envelope_stats(sp, f0, sample_rate)
    frames = _frames_on_grid(sp, sample_rate)
    mean_tgt = np.asarray(target.envelope_db)
    dev = frames - mean_src[None, :]
    diff = np.broadcast_to((mean_tgt - mean_src)[None, :], frames.shape).copy()
    if target.envelope_std_db is not None:
        ratio = np.clip(np.asarray(target.envelope_std_db) / np.maximum(std_src, 0.5), 0.5, 2.0)
        voiced = f0 > 0
        diff[voiced] += dev[voiced] * (ratio[None, :] - 1)
    diff = np.clip(diff * strength, -MAX_EQ_DB, MAX_EQ_DB)
    return 10 ** ((diff @ _smooth_back_matrix(sp.shape[1], sample_rate)) / 10)


def _smooth_back_matrix(n_bins: int, sample_rate: int) -> np.ndarray:
    """(len(GRID_HZ), n_bins): a 5-band moving average on GRID_HZ, then linear interpolation onto FFT bins."""
    n = len(GRID_HZ)
    smooth = np.zeros((n, n))
    for j in range(n):  # column j averages bands j-2..j+2, edges repeated
        for k in range(j - 2, j + 3):
            smooth[min(max(k, 0), n - 1), j] += 0.2
    bins = np.linspace(0, sample_rate / 2, n_bins)
    back = np.stack([np.interp(bins, GRID_HZ, row) for row in np.eye(n)])
    return smooth @ back


def calibrate(
    matcher: WorldVoiceMatch,
    analyses: list[_Analysis],
    source: VoiceTraits,
    target: VoiceTraits,
    score: Callable[[list[np.ndarray], int], float],
    *,
    rate: float = 1.0,
) -> MatchSettings:
    """The warp and envelope-mapping strength whose output ``score`` likes best (higher is closer).

    ``analyses`` are WORLD analyses of a few TTS sentences, ``score(audios, sample_rate)`` rates
    candidate renderings (e.g. mean speaker-embedding cosine to the recording). A coarse search:
    warp first with the full envelope mapping, then the mapping strength at the best warp.
    """
    sr = analyses[0].sample_rate
    lo, hi = WARP_RANGE
    # Start the warp where the pitch change points: formants scale roughly with the cube root of F0.
    guess = float(np.clip(np.exp((target.f0_log_mean - source.f0_log_mean) / 3), 0.85, 1.25))
    tried: dict[tuple[float, float], float] = {}

    def trial(warp: float, eq: float) -> float:
        key = (round(float(np.clip(warp, lo, hi)), 3), round(eq, 2))
        if key not in tried:
            s = MatchSettings(target=target, warp=key[0], eq_strength=key[1], rate=rate)
            tried[key] = score([matcher.render(a, s, source=source) for a in analyses], sr)
        return tried[key]

    for w in sorted({guess * f for f in (0.92, 1.0, 1.08)} | {1.0}):
        trial(w, 1.0)
    # Refine once around the best warp, then try a weaker and a stronger envelope mapping.
    best_warp = max(tried, key=tried.get)[0]
    for w in (best_warp * 0.96, best_warp * 1.04):
        trial(w, 1.0)
    best_warp = max(tried, key=tried.get)[0]
    for eq in (0.6, 1.4, 1.8):
        trial(best_warp, eq)
    (warp, eq), best = max(tried.items(), key=lambda kv: kv[1])
    return MatchSettings(target=target, warp=warp, eq_strength=eq, rate=rate, score=best)


def syllable_rate(audio: np.ndarray, sample_rate: int) -> float:
    """Syllables per second of speaking time, counted acoustically (peaks of vowel-band loudness).

    The same count on the recording and on the TTS voice compares their speaking rates without a
    transcript; pauses (frames 35 dB under the loudest) do not count as speaking time.
    """
    from scipy.signal import find_peaks

    from engines.voice.vad import to_16k

    x = to_16k(audio, sample_rate).astype(np.float64)
    win, hop = 400, 160  # 25 ms windows, 10 ms hop at 16 kHz
    if len(x) < win * 4:
        return 0.0
    frames = np.lib.stride_tricks.sliding_window_view(x, win)[::hop]
    spec = np.abs(np.fft.rfft(frames * np.hanning(win), axis=1)) ** 2
    freqs = np.fft.rfftfreq(win, 1 / 16_000)
    band = spec[:, (freqs >= 300) & (freqs <= 2500)].sum(axis=1)
    db = 10 * np.log10(band + 1e-10)
    db = np.convolve(db, np.ones(5) / 5, mode="same")
    top = np.percentile(db, 99)
    speaking = db > top - 35
    peaks, _ = find_peaks(db, prominence=4.0, distance=8, height=top - 25)  # >= 80 ms apart
    seconds = speaking.sum() * hop / 16_000
    return float(len(peaks) / seconds) if seconds > 0.5 else 0.0
