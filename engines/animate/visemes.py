"""Mouth shapes over time: espeak IPA phonemes (or plain audio) -> per-frame mouth controls.

Mouth controls (unitless, 0 = the photo's own mouth, lips together or parted as photographed):

* ``jaw``: jaw drop, 1.0 = a wide "a" (lip gap about 0.4 x mouth width);
* ``jaw_round``: a small oval opening in the middle of the lips ("o", "u", "w");
* ``upper_raise``: upper lip lifted off the teeth ("f", "v", "s");
* ``width``: lip corners out (+, "i", smile) or in (-, rounded "o"/"u").

Phonemes are blended with dominance functions (a Cohen-Massaro style coarticulation model), so
weak consonants ("h", "k") take the shape of their neighbours while bilabials ("p", "b", "m")
always close the lips: after blending and smoothing, at least the frame nearest each bilabial
is forced shut, and ``press_from_phonemes`` marks those frames so a photo with parted lips closes
them too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engines.timing import PhonemeTiming

MOUTH_CONTROLS = ("jaw", "jaw_round", "upper_raise", "width")

# viseme name -> (jaw, jaw_round, upper_raise, width, dominance)
VISEMES: dict[str, tuple[float, float, float, float, float]] = {
    "rest": (0.0, 0.0, 0.0, 0.0, 1.0),
    "gap": (0.05, 0.0, 0.0, 0.0, 0.08),  # word boundary: neighbours decide
    "bilabial": (0.0, 0.0, 0.0, -0.05, 6.0),
    "labiodental": (0.12, 0.0, 0.75, 0.05, 3.0),
    "dental": (0.22, 0.0, 0.35, 0.1, 1.2),
    "alveolar": (0.2, 0.0, 0.2, 0.12, 0.7),
    "sibilant": (0.1, 0.0, 0.45, 0.35, 1.4),
    "postalveolar": (0.15, 0.25, 0.45, -0.5, 1.6),
    "velar": (0.28, 0.0, 0.1, 0.05, 0.35),
    "glottal": (0.32, 0.0, 0.05, 0.0, 0.15),
    "r": (0.18, 0.2, 0.15, -0.45, 1.2),
    "w": (0.05, 0.3, 0.0, -0.85, 2.5),
    "j": (0.15, 0.0, 0.2, 0.35, 0.8),
    "l": (0.25, 0.0, 0.15, 0.1, 0.6),
    "open": (0.9, 0.0, 0.15, 0.05, 1.3),
    "open_front": (0.75, 0.0, 0.2, 0.3, 1.3),
    "mid_front": (0.5, 0.0, 0.25, 0.35, 1.2),
    "close_front": (0.22, 0.0, 0.3, 0.55, 1.2),
    "schwa": (0.42, 0.0, 0.15, 0.05, 0.9),
    "mid_central": (0.55, 0.0, 0.15, 0.0, 1.1),
    "rhotic_vowel": (0.35, 0.15, 0.15, -0.3, 1.1),
    "open_round": (0.5, 0.4, 0.1, -0.5, 1.3),
    "mid_round": (0.18, 0.6, 0.05, -0.75, 1.4),
    "near_close_round": (0.15, 0.45, 0.05, -0.65, 1.3),
    "close_round": (0.08, 0.45, 0.0, -0.9, 1.5),
}

# espeak/Piper IPA symbol -> viseme name
PHONEME_VISEME: dict[str, str] = {
    **{c: "bilabial" for c in "pbmɱ"},
    **{c: "labiodental" for c in "fv"},
    **{c: "dental" for c in "θð"},
    **{c: "alveolar" for c in "tdnɾɫ"},
    **{c: "sibilant" for c in "szʦ"},
    **{c: "postalveolar" for c in "ʃʒ"},
    **{c: "velar" for c in "kɡgŋxq"},
    **{c: "glottal" for c in "hʔɦ"},
    **{c: "r" for c in "ɹrʁɻ"},
    "w": "w",
    "ʍ": "w",
    "j": "j",
    "l": "l",
    **{c: "open" for c in "ɑaɒ"},
    "æ": "open_front",
    "ɛ": "mid_front",
    "e": "mid_front",
    **{c: "close_front" for c in "iɪyʏᵻɨ"},
    **{c: "schwa" for c in "əɐ"},
    "ʌ": "mid_central",
    "ɜ": "rhotic_vowel",
    "ɚ": "rhotic_vowel",
    "ɝ": "rhotic_vowel",
    "ɔ": "open_round",
    "o": "mid_round",
    "ø": "mid_round",
    "ɵ": "mid_round",
    "ʊ": "near_close_round",
    "u": "close_round",
    "ɯ": "close_round",
}
SILENCE = {"^", "$", "_"}
STRESS = {"ˈ": 2, "ˌ": 1}
LENGTH = {"ː", "ˑ"}
BILABIAL = "bilabial"


@dataclass(frozen=True)
class Segment:
    """One spoken unit after clean-up: ``viseme`` from ``start`` to ``end`` seconds."""

    viseme: str
    start: float
    end: float
    stress: int = 0  # 2 primary, 1 secondary, 0 none
    phoneme: str = ""


def viseme_of(symbol: str) -> str:
    """Viseme name for one espeak IPA symbol (multi-letter symbols use their first known letter)."""
    if symbol in SILENCE or not symbol.strip():
        return "rest" if symbol in SILENCE else "gap"
    if symbol in PHONEME_VISEME:
        return PHONEME_VISEME[symbol]
    for ch in symbol:
        if ch in PHONEME_VISEME:
            return PHONEME_VISEME[ch]
    # punctuation ("." "," "!" "?") is a pause; anything unknown is treated as a weak neutral sound
    return "rest" if not any(c.isalpha() for c in symbol) else "glottal"


def clean_phonemes(phonemes: Sequence[PhonemeTiming]) -> list[Segment]:
    """Segments with stress marks attached to the following sound and length marks merged back.

    Piper gives stress marks ("ˈ", "ˌ") and the length mark ("ː") their own time slots; the
    stress slot is given to the next sound (which becomes stressed), the length slot lengthens
    the previous one.
    """
    out: list[Segment] = []
    pending_stress = 0
    pending_start: float | None = None
    for p in phonemes:
        sym = p.phoneme
        if sym in STRESS:
            pending_stress = max(pending_stress, STRESS[sym])
            if pending_start is None:
                pending_start = p.start
            continue
        if sym in LENGTH:
            if out:
                last = out[-1]
                out[-1] = Segment(last.viseme, last.start, max(last.end, p.end), last.stress, last.phoneme)
            continue
        start = p.start if pending_start is None else min(pending_start, p.start)
        vis = viseme_of(sym)
        stress = pending_stress if vis not in ("rest", "gap") else 0
        out.append(Segment(vis, float(start), float(max(p.end, start)), stress, sym))
        if vis not in ("rest", "gap"):
            pending_stress, pending_start = 0, None
        elif pending_start is not None:
            pending_start = None  # a stress mark before a pause belongs to nothing
    return out


def stressed_times(segments: Sequence[Segment], level: int = 2) -> list[float]:
    """Start times (seconds) of sounds carrying a stress of at least ``level``."""
    return [s.start for s in segments if s.stress >= level]


VOWELS = {
    "open",
    "open_front",
    "mid_front",
    "close_front",
    "schwa",
    "mid_central",
    "rhotic_vowel",
    "open_round",
    "mid_round",
    "near_close_round",
    "close_round",
}
STRESS_OPENING = {0: 0.85, 1: 1.0, 2: 1.12}  # stressed vowels are louder and open wider


def _targets(segments: Sequence[Segment]) -> tuple[np.ndarray, np.ndarray]:
    table = np.array([VISEMES[s.viseme] for s in segments], dtype=np.float64).reshape(-1, 5)
    gain = np.array([STRESS_OPENING[s.stress] if s.viseme in VOWELS else 1.0 for s in segments])
    table[:, :2] *= gain[:, None]
    return table[:, :4], table[:, 4]


def mouth_from_phonemes(
    phonemes: Sequence[PhonemeTiming], n_frames: int, fps: float, shift_s: float, smoothing: float
) -> np.ndarray:
    """Mouth controls ``(n_frames, 4)`` for phoneme timings.

    ``shift_s`` (seconds) moves the mouth earlier when positive (the lips lead the sound).
    ``smoothing`` 0..1 adds temporal smoothing. Bilabials end fully closed.
    """
    segments = [s for s in clean_phonemes(phonemes) if s.end > s.start or s.viseme == BILABIAL]
    out = np.zeros((n_frames, 4), np.float32)
    if not segments or n_frames == 0:
        return out
    targets, dominance = _targets(segments)
    starts = np.array([s.start for s in segments])
    ends = np.array([s.end for s in segments])
    centres = 0.5 * (starts + ends)
    half = np.maximum(0.5 * (ends - starts), 0.01)
    # Long pauses hold the rest shape firmly; short word gaps barely count.
    is_rest = np.array([s.viseme == "rest" for s in segments])
    dominance = np.where(is_rest & (ends - starts > 0.12), 2.5, dominance)
    reach = np.where(dominance >= 3.0, 0.035, 0.075)  # coarticulation reach beyond the sound, s

    # Sample finely (200 Hz) then box-filter over each frame, so short sounds are not lost.
    sub = 8
    t = (np.arange(n_frames * sub) + 0.5) / (fps * sub) - 0.5 / fps + shift_s
    # Only sounds near t matter: evaluate in blocks to keep memory small for long videos.
    mouth_fine = np.zeros((t.size, 4))
    block = 4096
    for b0 in range(0, t.size, block):
        tb = t[b0 : b0 + block]
        lo = np.searchsorted(ends, tb[0] - 0.6)
        hi = np.searchsorted(starts, tb[-1] + 0.6)
        if hi <= lo:
            continue
        d = np.maximum(np.abs(tb[:, None] - centres[None, lo:hi]) - half[None, lo:hi], 0.0)
        w = dominance[None, lo:hi] * np.exp(-((d / reach[None, lo:hi]) ** 2)) + 1e-6
        mouth_fine[b0 : b0 + block] = (w @ targets[lo:hi]) / w.sum(axis=1, keepdims=True)
    mouth = mouth_fine.reshape(n_frames, sub, 4).mean(axis=1)
    mouth = smooth_frames(mouth, 0.3 + 1.2 * float(np.clip(smoothing, 0.0, 1.0)))

    for k in _bilabial_frames(segments, n_frames, fps, shift_s):
        out_close(mouth, k)
    out[:] = mouth
    return out


def _bilabial_frames(
    segments: Sequence[Segment], n_frames: int, fps: float, shift_s: float, level: np.ndarray | None = None
) -> list[int]:
    """Frames whose lips must be shut: every frame inside a bilabial, or the nearest frame to a short one.

    With ``level`` (the loudness each frame shows, 0..1) each bilabial shuts the lips on its quietest
    frame only: the closure of a b or p is the silent moment before its burst, and an m is quieter
    than the vowels around it, so lips shut while the voice is loud would look (and measure) out of sync."""
    found = []
    for s in segments:
        if s.viseme != BILABIAL:
            continue
        a = int(np.ceil((s.start - shift_s) * fps))
        b = int(np.floor((s.end - shift_s) * fps))
        frames = range(a, b + 1) if b >= a else [int(round((0.5 * (s.start + s.end) - shift_s) * fps))]
        frames = [k for k in frames if 0 <= k < n_frames]
        if level is not None and frames:
            # the frames whose sound overlaps the bilabial by at least half a frame either side
            near = [k for k in range(min(frames) - 2, max(frames) + 2) if 0 <= k < n_frames]
            near = [k for k in near if s.start - 1.0 / fps <= k / fps + shift_s <= s.end + 0.5 / fps] or frames
            frames = [min(near, key=lambda k: (float(level[k]), abs(k - 0.5 * (a + b))))]
        found.extend(frames)
    return found


def press_from_phonemes(
    phonemes: Sequence[PhonemeTiming], n_frames: int, fps: float, shift_s: float, level: np.ndarray | None = None
) -> np.ndarray:
    """Lip press per frame (0..1): 1 on the frames where the lips shut for a bilabial (with ``level``,
    each bilabial's quietest frame: see :func:`_bilabial_frames`), easing in and out lightly over the
    frame either side (a voiced m is loud: a long closure reads as a mouth that stays shut while the
    voice goes on). A photo with parted lips needs it to close them; with closed lips it changes nothing."""
    press = np.zeros(n_frames, np.float32)
    for k in _bilabial_frames(clean_phonemes(phonemes), n_frames, fps, shift_s, level):
        press[k] = 1.0
        for j in (k - 1, k + 1):
            if 0 <= j < n_frames:
                press[j] = max(press[j], 0.25)
    return press


def relax_between_words(level: np.ndarray, fps: float, most: float = 0.7, pause_s: float = 0.6) -> np.ndarray:
    """Lip press per frame for the quiet moments inside speech (0..``most``): between words and at
    short pauses the lips of a photo with parted lips (a smile showing teeth) relax towards each other,
    the quieter the nearer, instead of springing back to the photo's wide smile after every syllable.
    Before the first word, after the last and in pauses longer than ``pause_s`` the photo stays as it is.
    ``level`` is the speech loudness per frame (0..1)."""
    level = np.asarray(level, np.float64)
    speaking = np.flatnonzero(level > 0.3)
    relax = np.zeros(len(level), np.float64)
    if len(speaking) < 2:
        return relax.astype(np.float32)
    inside = np.zeros(len(level), bool)
    longest = int(round(pause_s * fps))
    for a, b in zip(speaking[:-1], speaking[1:], strict=True):
        if b - a <= longest:
            inside[a : b + 1] = True
    relax[inside] = most * np.clip(1.0 - level[inside] / 0.45, 0.0, 1.0)
    return np.clip(smooth_frames(relax, 0.4), 0.0, most).astype(np.float32)


def press_from_mouth(mouth: np.ndarray, fps: float) -> np.ndarray:
    """Lip press per frame for a mouth track made from audio alone: the lips meet where the jaw all
    but closes in the middle of speech (within half a second of an opening)."""
    if len(mouth) == 0:
        return np.zeros(0, np.float32)
    jaw = mouth[:, 0]
    speaking = smooth_frames((jaw > 0.15).astype(np.float64), 0.25 * fps) > 0.05
    return (speaking * np.clip(1.0 - jaw / 0.08, 0.0, 1.0)).astype(np.float32)


def out_close(mouth: np.ndarray, k: int) -> None:
    """Force frame ``k`` closed (no jaw, no oval, upper lip down); soften its neighbours."""
    mouth[k, :3] = 0.0
    for j in (k - 1, k + 1):
        if 0 <= j < len(mouth):
            mouth[j, :3] *= 0.6


def smooth_frames(x: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Zero-phase Gaussian smoothing along axis 0 (``sigma_frames`` in frames)."""
    if sigma_frames <= 0.05 or len(x) < 2:
        return x
    r = max(1, int(np.ceil(3 * sigma_frames)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma_frames) ** 2)
    k /= k.sum()
    pad = np.pad(x, ((r, r),) + ((0, 0),) * (x.ndim - 1), mode="edge")
    out = np.empty_like(x, dtype=np.float64)
    flat = pad.reshape(len(pad), -1)
    res = np.stack([np.convolve(flat[:, i], k, mode="valid") for i in range(flat.shape[1])], axis=1)
    out[:] = res.reshape(x.shape)
    return out


def frame_loudness(
    audio: np.ndarray, sample_rate: int, n_frames: int, fps: float, shift_s: float = 0.0, window_s: float = 0.06
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame RMS level in dB (re full scale) and the per-frame windows' spectra.

    Frame ``k`` looks at the audio centred on ``k / fps + shift_s`` seconds over ``window_s``.
    Returns ``(db (n_frames,), spectra (n_frames, bins))``.
    """
    audio = np.asarray(audio, np.float32).reshape(-1)
    win = max(16, int(round(window_s * sample_rate)))
    centres = np.round((np.arange(n_frames) / fps + shift_s) * sample_rate).astype(np.int64)
    idx = centres[:, None] + np.arange(win)[None, :] - win // 2
    valid = (idx >= 0) & (idx < audio.size)
    seg = np.where(valid, audio[np.clip(idx, 0, max(0, audio.size - 1))] if audio.size else 0.0, 0.0)
    rms = np.sqrt(np.mean(seg.astype(np.float64) ** 2, axis=1) + 1e-12)
    db = 20 * np.log10(rms + 1e-9)
    spec = np.abs(np.fft.rfft(seg * np.hanning(win)[None, :], axis=1))
    return db, spec


def mouth_from_audio(
    audio: np.ndarray, sample_rate: int, n_frames: int, fps: float, shift_s: float, smoothing: float
) -> np.ndarray:
    """Mouth controls ``(n_frames, 4)`` from audio alone: loudness opens the jaw, the spectrum
    shapes the lips (low centroid -> rounded, hiss -> narrow opening with teeth)."""
    out = np.zeros((n_frames, 4), np.float32)
    if audio is None or n_frames == 0 or np.size(audio) == 0:
        return out
    db, spec = frame_loudness(audio, sample_rate, n_frames, fps, shift_s)
    ref = np.percentile(db, 95)
    level = np.clip((db - (ref - 36.0)) / 32.0, 0.0, 1.0)
    freqs = np.fft.rfftfreq((spec.shape[1] - 1) * 2, 1.0 / sample_rate)
    power = spec**2 + 1e-12
    centroid = (power * freqs[None, :]).sum(1) / power.sum(1)
    hiss = power[:, freqs > 4000].sum(1) / power.sum(1)
    jaw = 0.95 * level**1.2 * (1.0 - 0.6 * np.clip((hiss - 0.3) / 0.4, 0, 1))
    roundness = np.clip((1100.0 - centroid) / 700.0, 0.0, 1.0) * (level > 0.25)
    width = np.clip((centroid - 1800.0) / 2000.0, -0.2, 0.45) - 0.5 * roundness
    out[:, 0] = jaw * (1.0 - 0.35 * roundness)
    out[:, 1] = 0.35 * roundness * level
    out[:, 2] = 0.35 * np.clip((hiss - 0.3) / 0.4, 0, 1) * (level > 0.1)
    out[:, 3] = width * np.clip(level * 2, 0, 1)
    return smooth_frames(out, 0.5 + 1.2 * float(np.clip(smoothing, 0.0, 1.0))).astype(np.float32)
