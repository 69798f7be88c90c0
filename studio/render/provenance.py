"""Provenance of every export: metadata that says "AI-generated", and an optional invisible watermark.

Metadata goes into the MP4's standard tags (``comment``, ``description``, ``keywords`` and a JSON
``synopsis``), the ones the MP4 muxer keeps and that survive a plain ffmpeg re-encode; ffprobe and
PyAV show them.

The watermark hides a 64-bit payload (``AS`` + a 4-byte id + CRC-16) in the brightness of
16x16-pixel cells by quantisation index modulation: the mean luma of each cell's flat middle is
moved to the nearest point of one of two interleaved lattices (step ``STEP`` grey levels, keyed
dither), one lattice per bit value. Cells line up with H.264 macroblocks and the shift eases to zero
at their edges (the deblocking filter would smooth a step there). Every bit is spread over many
cells across the frame and the reader sums soft votes over cells and frames, reading luma straight
from the decoded Y plane, so a re-encode at crf 28 or 200 kbit/s still reads back (a resize does
not). The change is at most +-STEP/2 grey levels, on R, G and B alike (colour is kept).
The id is the studio version and a kind byte (1 = AI-generated video), the same for every export
of a version: it says where a video came from without tracing who made it, and cached chunks of
earlier renders carry the same payload.

The key that lays out the cells and their dither is made once per installation (64 random bits in
``STUDIO_HOME/watermark.key``): ``verify`` reads the marks made by this installation (the same data
folder, or a copy of its key file), not those of another one. Known limits: a resize, crop, rotation
or a strong blur destroys the mark; a screen recording usually does too; it is a provenance hint,
not a proof, and anyone with the key file could copy the mark.
"""

from __future__ import annotations

import binascii
import functools
import json
import os
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.errors import InputError

TOOL = "Avatar Studio"
AI_NOTICE = "AI-generated with Avatar Studio: synthetic talking-head video (face animation and voice)"
MAGIC = b"AS"
CELL = 16  # pixels; one H.264 macroblock
STEP = 6.0  # grey levels between the two bit lattices' points (the strength)
EDGE = 1  # pixels at each cell edge left unchanged
INNER_START = 4  # the reader measures pixels INNER_START .. CELL-INNER_START-1 of each cell
PAYLOAD_BITS = 64
KEY_FILE = "watermark.key"  # in the data folder: this installation's key of the cell layout and dither
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


# ---------------------------------------------------------------------------------------------
# What an export says about itself


@dataclass
class Provenance:
    """Who made a video and with what; written into the MP4 and the manifest."""

    tool: str
    version: str
    models: list[str]
    voice: str
    consent: str
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    watermark_id: str | None = None  # 8 hex digits when the frames carry the watermark

    def to_dict(self) -> dict[str, Any]:
        return {"ai_generated": True, **asdict(self)}

    def metadata(self) -> dict[str, str]:
        """MP4 tags for ffmpeg's ``-metadata key=value`` (kept by the muxer and by re-encodes)."""
        text = (
            f"AI-generated video. Tool: {self.tool} {self.version}. Models: {'; '.join(self.models)}. "
            f"Voice: {self.voice}. {self.consent}"
        )
        return {
            "comment": AI_NOTICE,
            "description": text,
            "keywords": "AI-generated; synthetic media; Avatar Studio",
            "synopsis": json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":")),
        }

    def mark(self, frame: np.ndarray) -> np.ndarray:
        """``frame`` with the watermark when this export carries one, else unchanged."""
        if self.watermark_id is None:
            return frame
        return embed_watermark(frame, payload_bytes(self.watermark_id))


def consent_note(voice: str | None, profile_settings: dict[str, Any] | None = None) -> str:
    """One sentence on whose voice this is and on consent (``voice`` = profile name, None = built-in)."""
    if voice is None or not str(voice).strip():
        return "Voice consent: the built-in synthetic voice; no real person's voice was cloned."
    given = (profile_settings or {}).get("consent")
    if given:
        return f"Voice consent: voice profile '{voice}' ({given})."
    return (
        f"Voice consent: modelled on the voice profile '{voice}', recorded by the studio's user; "
        "share only with the speaker's permission."
    )


