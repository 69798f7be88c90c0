"""The avatar library: checked portraits kept as reusable avatars.

Each avatar is a folder ``avatars/<name>/`` holding the original photo exactly as uploaded (the
animation engine crops it itself and pastes back into it), ``avatar.json`` (name, created,
quality report, settings), ``landmarks.npz`` (68 points in the pixels of the photo as loaded by
``studio.photo.read_photo``), ``thumbnail.jpg``, and the face crop the animation starts
from: ``face.png`` (a square ``expand`` face sizes wide, room for head motion) with ``face.npz``
(crop box in the photo, landmarks in the crop, a triangle mesh over them, face/eye/mouth masks),
keyed by the sha256 of the original and the settings, so a stale cache is rebuilt, never trusted.
Folders are built in a staging folder and moved into place in one step, so a crash never leaves
half an avatar.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engines.animate.base import AnimationSettings
from engines.files import file_sha256
from studio import storage
from studio.config import StudioPaths
from studio.errors import InputError, RejectedError
from studio.portrait.checks import REJECTED, PortraitReport, Thresholds, check_portrait, face_mask
from studio.portrait.faces import face_engine
from studio.portrait.photo import Photo, read_photo
from studio.render.cache import landmarks_entry

AVATAR_JSON = "avatar.json"
LANDMARKS_NPZ = "landmarks.npz"
THUMBNAIL = "thumbnail.jpg"
FACE_PNG = "face.png"
FACE_NPZ = "face.npz"
DEFAULT_EXPAND = AnimationSettings.crop_expand  # face sizes: the animation's default crop
EXPAND_RANGE = (1.2, 4.0)  # face sizes a saved avatar's crop may span
FACE_CACHE_VERSION = "1"
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
    def original_path(self) -> Path:
        """The photo exactly as uploaded (the animation pastes back into it)."""
        return self.original

    @property
    def crop_path(self) -> Path:
        return self.folder / FACE_PNG

    @property
    def thumbnail(self) -> Path:
        return self.folder / THUMBNAIL

    @property
    def landmarks_path(self) -> Path:
        return self.folder / LANDMARKS_NPZ

    def landmarks(self) -> np.ndarray:
        """The (68, 2) landmarks in pixels of ``read_photo(self.original).image``."""
        return storage.read_npz(self.landmarks_path)["landmarks"]

    def face_data(self) -> dict[str, np.ndarray]:
        """The cached crop box, crop landmarks, mesh and masks (see ``face_arrays``); rebuilt
        (atomically) when missing, damaged, or made for another photo or expand ratio."""
        expand = float(self.settings.get("crop_expand", DEFAULT_EXPAND))
        key = face_cache_key(self.original, expand, self.settings.get("face_backend", ""))
        try:
            data = storage.read_npz(self.folder / FACE_NPZ)
            if str(data.get("key")) == key:
                return data
        except (OSError, ValueError, KeyError):
            pass
        image = read_photo(self.original).image
        crop, data = face_arrays(image, self.landmarks(), expand)
        data["key"] = np.array(key)
        storage.atomic_write_bytes(self.folder / FACE_PNG, _png(crop))
        storage.atomic_write_npz(self.folder / FACE_NPZ, **data)
        return data


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
        return face_engine(self._studio, self.face_backend)

    # -- reading ----------------------------------------------------------------------------
    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir() and not p.name.startswith(".") and (p / AVATAR_JSON).is_file()
        )

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
            return Avatar(
                name=folder.name,
                folder=folder,
                created=data["created"],
                original=folder / data["original"],
                verdict=data["report"]["verdict"],
                report=data["report"],
                settings=data.get("settings", {}),
            )
        except (KeyError, TypeError) as exc:
            raise InputError(f"the avatar '{name}' is damaged: remove it and add the photo again") from exc

    # -- changing ---------------------------------------------------------------------------
    def check(self, image_path: str | Path, thresholds: Thresholds | None = None) -> PortraitReport:
        """The quality report of a photo, without saving anything."""
        return self.check_photo(image_path, thresholds)[1]

    def check_photo(self, image_path: str | Path, thresholds: Thresholds | None = None) -> tuple[Photo, PortraitReport]:
        """The decoded photo and its quality report (the time includes decoding)."""
        t0 = time.perf_counter()
        photo = read_photo(image_path)
        report = check_portrait(
            photo.image, self._face(), original_size=photo.original_size, thresholds=thresholds, notes=photo.notes
        )
        report.seconds = time.perf_counter() - t0
        return photo, report

    def ensure_free(self, name: str) -> str:
        """The safe folder name for ``name``; InputError when an avatar already uses it."""
        safe = storage.sanitize_name(name)
        if storage.child_path(self.root, safe).exists():
            raise InputError(f"an avatar named '{safe}' already exists: choose another name or remove it first")
        return safe

    def add(
        self,
        name: str,
        image_path: str | Path,
        *,
        report: PortraitReport | None = None,
        expand: float | None = None,
        settings: dict[str, Any] | None = None,
    ) -> Avatar:
        """Check the photo and save it as avatar ``name``.

        ``expand``: the face crop's side in face sizes (room for head motion), 1.2-4.0.
        Raises RejectedError (with the main reason) for a rejected photo, InputError for an
        unreadable one or a name already taken. ``report`` skips a second check when the caller
        has just checked the same file.
        """
        safe = self.ensure_free(name)
        target = storage.child_path(self.root, safe)
        expand = check_expand(expand)
        image_path = Path(image_path)
        photo = read_photo(image_path)
        if report is None:
            report = check_portrait(photo.image, self._face(), original_size=photo.original_size, notes=photo.notes)
        if report.verdict == REJECTED or report.face is None:
            raise RejectedError(
                f"this photo cannot be used as an avatar: {report.summary().split(': ', 1)[-1].rstrip('.')}"
            )
        suffix = image_path.suffix.lower() if image_path.suffix.lower() in _PHOTO_SUFFIXES else ".img"
        original_name = f"original{suffix}"
        created = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        staging = storage.staging_dir(self.root, safe)
        try:
            with storage.atomic_path(staging / original_name) as tmp:
                shutil.copyfile(image_path, tmp)  # byte-exact: keeps EXIF and full quality
            storage.atomic_write_npz(
                staging / LANDMARKS_NPZ,
                landmarks=np.asarray(report.face.landmarks, np.float32),
                box=np.asarray(report.face.box, np.int32),
                image_size=np.asarray(report.image_size, np.int32),
            )
            storage.atomic_write_bytes(staging / THUMBNAIL, _thumbnail(photo.image, report))
            crop, face = face_arrays(photo.image, report.face.landmarks, expand)
            face["key"] = np.array(face_cache_key(image_path, expand, report.backend))
            storage.atomic_write_bytes(staging / FACE_PNG, _png(crop))
            storage.atomic_write_npz(staging / FACE_NPZ, **face)
            storage.atomic_write_json(
                staging / AVATAR_JSON,
                {
                    "name": safe,
                    "display_name": str(name),
                    "created": created,
                    "original": original_name,
                    "source_file": image_path.name,
                    "report": report.to_dict(),
                    "settings": {
                        "face_backend": report.backend,
                        "landmarks_space": "read_photo",
                        "crop_expand": expand,
                        "crop_box": [int(v) for v in face["crop_box"]],
                        **(settings or {}),
                    },
                },
            )
            storage.replace_dir(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _seed_render_cache(self.paths, photo.image, report.face.landmarks)
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
    crop = Image.fromarray(image[top : top + int(side), left : left + int(side)])
    crop = crop.resize((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    crop.save(buf, "JPEG", quality=88)
    return buf.getvalue()


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "PNG")
    return buf.getvalue()


def check_expand(expand: float | None) -> float:
    """The crop expand ratio to save (the default when None); InputError when out of range."""
    expand = DEFAULT_EXPAND if expand is None else float(expand)
    lo, hi = EXPAND_RANGE
    if not lo <= expand <= hi:
        raise InputError(
            f"the expand ratio {expand:g} is out of range: use a value from {lo:g} to {hi:g} "
            f"(default {DEFAULT_EXPAND:g})"
        )
    return expand


def face_cache_key(original: Path, expand: float, backend: str) -> str:
    """sha256 of the original photo's bytes and of the settings the face data depends on."""
    settings = f"{file_sha256(original)}|{expand:.4f}|{backend}|{FACE_CACHE_VERSION}"
    return hashlib.sha256(settings.encode()).hexdigest()[:32]


