"""Content-hash caches of the render stages, and the finished video chunks of a render.

Every cache entry is named by a hash of everything its content depends on, so a re-render after
a small edit finds what did not change. An entry that fails to load (damaged, half-written by a
crash, from an older version) is deleted and rebuilt, never trusted.

Chunk files (one per sentence, video only, H.264) live in ``cache/chunks/`` beside a small JSON
sidecar written *after* the video, holding the frame count, the video's sha256 and the per-frame
mouth openings of the lip-sync check. A chunk counts only when both agree. The progress of one
render (which chunks are done) is kept in ``cache/render/<request hash>/chunks.json``.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engines.files import file_sha256
from studio.storage import atomic_write_json, read_npz

CHUNK_CACHE_MAX_BYTES = 4 * 1024**3  # oldest chunks beyond this are removed after a render


def content_hash(*parts: Any) -> str:
    """A short, stable hash of JSON-able ``parts`` (24 hex characters)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode())
        h.update(b"\0")
    return h.hexdigest()[:24]


def array_hash(array: np.ndarray) -> str:
    """Hash of an array's bytes and shape (24 hex characters)."""
    a = np.ascontiguousarray(array)
    return hashlib.sha256(a.tobytes() + str(a.shape).encode() + str(a.dtype).encode()).hexdigest()[:24]


@functools.lru_cache(maxsize=16)
def code_fingerprint(obj_type: type) -> str:
    """Hash of the Python sources in the folder that defines ``obj_type`` (an engine class).

    Part of cache keys of what that engine makes, so a changed or upgraded engine never reuses
    frames or rigs made by the old code.
    """
    try:
        folder = Path(inspect.getfile(obj_type)).resolve().parent
    except (TypeError, OSError):
        return "unknown"
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        try:
            h.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
        except OSError:
            continue
    return h.hexdigest()[:16]


@functools.lru_cache(maxsize=16)
def module_fingerprint(*modules: str) -> str:
    """Hash of the source files of the named modules (e.g. ``"studio.render.subtitles"``).

    Missing modules count as absent."""
    import importlib.util

    h = hashlib.sha256()
    for name in modules:
        try:
            origin = importlib.util.find_spec(name).origin
            h.update(name.encode() + b"\0" + Path(origin).read_bytes())
        except (AttributeError, ImportError, OSError, TypeError, ValueError):
            h.update(name.encode() + b"\0absent")
    return h.hexdigest()[:16]


def landmarks_entry(cache: Path, image: np.ndarray) -> Path:
    """Where the 68 landmarks of ``image`` (RGB pixels) are cached under ``cache``."""
    return Path(cache) / "landmarks" / f"{array_hash(image)}.npz"


def load_npz_entry(path: Path, *required: str) -> dict[str, np.ndarray] | None:
    """The arrays of a cached ``.npz``, or None when missing; a damaged entry is deleted."""
    if not path.exists():
        return None
    try:
        data = read_npz(path)
        if any(k not in data for k in required):
            raise KeyError(f"missing {required}")
        return data
    except Exception:  # noqa: BLE001 - anything wrong with a cache entry means: rebuild it
        path.unlink(missing_ok=True)
        return None


@dataclass
class Chunk:
    """A finished piece of video: ``frames`` frames in ``video`` (H.264, no audio)."""

    key: str
    video: Path
    frames: int
    openings: np.ndarray  # mouth opening per frame (lip-sync self-check), may be empty