def models_used(voice_description: str, animator: str, *, uploaded_audio: bool = False) -> list[str]:
    """Plain names of the models a render used (from the speaker's description and the animator)."""
    desc = voice_description.lower()
    if uploaded_audio:
        voice = "voice: uploaded recording (no TTS)"
    elif "xtts" in desc:
        voice = "TTS: Coqui XTTS-v2 voice clone"
    elif "match" in desc:
        voice = "TTS: Piper en_US-joe-medium + WORLD voice match"
    else:
        voice = "TTS: Piper en_US-joe-medium"
    anim = "animation: procedural 2.5D warp" if animator == "procedural" else f"animation: {animator} (neural lip-sync)"
    return [voice, "face landmarks: dlib 68-point", anim]


def for_render(
    *,
    voice: str | None,
    voice_description: str,
    animator: str,
    uploaded_audio: bool = False,
    watermark: bool = False,
    profile_settings: dict[str, Any] | None = None,
) -> Provenance:
    """The provenance of one render; ``watermark`` picks a fresh random id for the frames."""
    from studio import __version__

    return Provenance(
        tool=TOOL,
        version=__version__,
        models=models_used(voice_description, animator, uploaded_audio=uploaded_audio),
        voice=voice_description,
        consent=consent_note(voice, profile_settings),
        watermark_id=studio_watermark_id() if watermark else None,
    )


KIND_AI_VIDEO = 1


def studio_watermark_id() -> str:
    """The 4-byte id this version writes: major, minor, patch, kind (8 hex digits)."""
    from studio import __version__

    parts = [int(p) if p.isdigit() else 0 for p in (__version__.split(".") + ["0", "0"])[:3]]
    return bytes([min(255, p) for p in parts] + [KIND_AI_VIDEO]).hex()


def describe_watermark_id(watermark_id: str) -> str:
    """What an id read from a video means, in words."""
    raw = bytes.fromhex(watermark_id)
    if raw[3] == KIND_AI_VIDEO:
        return f"AI-generated video made with {TOOL} {raw[0]}.{raw[1]}.{raw[2]}"
    return f"made with {TOOL} (unknown kind {raw[3]})"


@functools.cache
def _studio_payload() -> bytes:
    return payload_bytes(studio_watermark_id())


def watermark_frame(frame: np.ndarray, key: int | None = None) -> np.ndarray:
    """``frame`` carrying this version's watermark under ``key`` (default: this installation's key)."""
    return embed_watermark(frame, _studio_payload(), key)


# ---------------------------------------------------------------------------------------------
# The installation's key


def _home() -> Path:
    from studio.config import StudioPaths

    return StudioPaths.from_env().home


def installation_key(home: Path | None = None) -> int:
    """This installation's watermark key, from ``home/watermark.key``; made on first use (64 random
    bits, written whole or not at all, never replaced). StudioError when the file is damaged."""
    from studio.errors import StudioError

    path = Path(home or _home()) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}.{threading.get_ident()}")
        tmp.write_text(f"{secrets.randbits(64):016x}\n", encoding="ascii")
        try:
            os.link(tmp, path)  # atomic, and fails if another process made the key first: theirs is kept
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    try:
        return int(path.read_text(encoding="ascii").strip(), 16)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise StudioError(
            f"the watermark key {path} is damaged: restore it from a backup, or delete it to make a new "
            "one (watermarks made with the old key will then no longer read)"
        ) from exc


def key_id(key: int) -> str:
    """A short name of a key that does not reveal it (for cache keys and reports)."""
    import hashlib

    return hashlib.sha256(f"watermark-key:{key:016x}".encode()).hexdigest()[:12]


