"""Subtitles: cues from word timings, SRT/WebVTT files, and burning cues into video frames.

Cues come from the TTS word timings of a render (or from faster-whisper word timestamps for
uploaded audio), so a cue starts when its first word is spoken and ends when its last word ends.
A cue holds at most ``max_lines`` lines of ``max_chars`` characters (42 is the usual broadcast
limit) and lasts at most ``max_duration`` seconds; cues break at sentence ends and long silences.

Burning in draws the active cue with the shipped DejaVu Sans Bold font, a dark outline, inside the
frame's safe area. Each cue's text bitmap is rendered once and cached, so drawing a frame is one
small alpha blend.
"""

from __future__ import annotations

import bisect
import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from engines.timing import WordTiming
from studio.config import ASSETS_DIR
from studio.errors import InputError
from studio.storage import atomic_write_bytes

DEFAULT_FONT = ASSETS_DIR / "fonts" / "DejaVuSans-Bold.ttf"
_SENTENCE_END = (".", "!", "?", "…", "。", "！", "？")
_CLAUSE_END = (",", ";", ":", "—", "–")
SILENCE_BREAK_S = 0.6  # a pause this long between words always starts a new cue


@dataclass(frozen=True)
class Cue:
    """One subtitle: ``text`` (lines joined by "\\n") shown from ``start`` to ``end`` seconds."""

    start: float
    end: float
    text: str


# ---------------------------------------------------------------------------------------------
# Cues from word timings


def _bare(word: str) -> str:
    return word.rstrip("\"'”’)]»")


def wrap_lines(text: str, max_chars: int = 42, max_lines: int = 2) -> list[str]:
    """Split ``text`` into at most ``max_lines`` lines of about ``max_chars`` characters.

    Two lines are balanced (the split that makes the longer line shortest), which reads better
    than filling the first line. Text longer than the lines allow is kept whole on the last line.
    """
    words = text.split()
    if not words:
        return []
    if len(" ".join(words)) <= max_chars or max_lines <= 1 or len(words) == 1:
        return [" ".join(words)]
    if max_lines == 2:
        best = min(range(1, len(words)), key=lambda i: (max(len(" ".join(words[:i])), len(" ".join(words[i:]))), -i))
        return [" ".join(words[:best]), " ".join(words[best:])]
    lines: list[str] = []
    current = ""
    for w in words:
        if current and len(current) + 1 + len(w) > max_chars and len(lines) < max_lines - 1:
            lines.append(current)
            current = w
        else:
            current = f"{current} {w}" if current else w
    lines.append(current)
    return lines


def cues_from_words(
    words: Sequence[WordTiming],
    *,
    max_chars: int = 42,
    max_duration: float = 5.0,
    max_lines: int = 2,
    min_duration: float = 0.7,
) -> list[Cue]:
    """Group spoken words (times in seconds) into subtitle cues.

    ``max_chars`` is per line; a cue lasts at most ``max_duration`` seconds (unless one word is
    longer). A cue starts exactly when its first word starts; it ends when its last word ends,
    stretched to ``min_duration`` seconds for very short cues only where that does not run into
    the next cue.
    """
    capacity = max_chars * max_lines
    groups: list[list[WordTiming]] = []
    current: list[WordTiming] = []
    for w in sorted((w for w in words if w.word.strip()), key=lambda w: w.start):
        if current:
            prev = current[-1]
            joined = len(" ".join(x.word for x in current)) + 1 + len(w.word)
            brk = (
                joined > capacity
                or w.end - current[0].start > max_duration
                or w.start - prev.end >= SILENCE_BREAK_S
                or _bare(prev.word).endswith(_SENTENCE_END)
                # a clause end is a good place to break once the cue is fairly full
                or (_bare(prev.word).endswith(_CLAUSE_END) and joined > 0.6 * capacity)
            )
            if brk:
                groups.append(current)
                current = []
        current.append(w)
    if current:
        groups.append(current)

    cues: list[Cue] = []
    for i, group in enumerate(groups):
        start, end = group[0].start, max(w.end for w in group)
        if end - start < min_duration:
            limit = groups[i + 1][0].start - 0.04 if i + 1 < len(groups) else float("inf")
            end = max(end, min(start + min_duration, limit))
        text = "\n".join(wrap_lines(" ".join(w.word.strip() for w in group), max_chars, max_lines))
        cues.append(Cue(round(start, 3), round(end, 3), text))
    return cues