class ChunkStore:
    """Finished chunks by content key (``cache/chunks/ab/abcdef....mp4`` + ``.json``)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def video_path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.mp4"

    def _sidecar(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def load(self, key: str, frames: int) -> Chunk | None:
        """The chunk ``key`` if it is complete and intact with ``frames`` frames, else None.

        Damaged or incomplete entries are removed so they are rendered again.
        """
        video, side = self.video_path(key), self._sidecar(key)
        if not video.exists() and not side.exists():
            return None
        try:
            meta = json.loads(side.read_text(encoding="utf-8"))
            if int(meta["frames"]) != frames or file_sha256(video) != meta["sha256"]:
                raise ValueError("chunk does not match its record")
            openings = np.asarray(meta.get("openings") or [], np.float32)
        except Exception:  # noqa: BLE001 - a chunk we cannot trust is rendered again
            self.discard(key)
            return None
        now = time.time()
        for p in (video, side):  # recently used: kept longest by prune()
            try:
                os.utime(p, (now, now))
            except OSError:
                pass
        return Chunk(key=key, video=video, frames=frames, openings=openings)

    def commit(self, key: str, frames: int, openings: np.ndarray) -> Chunk:
        """Record the finished video at ``video_path(key)`` (written atomically by the encoder)."""
        video = self.video_path(key)
        atomic_write_json(
            self._sidecar(key),
            {"frames": int(frames), "sha256": file_sha256(video), "openings": [round(float(x), 4) for x in openings]},
        )
        return Chunk(key=key, video=video, frames=frames, openings=np.asarray(openings, np.float32))

    def discard(self, key: str) -> None:
        self.video_path(key).unlink(missing_ok=True)
        self._sidecar(key).unlink(missing_ok=True)

    def prune(self, max_bytes: int = CHUNK_CACHE_MAX_BYTES, keep: set[str] = frozenset()) -> int:
        """Remove the least recently used chunks until the store is under ``max_bytes``; returns bytes freed.

        Also removes temporary files left by a killed encoder (older than an hour).
        """
        if not self.root.exists():
            return 0
        now = time.time()
        freed = 0
        for part in self.root.glob("*/.*.part.*"):
            try:
                if now - part.stat().st_mtime > 3600:
                    freed += part.stat().st_size
                    part.unlink()
            except OSError:
                pass
        entries = []
        for video in self.root.glob("*/*.mp4"):
            try:
                st = video.stat()
            except OSError:
                continue
            entries.append((st.st_mtime, st.st_size, video.stem))
        total = sum(size for _, size, _ in entries)
        for _, size, key in sorted(entries):
            if total <= max_bytes:
                break
            if key in keep:
                continue
            self.discard(key)
            total -= size
            freed += size
        return freed


class WorkFolder:
    """The in-progress state of one render request: ``chunks.json`` and scratch files.

    The folder is named by the request's content hash, so running the same render again finds
    it (and reports how far the earlier run got). It is removed when the export is complete.
    """

    def __init__(self, root: Path, request_key: str):
        self.path = Path(root) / request_key
        self.request_key = request_key
        self.manifest_path = self.path / "chunks.json"
        self.previous = self._read()

    def _read(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except Exception:  # noqa: BLE001 - no or damaged progress record: start a fresh one
            return None

    @property
    def previously_done(self) -> int:
        """Chunks an earlier, interrupted run of this request had finished."""
        return int((self.previous or {}).get("done", 0))

    def record(self, chunks: list[dict[str, Any]], total: int, done: int, reused: int) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_json(
            self.manifest_path,
            {
                "request": self.request_key,
                "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "total": total,
                "done": done,
                "reused": reused,
                "chunks": chunks,
            },
        )

    def scratch(self, name: str) -> Path:
        self.path.mkdir(parents=True, exist_ok=True)
        return self.path / name

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    @staticmethod
    def prune(root: Path, *, max_age_s: float = 7 * 86400, scratch_age_s: float = 3600) -> None:
        """Forget renders abandoned for ``max_age_s`` seconds; delete scratch files (e.g. the sound of
        a killed run) older than ``scratch_age_s`` seconds. Finished chunks stay in the ChunkStore."""
        now = time.time()
        for folder in Path(root).glob("*"):
            try:
                if not folder.is_dir():
                    continue
                if now - folder.stat().st_mtime > max_age_s:
                    shutil.rmtree(folder, ignore_errors=True)
                    continue
                for scratch in folder.glob("*.wav"):
                    if now - scratch.stat().st_mtime > scratch_age_s:
                        scratch.unlink(missing_ok=True)
            except OSError:
                pass