# ---------------------------------------------------------------------------------------------
# The watermark


def payload_bytes(watermark_id: str) -> bytes:
    """8 bytes: ``AS``, the 4-byte id (8 hex digits), CRC-16 of the six."""
    try:
        ident = bytes.fromhex(watermark_id)
    except ValueError as exc:
        raise InputError(f"'{watermark_id}' is not a watermark id (8 hex digits)") from exc
    if len(ident) != 4:
        raise InputError(f"'{watermark_id}' is not a watermark id (8 hex digits)")
    body = MAGIC + ident
    return body + binascii.crc_hqx(body, 0xFFFF).to_bytes(2, "big")


def _payload_id(payload: bytes) -> str | None:
    """The id inside an 8-byte payload, or None when magic or checksum do not match."""
    body, crc = payload[:6], payload[6:8]
    if body[:2] != MAGIC or binascii.crc_hqx(body, 0xFFFF).to_bytes(2, "big") != crc:
        return None
    return body[2:].hex()


@functools.lru_cache(maxsize=8)
def _layout(rows: int, cols: int, key: int) -> tuple[np.ndarray, np.ndarray]:
    """Which payload bit each cell carries (rows, cols) and its dither in grey levels, for ``key``."""
    rng = np.random.default_rng(key)
    n = rows * cols
    bit = (rng.permutation(n) % PAYLOAD_BITS).reshape(rows, cols)
    dither = rng.uniform(0.0, STEP, size=n).astype(np.float32).reshape(rows, cols)
    return bit, dither


def _window() -> np.ndarray:
    """How much of a cell's shift each pixel gets: 1 in the middle, easing to 0 at the cell's edge.

    The encoder's deblocking filter smooths steps at macroblock edges (it takes them for coding
    artefacts), so the shift stays off the edges and the reader measures only the flat middle.
    """
    ramp = np.clip((np.arange(CELL) + 0.5 - EDGE) / (INNER_START - EDGE), 0, 1)
    line = np.minimum(ramp, ramp[::-1])
    line = 0.5 - 0.5 * np.cos(np.pi * line)
    return np.outer(line, line).astype(np.float32)