def shift_cues(cues: Iterable[Cue], offset: float) -> list[Cue]:
    """The same cues moved by ``offset`` seconds (for joining per-sentence renders)."""
    return [Cue(c.start + offset, c.end + offset, c.text) for c in cues]


# ---------------------------------------------------------------------------------------------
# SRT and WebVTT


def _timestamp(seconds: float, sep: str) -> str:
    ms = max(0, int(round(seconds * 1000)))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def srt_text(cues: Sequence[Cue]) -> str:
    """The cues as SubRip (SRT) text."""
    blocks = [
        f"{i}\n{_timestamp(c.start, ',')} --> {_timestamp(c.end, ',')}\n{c.text}\n" for i, c in enumerate(cues, 1)
    ]
    return "\n".join(blocks)


def vtt_text(cues: Sequence[Cue]) -> str:
    """The cues as WebVTT text (``<``, ``>`` and ``&`` escaped)."""
    blocks = ["WEBVTT\n"]
    for c in cues:
        text = html.escape(c.text, quote=False).replace("-->", "--&gt;")
        blocks.append(f"{_timestamp(c.start, '.')} --> {_timestamp(c.end, '.')}\n{text}\n")
    return "\n".join(blocks)


def write_srt(cues: Sequence[Cue], path: str | Path) -> Path:
    """Write the cues as an SRT file (UTF-8, atomically)."""
    return atomic_write_bytes(path, srt_text(cues).encode("utf-8"))


def write_vtt(cues: Sequence[Cue], path: str | Path) -> Path:
    """Write the cues as a WebVTT file (UTF-8, atomically)."""
    return atomic_write_bytes(path, vtt_text(cues).encode("utf-8"))


_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{2})[,.](\d{3})"
_CUE_LINE = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}")


def _seconds(h: str | None, m: str, s: str, ms: str) -> float:
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000.0


def parse_subtitles(text: str) -> list[Cue]:
    """Cues from SRT or WebVTT text (cue settings and numbering are ignored)."""
    cues: list[Cue] = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()):
        lines = block.split("\n")
        for i, line in enumerate(lines):
            match = _CUE_LINE.match(line)
            if match:
                g = match.groups()
                body = "\n".join(lines[i + 1 :]).strip()
                cues.append(Cue(_seconds(*g[:4]), _seconds(*g[4:]), html.unescape(body)))
                break
    return cues


