"""Portrait intake: load a photo safely and find the one face to animate.

(First version; the face-quality report of issue 5 grows here.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engines.face.base import FaceDetection
from studio.errors import InputError, RejectedError

MIN_FACE_SCORE = 0.3  # dlib HOG score below which a detection is treated as a false positive


def load_image(path: str | Path) -> np.ndarray:
    """Read a photo as RGB uint8 (EXIF orientation applied). Raises InputError if unreadable."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"cannot find the portrait {path}: check the file name")
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InputError(f"{path.name} is not a readable image: use a JPEG, PNG or WebP photo") from exc


def primary_face(image: np.ndarray, face_backend) -> FaceDetection:
    """The one face to animate. Raises RejectedError when there is none or more than one."""
    faces = [f for f in face_backend.detect(image) if f.score >= MIN_FACE_SCORE]
    if not faces:
        raise RejectedError("no face found in the portrait: use a clear, front-facing photo of one person")
    if len(faces) > 1 and faces[1].size > 0.6 * faces[0].size:
        raise RejectedError(f"{len(faces)} faces found in the portrait: use a photo with exactly one person")
    return faces[0]
