"""Upload checks: size limits, file types by their content (not their name), safe file names.

The studio opens photos and recordings that came from a browser or a command line; a file
called ``face.png`` may be anything. :func:`check_upload` looks at the first bytes, so a renamed
executable, web page or archive is refused before any decoder sees it, and a file over the size
limit is refused before it is read.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from studio.errors import InputError

MB = 1024 * 1024
MAX_IMAGE_BYTES = 40 * MB  # a 50-megapixel JPEG is about 25 MB
MAX_AUDIO_BYTES = 200 * MB  # 30 minutes of 48 kHz 16-bit mono WAV is 165 MB
MAX_UPLOAD_BYTES = max(MAX_IMAGE_BYTES, MAX_AUDIO_BYTES)  # the web server's own limit
SNIFF_BYTES = 64

IMAGE_TYPES = ("png", "jpeg", "webp")
# webm: what browsers record from the microphone.
AUDIO_TYPES = ("wav", "mp3", "flac", "ogg", "m4a", "webm")
KIND_TYPES = {"image": IMAGE_TYPES, "audio": AUDIO_TYPES}
KIND_LIMITS = {"image": MAX_IMAGE_BYTES, "audio": MAX_AUDIO_BYTES}
KIND_ADVICE = {"image": "use a JPEG, PNG or WebP photo", "audio": "use a WAV, MP3, FLAC, OGG or M4A recording"}

# ISO media brands of audio-only files (M4A, M4B, AAC in MP4) and the common generic ones.
_MP4_BRANDS = {
    b"M4A ",
    b"M4B ",
    b"M4P ",
    b"mp42",
    b"mp41",
    b"isom",
    b"iso2",
    b"iso4",
    b"iso5",
    b"iso6",
    b"dash",
    b"3gp4",
    b"3gp5",
    b"3gp6",
    b"qt  ",
    b"MSNV",
    b"f4a ",
}


def sniff(head: bytes) -> str | None:
    """The file type its first bytes say (``png``, ``jpeg``, ``wav``, ...), or None if unknown."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"ID3"):
        return "mp3"
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and (head[1] >> 1) & 3:
        return "mp3"  # an MPEG audio frame header (layer bits non-zero, so not AAC ADTS)
    if head[4:8] == b"ftyp" and head[8:12] in _MP4_BRANDS:
        return "m4a"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm"
    if head.startswith(b"GIF8"):
        return "gif"
    if head.startswith(b"BM"):
        return "bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    return None


@dataclass(frozen=True)
class Upload:
    """A checked upload: where it is, what it is, how big."""

    path: Path
    kind: str  # "image" or "audio"
    type: str  # e.g. "png", "mp3"
    size: int  # bytes


def check_upload(path: str | os.PathLike, kind: str, *, max_bytes: int | None = None) -> Upload:
    """Check that ``path`` is a plausible ``kind`` ("image" or "audio") upload.

    Refuses (InputError, one sentence with what to do) a missing or empty file, a folder, a file
    over ``max_bytes`` (default: the kind's limit) and any content that is not one of the kind's
    types, whatever its extension says. Reads only the first bytes.
    """
    if kind not in KIND_TYPES:
        raise ValueError(f"unknown upload kind {kind!r}")
    if path is None or str(path).strip() == "" or "\x00" in str(path):
        raise InputError(f"no {kind} file was given: {KIND_ADVICE[kind]}")
    path = Path(path)
    name = display_name(path.name)
    limit = KIND_LIMITS[kind] if max_bytes is None else max_bytes
    try:
        st = path.stat()
    except FileNotFoundError as exc:
        raise InputError(f"cannot find the {kind} file {name}: upload it again") from exc
    except OSError as exc:
        raise InputError(f"cannot read the {kind} file {name}: {exc.strerror or exc}") from exc
    if not path.is_file():
        raise InputError(f"{name} is not a file: {KIND_ADVICE[kind]}")
    if st.st_size == 0:
        raise InputError(f"{name} is empty: upload the {kind} again")
    if st.st_size > limit:
        raise InputError(
            f"{name} is {st.st_size / MB:.0f} MB, over the {limit / MB:.0f} MB limit for "
            f"{'photos' if kind == 'image' else 'recordings'}: use a smaller file"
        )
    try:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError as exc:
        raise InputError(f"cannot read the {kind} file {name}: {exc.strerror or exc}") from exc
    found = sniff(head)
    if found not in KIND_TYPES[kind]:
        what = f"a {found.upper()} file" if found else "not a file type this studio opens"
        raise InputError(f"{name} is {what}: {KIND_ADVICE[kind]}")
    return Upload(path=path, kind=kind, type=found, size=st.st_size)


def check_image_upload(path: str | os.PathLike) -> Upload:
    """:func:`check_upload` for a portrait photo (PNG, JPEG, WebP)."""
    return check_upload(path, "image")


def check_audio_upload(path: str | os.PathLike) -> Upload:
    """:func:`check_upload` for a recording (WAV, MP3, FLAC, OGG, M4A, or a browser's WebM)."""
    return check_upload(path, "audio")


def display_name(name: str, limit: int = 60) -> str:
    """A user-given file name safe to echo in a message (no control characters, shortened)."""
    text = "".join(c if c.isprintable() else "?" for c in str(name))
    return text if len(text) <= limit else text[: limit - 1] + "…"


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name: str, *, default: str = "upload", max_len: int = 80) -> str:
    """A file name for storing an upload: ASCII letters, digits, ``._-``, no folders, no leading dot.

    ``"../../etc/passwd"`` -> ``"passwd"``, ``"C:\\\\x\\\\photo 1.JPG"`` -> ``"photo-1.jpg"``. The
    extension is kept (lower-cased); a name with nothing usable left becomes ``default``.
    """
    base = re.split(r"[\\/]", str(name).replace("\x00", ""))[-1]
    stem, dot, ext = base.rpartition(".")
    if not stem.strip("."):  # "name" or ".bashrc": no extension
        stem, ext = base, ""
    stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    stem = _UNSAFE.sub("-", stem).strip("-._")
    ext = _UNSAFE.sub("", ext).lower()[:8]
    stem = (stem or default)[: max_len - len(ext) - 1].strip("-._") or default
    return f"{stem}.{ext}" if ext else stem