def crop_box(landmarks: np.ndarray, expand: float) -> np.ndarray:
    """The square (x0, y0, x1, y1) in photo pixels, ``expand`` face boxes wide, around the face.

    The face box is the landmarks' box plus the forehead; the crop may reach past the photo's
    edges (the crop is then padded by repeating the border).
    """
    pts = np.asarray(landmarks, dtype=np.float64)
    lo, hi = pts.min(0), pts.max(0)
    lo = lo - (0.0, 0.3 * (hi[1] - lo[1]))  # forehead above the brows
    centre = (lo + hi) / 2.0
    side = float(max(hi - lo)) * expand
    x0, y0 = np.round(centre - side / 2.0).astype(int)
    s = int(round(side))
    return np.array([x0, y0, x0 + s, y0 + s], dtype=np.int32)


def face_arrays(image: np.ndarray, landmarks: np.ndarray, expand: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The face crop (RGB uint8) and its arrays: ``crop_box`` (in the photo), ``landmarks`` (68x2,
    crop pixels), ``triangles`` (Delaunay mesh over the landmarks and 8 crop-border points, as
    indices into ``mesh_points``), and ``face_mask``/``eyes_mask``/``mouth_mask`` (uint8 0/255)."""
    import cv2

    box = crop_box(landmarks, expand)
    x0, y0, x1, y1 = (int(v) for v in box)
    h, w = image.shape[:2]
    pad = max(0, -x0, -y0, x1 - w, y1 - h)
    src = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else image
    crop = np.ascontiguousarray(src[y0 + pad : y1 + pad, x0 + pad : x1 + pad])
    side = crop.shape[0]
    lm = (np.asarray(landmarks, dtype=np.float32) - (x0, y0)).astype(np.float32)
    edge = side - 1.0
    border = np.array(
        [[0, 0], [edge / 2, 0], [edge, 0], [edge, edge / 2], [edge, edge], [edge / 2, edge], [0, edge], [0, edge / 2]],
        dtype=np.float32,
    )
    points = np.vstack([np.clip(lm, 0, edge), border])
    subdiv = cv2.Subdiv2D((0, 0, side, side))
    for x, y in points:
        subdiv.insert((float(x), float(y)))
    tris = []
    for t in subdiv.getTriangleList().reshape(-1, 3, 2):
        idx = [int(np.argmin(np.sum((points - p) ** 2, axis=1))) for p in t]
        if len(set(idx)) == 3:
            tris.append(idx)

    def poly(idx: slice) -> np.ndarray:
        m = np.zeros((side, side), np.uint8)
        cv2.fillPoly(m, [np.round(lm[idx]).astype(np.int32)], 255)
        return m

    face = face_mask((side, side), lm).astype(np.uint8) * 255
    return crop, {
        "crop_box": box,
        "landmarks": lm,
        "mesh_points": points,
        "triangles": np.array(tris, dtype=np.int32).reshape(-1, 3),
        "face_mask": face,
        "eyes_mask": poly(slice(36, 42)) | poly(slice(42, 48)),
        "mouth_mask": poly(slice(48, 60)),
    }


def _seed_render_cache(paths: StudioPaths, image: np.ndarray, landmarks: np.ndarray) -> None:
    """Give the render the landmarks just fitted, so its first render skips face detection."""
    try:
        storage.atomic_write_npz(landmarks_entry(paths.cache, image), landmarks=np.asarray(landmarks, np.float32))
    except OSError:  # only a speed-up: the render finds the face itself
        pass
