"""Atomic writes and safe names for everything the studio saves.

Every write goes to a temporary file in the destination folder, is flushed and fsynced, then
renamed over the target, so a crash or a full disk never leaves a half-written file behind and
never destroys the previous version.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from engines import files
from studio.errors import InputError, StudioError

_NAME_MAX = 64
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def sanitize_name(name: str) -> str:
    """Turn a user-given name ("Anna's voice #2") into a safe folder name ("Anna-s-voice-2").

    Raises InputError when nothing usable is left (empty, only dots or symbols).
    """
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-_")[:_NAME_MAX].strip("-_")
    if not text or text.lower() in _RESERVED:
        raise InputError(f"'{name}' is not a usable name: use letters, digits, '-' or '_'")
    return text


def child_path(root: Path, name: str) -> Path:
    """The folder for ``name`` directly inside ``root``; never escapes ``root``."""
    path = (Path(root) / sanitize_name(name)).resolve()
    if path.parent != Path(root).resolve():
        raise InputError(f"'{name}' is not a usable name")
    return path


def _disk_error(path: Path, exc: OSError) -> StudioError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StudioError(f"the disk is full while saving {path.name}: free some space and try again")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return StudioError(f"cannot write {path}: the folder is not writable")
    return StudioError(f"could not save {path.name}: {exc.strerror or exc}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    Disk-full and permission problems become a StudioError with advice; the old file survives.
    """
    try:
        with files.atomic_path(path) as tmp:
            yield tmp
    except OSError as exc:
        raise _disk_error(Path(path), exc) from exc


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """:func:`engines.files.write_json_atomic` (the one JSON writer), with disk errors in plain words."""
    try:
        return files.write_json_atomic(path, obj)
    except OSError as exc:
        raise _disk_error(Path(path), exc) from exc


def atomic_write_npz(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """Save arrays as ``.npz`` atomically (never pickled: object arrays are refused)."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    return atomic_write_bytes(path, buf.getvalue())


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; a missing or corrupt file raises InputError naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(f"{path} is missing") from exc
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} is damaged and cannot be read") from exc


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load every array of an ``.npz`` file (pickles refused)."""
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def replace_dir(staging: Path, target: Path) -> None:
    """Move a fully written ``staging`` folder into place as ``target`` (which must not exist)."""
    if target.exists():
        raise InputError(f"'{target.name}' already exists: choose another name or remove it first")
    os.replace(staging, target)
    files.fsync_dir(target.parent)


def staging_dir(root: Path, name: str) -> Path:
    """A fresh hidden folder inside ``root`` to build a new entry in before ``replace_dir``."""
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".new", dir=root))


def remove_dir(path: Path) -> None:
    """Remove a saved entry: renamed aside first, so a crash never leaves it half deleted."""
    trash = path.with_name(f".{path.name}.deleting")
    os.replace(path, trash)
    shutil.rmtree(trash, ignore_errors=True)


def disk_free_bytes(path: str | os.PathLike) -> int:
    """Free space in bytes on the disk holding ``path`` (or its nearest existing parent)."""
    p = Path(path).resolve()
    while not p.exists():
        p = p.parent
    return shutil.disk_usage(p).free