def read_subtitles(path: str | Path) -> list[Cue]:
    """Cues from an ``.srt`` or ``.vtt`` file."""
    try:
        return parse_subtitles(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the subtitle file {path}: choose a UTF-8 .srt or .vtt file") from exc


# ---------------------------------------------------------------------------------------------
# Burning cues into frames


@dataclass(frozen=True)
class SubtitleStyle:
    """How burned-in subtitles look. Sizes are fractions of the frame height (pixels scale)."""

    font_path: str = str(DEFAULT_FONT)
    font_scale: float = 0.055  # text size / frame height
    min_font_px: int = 12
    color: tuple[int, int, int] = (255, 255, 255)
    outline_color: tuple[int, int, int] = (0, 0, 0)
    outline_scale: float = 0.12  # outline width / text size
    box_opacity: float = 0.0  # 0 = no box behind the text; 0.5 = half-transparent black box
    bottom_margin: float = 0.07  # safe area below the text / frame height
    side_margin: float = 0.06  # safe area left and right / frame width
    line_spacing: float = 0.18  # gap between lines / text size


@dataclass(frozen=True)
class _Bitmap:
    x: int
    y: int
    premultiplied: np.ndarray  # (h, w, 3) uint8: colour * alpha / 255
    inverse_alpha: np.ndarray  # (h, w, 3) uint8: 255 - alpha


@lru_cache(maxsize=32)
def _font(path: str, size: int):
    from PIL import ImageFont

    try:
        return ImageFont.truetype(path, size)
    except OSError as exc:
        raise InputError(f"cannot load the subtitle font {path}: pick a .ttf file") from exc


def _greedy_lines(words: list[str], font, max_width: float) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in words:
        trial = f"{current} {word}" if current else word
        if current and font.getlength(trial) > max_width:
            lines.append(current)
            current = word
        else:
            current = trial
    if current:
        lines.append(current)
    return lines


def _fit_lines(text: str, font, max_width: float) -> list[str]:
    """Wrap to ``max_width`` pixels, keeping the cue's own line breaks when they fit, and
    balancing the lines (narrowest width that needs no more lines) when they do not."""
    given = [line for line in text.split("\n") if line.strip()]
    if all(font.getlength(line) <= max_width for line in given):
        return given
    words = text.split()
    count = len(_greedy_lines(words, font, max_width))
    low, high = max(font.getlength(w) for w in words), max_width
    for _ in range(12):  # binary search on the line width, in pixels
        mid = (low + high) / 2
        if len(_greedy_lines(words, font, mid)) <= count:
            high = mid
        else:
            low = mid
    return _greedy_lines(words, font, high)


@lru_cache(maxsize=512)
def _cue_bitmap(text: str, width: int, height: int, style: SubtitleStyle) -> _Bitmap | None:
    from PIL import Image, ImageDraw

    max_width = width * (1 - 2 * style.side_margin)
    base = max(style.min_font_px, int(round(height * style.font_scale)))
    wanted_lines = text.count("\n") + 1
    sizes = sorted({max(style.min_font_px, int(base * f)) for f in np.linspace(1.0, 0.4, 13)}, reverse=True)

    def layout(size: int):
        font = _font(style.font_path, size)
        # the outline is drawn outside the letters: it must stay inside the safe area too
        room = max_width - 2 * max(1, int(round(size * style.outline_scale))) - 2
        lines = _fit_lines(text, font, room)
        return font, lines, max((font.getlength(line) for line in lines), default=0), room

    # Prefer the cue's own line breaks with a slightly smaller font; otherwise shrink only as far as
    # needed not to overflow the safe area (or cover the face with many lines).
    candidates = [layout(s) for s in sizes if s >= base * 0.8]
    chosen = next((c for c in candidates if len(c[1]) <= wanted_lines and c[2] <= c[3]), None)
    if chosen is None:
        chosen = next((c for c in map(layout, sizes) if len(c[1]) <= 3 and c[2] <= c[3]), None)
    font, lines, _, _ = chosen or layout(sizes[-1])
    size = font.size
    if not lines:
        return None
    stroke = max(1, int(round(size * style.outline_scale)))
    spacing = int(round(size * style.line_spacing))
    body = "\n".join(lines)
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    left, top, right, bottom = probe.multiline_textbbox(
        (0, 0), body, font=font, spacing=spacing, align="center", stroke_width=stroke
    )
    pad = stroke + 2 + (int(size * 0.3) if style.box_opacity > 0 else 0)
    w, h = int(right - left) + 2 * pad, int(bottom - top) + 2 * pad
    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    if style.box_opacity > 0:
        draw.rounded_rectangle((0, 0, w - 1, h - 1), radius=pad, fill=(0, 0, 0, int(255 * style.box_opacity)))
    draw.multiline_text(
        (pad - left, pad - top),
        body,
        font=font,
        fill=(*style.color, 255),
        spacing=spacing,
        align="center",
        stroke_width=stroke,
        stroke_fill=(*style.outline_color, 255),
    )
    rgba = np.asarray(img, dtype=np.uint16)
    alpha = rgba[..., 3:4]
    # keep the bitmap inside the frame even on tiny frames
    w, h = min(w, width), min(h, height)
    alpha, rgb = alpha[:h, :w], rgba[:h, :w, :3]
    x = (width - w) // 2
    y = max(0, int(round(height * (1 - style.bottom_margin))) - h)
    premultiplied = ((rgb * alpha + 127) // 255).astype(np.uint8)
    inverse = np.repeat(255 - alpha, 3, axis=2).astype(np.uint8)
    return _Bitmap(x, y, np.ascontiguousarray(premultiplied), np.ascontiguousarray(inverse))


def active_cue(cues: Sequence[Cue], t_seconds: float) -> Cue | None:
    """The cue on screen at ``t_seconds`` (cues sorted by start), or None."""
    i = bisect.bisect_right(cues, t_seconds, key=lambda c: c.start) - 1
    if i >= 0 and cues[i].start <= t_seconds < cues[i].end:
        return cues[i]
    return None


def burn_in(frame: np.ndarray, t_seconds: float, cues: Sequence[Cue], style: SubtitleStyle | None = None) -> np.ndarray:
    """Draw the cue active at ``t_seconds`` onto an RGB uint8 frame (H, W, 3).

    Returns a new frame with the subtitle, or ``frame`` itself when no cue is active.
    """
    cue = active_cue(cues, t_seconds)
    if cue is None:
        return frame
    import cv2

    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"burn_in needs an RGB uint8 frame (H, W, 3), got {frame.dtype} {frame.shape}")
    height, width = frame.shape[:2]
    bitmap = _cue_bitmap(cue.text, width, height, style or SubtitleStyle())
    if bitmap is None:
        return frame
    out = frame.copy()
    h, w = bitmap.inverse_alpha.shape[:2]
    region = out[bitmap.y : bitmap.y + h, bitmap.x : bitmap.x + w]
    # OpenCV's saturating uint8 arithmetic is several times faster than numpy here
    region[...] = cv2.add(cv2.multiply(region, bitmap.inverse_alpha, scale=1 / 255), bitmap.premultiplied)
    return out


# ---------------------------------------------------------------------------------------------
# Cues for uploaded audio


def words_from_audio(
    studio, audio: np.ndarray, sample_rate: int, *, language: str | None = None, model: str = "whisper-base"
) -> list[WordTiming]:
    """Spoken words with start/end in seconds for a recording with no TTS timings (an uploaded
    voice-over at ``sample_rate`` Hz), from faster-whisper word timestamps."""
    from engines.asr.base import ASR_SAMPLE_RATE, to_mono_16k
    from studio.script.dictation import speech_recognizer

    mono = to_mono_16k(audio, sample_rate)  # once, for both Whisper and the loudness check
    transcript = speech_recognizer(studio, model).transcribe(
        mono, ASR_SAMPLE_RATE, language=language, word_timestamps=True
    )
    return snap_to_speech(transcript.words, mono, ASR_SAMPLE_RATE)


def snap_to_speech(
    words: Sequence[WordTiming], audio: np.ndarray, sample_rate: int, frame_s: float = 0.01
) -> list[WordTiming]:
    """Move each word's start later and its end earlier over silence inside it.

    ``audio`` is mono float samples at ``sample_rate`` Hz (see ``engines.asr.base.to_mono_16k``).
    Whisper often stretches a word over a pause before it (the first word of a recording starting
    at 0.0 s although the voice starts later), which would show a subtitle early. Only silence is
    trimmed (loudness below 3 % of the loudest ~10 ms, or 3× the noise floor): a word never grows.
    """
    from studio.voice.audio import rms_envelope

    samples = np.asarray(audio, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError(f"snap_to_speech needs mono audio, got shape {samples.shape}")
    rms, hop = rms_envelope(samples, sample_rate, frame_s)
    n = len(rms)
    if n == 0 or not words:
        return list(words)
    frame = hop / sample_rate  # the envelope's true frame length, not the nominal frame_s
    threshold = max(0.03 * float(rms.max()), 3.0 * float(np.percentile(rms, 10)), 1e-4)
    loud = rms > threshold
    out: list[WordTiming] = []
    for w in words:
        a, b = int(w.start / frame), min(n, int(np.ceil(w.end / frame)))
        inside = np.nonzero(loud[a:b])[0]
        if b <= a or len(inside) == 0:
            out.append(w)
            continue
        start = max(w.start, (a + inside[0]) * frame - frame)
        end = min(w.end, (a + inside[-1] + 1) * frame + frame)
        out.append(WordTiming(w.word, round(start, 3), round(max(end, start + frame), 3)))
    return out


def cues_from_audio(
    studio,
    audio: np.ndarray,
    sample_rate: int,
    *,
    language: str | None = None,
    model: str = "whisper-base",
    **cue_options,
) -> list[Cue]:
    """Subtitle cues for an uploaded recording (see :func:`words_from_audio`).
    ``cue_options`` go to :func:`cues_from_words`."""
    return cues_from_words(words_from_audio(studio, audio, sample_rate, language=language, model=model), **cue_options)