_WIN = _window()
# Ordered dither for rounding the shift to whole grey levels: the 64 pixels of a cell's middle get
# 64 evenly spread offsets, so their mean moves by the exact fractional shift.
_BAYER8 = np.array(
    [
        [0, 32, 8, 40, 2, 34, 10, 42],
        [48, 16, 56, 24, 50, 18, 58, 26],
        [12, 44, 4, 36, 14, 46, 6, 38],
        [60, 28, 52, 20, 62, 30, 54, 22],
        [3, 35, 11, 43, 1, 33, 9, 41],
        [51, 19, 59, 27, 49, 17, 57, 25],
        [15, 47, 7, 39, 13, 45, 5, 37],
        [63, 31, 55, 23, 61, 29, 53, 21],
    ],
    np.float32,
)
_ROUND = (np.tile(_BAYER8, (CELL // 8, CELL // 8)) + 0.5) / 64.0
_TILE_STEPS = 16  # shifts are applied in 1/16 grey level steps, from ready-made 16x16 tiles
_HALF = int(np.ceil(STEP / 2 * _TILE_STEPS))
_TILES = np.floor(np.arange(-_HALF, _HALF + 1)[:, None, None] / _TILE_STEPS * _WIN + _ROUND).astype(np.int16)


def _cell_means(luma: np.ndarray) -> np.ndarray:
    """Mean luma of the flat middle of every cell, (rows, cols)."""
    rows, cols = luma.shape[0] // CELL, luma.shape[1] // CELL
    cells = luma[: rows * CELL, : cols * CELL].reshape(rows, CELL, cols, CELL)
    return cells[:, INNER_START : CELL - INNER_START, :, INNER_START : CELL - INNER_START].mean(axis=(1, 3))


def _frame_cell_means(frame: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """:func:`_cell_means` of an RGB uint8 frame, fast (OpenCV grey + integral image)."""
    import cv2

    ii = cv2.integral(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY))
    y0, x0 = np.arange(rows) * CELL + INNER_START, np.arange(cols) * CELL + INNER_START
    inner = CELL - 2 * INNER_START
    y1, x1 = y0 + inner, x0 + inner
    sums = ii[y1][:, x1] - ii[y0][:, x1] - ii[y1][:, x0] + ii[y0][:, x0]
    return sums / float(inner * inner)


def embed_watermark(frame: np.ndarray, payload: bytes, key: int | None = None) -> np.ndarray:
    """A copy of RGB uint8 ``frame`` carrying the 8-byte ``payload`` (colour unchanged, luma only)
    under ``key`` (default: this installation's key).

    About 4 ms for a 1280x720 frame on one core.
    """
    import cv2

    if len(payload) * 8 != PAYLOAD_BITS:
        raise ValueError("the payload is 8 bytes")
    rows, cols = frame.shape[0] // CELL, frame.shape[1] // CELL
    if rows * cols < PAYLOAD_BITS:
        return frame  # too small to carry it (under about 128x128 pixels)
    bits = np.unpackbits(np.frombuffer(payload, np.uint8))
    cell_bit, dither = _layout(rows, cols, installation_key() if key is None else key)
    means = _frame_cell_means(frame, rows, cols)
    offset = dither + bits[cell_bit] * (STEP / 2)
    delta = np.round((means - offset) / STEP) * STEP + offset - means  # within +-STEP/2
    index = np.clip(np.rint(delta * _TILE_STEPS).astype(np.intp) + _HALF, 0, 2 * _HALF)
    shift = _TILES[index].transpose(0, 2, 1, 3).reshape(rows * CELL, cols * CELL)
    shift3 = cv2.merge([shift, shift, shift], dst=_scratch(shift.shape))
    h, w = shift.shape
    if frame.shape[:2] == (h, w):
        return cv2.add(np.ascontiguousarray(frame), shift3, dtype=cv2.CV_8U)  # saturating, a new array
    out = frame.copy()
    out[:h, :w] = cv2.add(np.ascontiguousarray(frame[:h, :w]), shift3, dtype=cv2.CV_8U)
    return out


_local = threading.local()


def _scratch(shape: tuple[int, int]) -> np.ndarray:
    """A reused (h, w, 3) int16 buffer per thread (fresh large arrays cost page faults every frame)."""
    buf = getattr(_local, "buf", None)
    if buf is None or buf.shape[:2] != shape:
        buf = _local.buf = np.empty((*shape, 3), np.int16)
    return buf


@dataclass
class WatermarkReading:
    """What the reader found: ``watermark_id`` is None when no valid payload was read."""

    watermark_id: str | None
    confidence: float  # mean |vote| per bit, 0 (noise) .. 1 (clean copy)
    frames: int

    @property
    def found(self) -> bool:
        return self.watermark_id is not None


class WatermarkReader:
    """Sums soft votes for each payload bit over the frames it is fed (``key``: default this
    installation's)."""

    def __init__(self, key: int | None = None):
        self.key = installation_key() if key is None else key
        self.votes = np.zeros(PAYLOAD_BITS, np.float64)
        self.counts = np.zeros(PAYLOAD_BITS, np.float64)
        self.frames = 0

    def add(self, frame: np.ndarray) -> None:
        """Feed one RGB uint8 (or float luma, 2-D) frame."""
        luma = frame.astype(np.float32) @ _LUMA if frame.ndim == 3 else frame.astype(np.float32)
        rows, cols = luma.shape[0] // CELL, luma.shape[1] // CELL
        if rows * cols < PAYLOAD_BITS:
            return
        cell_bit, dither = _layout(rows, cols, self.key)
        vote = np.cos(2 * np.pi * (_cell_means(luma) - dither) / STEP)  # +1 = bit 0, -1 = bit 1
        self.votes += np.bincount(cell_bit.ravel(), weights=vote.ravel(), minlength=PAYLOAD_BITS)
        self.counts += np.bincount(cell_bit.ravel(), minlength=PAYLOAD_BITS)
        self.frames += 1

    def result(self) -> WatermarkReading:
        if self.frames == 0:
            return WatermarkReading(None, 0.0, 0)
        soft = self.votes / np.maximum(self.counts, 1)
        payload = np.packbits((soft < 0).astype(np.uint8)).tobytes()
        return WatermarkReading(_payload_id(payload), float(np.mean(np.abs(soft))), self.frames)


def _luma(frame) -> np.ndarray:
    """Luma of a decoded PyAV frame on the 0..255 scale of the RGB it was made from.

    Read straight from the Y plane: converting to RGB and back adds a brightness-dependent bias of
    about a grey level, enough to blur the lattice.
    """
    if frame.format.name != "yuv420p":
        frame = frame.reformat(format="yuv420p")
    y = frame.to_ndarray()[: frame.height].astype(np.float32)
    full = str(getattr(frame, "color_range", "")).lower() in ("2", "jpeg", "colorrange.jpeg")
    return y if full else (y - 16.0) * (255.0 / 219.0)


def read_watermark(frames: Iterable[np.ndarray], key: int | None = None) -> WatermarkReading:
    """Read the payload from RGB frames (all of them vote)."""
    reader = WatermarkReader(key)
    for frame in frames:
        reader.add(frame)
    return reader.result()


# ---------------------------------------------------------------------------------------------
# Reading an export back (``app.py verify``)


@dataclass
class Verification:
    """What a video says about its origin."""

    path: str
    metadata: dict[str, str]
    provenance: dict[str, Any] | None  # the JSON tag written by this studio, when present
    ai_marked: bool  # some tag says AI-generated
    watermark: WatermarkReading | None

    @property
    def found(self) -> bool:
        return self.ai_marked or bool(self.watermark and self.watermark.found)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["found"] = self.found
        if self.watermark is not None:
            out["watermark"]["found"] = self.watermark.found
        return out


def verify_video(
    path: str | Path, *, max_frames: int = 250, watermark: bool = True, key: int | None = None
) -> Verification:
    """Read the provenance tags and (unless ``watermark`` is False) the watermark of a video; the
    watermark is read with ``key`` (default: this installation's, so marks made here).

    Reads at most ``max_frames`` frames. Raises InputError for a missing or unreadable file.
    """
    import av

    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder: give the path of a video file")
    if not path.is_file():
        raise InputError(f"cannot find the video {path}: check the file name")
    unreadable = f"{path.name} is not a readable video: give an MP4 (or other video) file"
    if watermark and key is None:
        key = installation_key()  # before reading, so a damaged key file is reported as such
    reading = None
    try:
        with av.open(str(path)) as container:
            tags = {str(k): str(v) for k, v in container.metadata.items()}
            streams = [s for s in container.streams if s.type == "video"]
            if watermark and streams:
                reader = WatermarkReader(key)
                try:
                    for frame in container.decode(streams[0]):
                        reader.add(_luma(frame))
                        if reader.frames >= max_frames:
                            break
                except Exception:
                    if reader.frames == 0:
                        raise
                reading = reader.result()
    except Exception as exc:
        raise InputError(unreadable) from exc
    if not streams and not tags:
        raise InputError(f"{path.name} has no video stream: give a video file")
    prov = None
    try:
        parsed = json.loads(tags.get("synopsis", ""))
        prov = parsed if isinstance(parsed, dict) and parsed.get("tool") == TOOL else None
    except ValueError:
        pass
    marked = bool(prov and prov.get("ai_generated")) or any("ai-generated" in v.lower() for v in tags.values())
    return Verification(str(path), tags, prov, marked, reading)
