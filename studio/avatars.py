"""The avatar library: checked portraits kept as reusable avatars.

Each avatar is a folder ``avatars/<name>/`` holding the original photo exactly as uploaded (the
animation engine crops it itself and pastes back into it), ``avatar.json`` (name, created,
quality report, settings), ``landmarks.npz`` (68 points in the pixels of the photo as loaded by
``studio.portrait.read_photo``) and ``thumbnail.jpg``. Folders are built in a staging folder and
moved into place in one step, so a crash never leaves half an avatar.
"""

from __future__ import annotations

import io
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio import storage
from studio.config import StudioPaths
from studio.errors import InputError, RejectedError
from studio.portrait import REJECTED, PortraitReport, Thresholds, check_portrait, read_photo

AVATAR_JSON = "avatar.json"
LANDMARKS_NPZ = "landmarks.npz"
THUMBNAIL = "thumbnail.jpg"
THUMB_SIDE = 256  # pixels
_PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


@dataclass
class Avatar:
    """A saved avatar; paths point into its folder."""

    name: str
    folder: Path
    created: str
    original: Path
    verdict: str
    report: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def thumbnail(self) -> Path:
        return self.folder / THUMBNAIL

    @property
    def landmarks_path(self) -> Path:
        return self.folder / LANDMARKS_NPZ

    def landmarks(self) -> np.ndarray:
        """The (68, 2) landmarks in pixels of ``read_photo(self.original).image``."""
        return storage.read_npz(self.landmarks_path)["landmarks"]


class AvatarLibrary:
    """Add, list, rename, remove and load avatars under ``paths.avatars``.

    ``studio`` supplies the face back-end (``studio.face()``) so the model loads once per
    process; without it a :class:`studio.services.Studio` is made on first use.
    """

    def __init__(self, paths: StudioPaths, studio=None, face_backend: str = "dlib68"):
        self.paths = paths
        self.root = paths.avatars
        self._studio = studio
        self.face_backend = face_backend

    def _face(self):
        if self._studio is None:
            from studio.services import Studio

            self._studio = Studio(self.paths)
        return self._studio.face(self.face_backend)

    # -- reading ----------------------------------------------------------------------------
    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and not p.name.startswith(".") and (p / AVATAR_JSON).is_file())

    def list(self) -> list[Avatar]:
        """All avatars, newest first; damaged folders are skipped."""
        out = []
        for name in self.names():
            try:
                out.append(self.load(name))
            except InputError:
                continue
        return sorted(out, key=lambda a: a.created, reverse=True)

    def exists(self, name: str) -> bool:
        return (storage.child_path(self.root, name) / AVATAR_JSON).is_file()

    def load(self, name: str) -> Avatar:
        folder = storage.child_path(self.root, name)
        if not (folder / AVATAR_JSON).is_file():
            raise InputError(f"there is no avatar named '{name}': run `python app.py portrait list` to see them")
        data = storage.read_json(folder / AVATAR_JSON)
        try:
            return Avatar(name=folder.name, folder=folder, created=data["created"], original=folder / data["original"],
                          verdict=data["report"]["verdict"], report=data["report"], settings=data.get("settings", {}))
        except (KeyError, TypeError) as exc:
            raise InputError(f"the avatar '{name}' is damaged: remove it and add the photo again") from exc

    # -- changing ---------------------------------------------------------------------------
    def check(self, image_path: str | Path, thresholds: Thresholds | None = None) -> PortraitReport:
        """The quality report of a photo, without saving anything."""
        photo = read_photo(image_path)
        return check_portrait(photo.image, self._face(), original_size=photo.original_size,
                              thresholds=thresholds, notes=photo.notes)

    def add(self, name: str, image_path: str | Path, *, report: PortraitReport | None = None,
            settings: dict[str, Any] | None = None) -> Avatar:
        """Check the photo and save it as avatar ``name``.

        Raises RejectedError (with the main reason) for a rejected photo, InputError for an
        unreadable one or a name already taken. ``report`` skips a second check when the caller
        has just checked the same file.
        """
        safe = storage.sanitize_name(name)
        target = storage.child_path(self.root, safe)
        if target.exists():
            raise InputError(f"an avatar named '{safe}' already exists: choose another name or remove it first")
        image_path = Path(image_path)
        photo = read_photo(image_path)
        if report is None:
            report = check_portrait(photo.image, self._face(), original_size=photo.original_size, notes=photo.notes)
        if report.verdict == REJECTED or report.face is None:
            raise RejectedError(f"this photo cannot be used as an avatar: {report.summary().split(': ', 1)[-1].rstrip('.')}")
        suffix = image_path.suffix.lower() if image_path.suffix.lower() in _PHOTO_SUFFIXES else ".img"
        original_name = f"original{suffix}"
        created = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        staging = storage.staging_dir(self.root, safe)
        try:
            with storage.atomic_path(staging / original_name) as tmp:
                shutil.copyfile(image_path, tmp)  # byte-exact: keeps EXIF and full quality
            storage.atomic_write_npz(staging / LANDMARKS_NPZ, landmarks=np.asarray(report.face.landmarks, np.float32),
                                     box=np.asarray(report.face.box, np.int32),
                                     image_size=np.asarray(report.image_size, np.int32))
            storage.atomic_write_bytes(staging / THUMBNAIL, _thumbnail(photo.image, report))
            storage.atomic_write_json(staging / AVATAR_JSON, {
                "name": safe,
                "display_name": str(name),
                "created": created,
                "original": original_name,
                "source_file": image_path.name,
                "report": report.to_dict(),
                "settings": {"face_backend": report.backend, "landmarks_space": "read_photo", **(settings or {})},
            })
            storage.replace_dir(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return self.load(safe)

    def rename(self, old: str, new: str) -> Avatar:
        """Rename an avatar (its folder and the name in ``avatar.json``)."""
        avatar = self.load(old)
        safe = storage.sanitize_name(new)
        target = storage.child_path(self.root, safe)
        if target == avatar.folder:
            return avatar
        if target.exists():
            raise InputError(f"an avatar named '{safe}' already exists: choose another name")
        data = storage.read_json(avatar.folder / AVATAR_JSON)
        data["name"], data["display_name"] = safe, str(new)
        storage.atomic_write_json(avatar.folder / AVATAR_JSON, data)
        try:
            storage.replace_dir(avatar.folder, target)
        except BaseException:
            data["name"], data["display_name"] = avatar.name, avatar.name
            storage.atomic_write_json(avatar.folder / AVATAR_JSON, data)
            raise
        return self.load(safe)

    def remove(self, name: str) -> None:
        """Delete an avatar folder (moved aside first, so it never ends half deleted)."""
        avatar = self.load(name)
        storage.remove_dir(avatar.folder)


def _thumbnail(image: np.ndarray, report: PortraitReport) -> bytes:
    """A square JPEG of the head and shoulders, ``THUMB_SIDE`` pixels."""
    from PIL import Image

    h, w = image.shape[:2]
    x0, y0, x1, y1 = report.face.box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    side = min(max(x1 - x0, y1 - y0) * 2.2, w, h)
    left = int(min(max(0, cx - side / 2), w - side))
    top = int(min(max(0, cy - side / 2), h - side))
    crop = Image.fromarray(image[top:top + int(side), left:left + int(side)])
    crop = crop.resize((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    crop.save(buf, "JPEG", quality=88)
    return buf.getvalue()
