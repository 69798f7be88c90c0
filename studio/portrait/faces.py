"""Finding the one face to animate: credible detections, tilted and sideways faces, FAN on demand.

dlib's landmark fit pulls tilted heads toward upright, so a tilted face is refitted on level copies;
a photo with no face as given is also searched turned by 45 and 90 degrees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engines.face.base import EYE_LEFT, EYE_RIGHT, FaceDetection
from studio.errors import InputError, RejectedError

MIN_FACE_SCORE = 0.3  # dlib HOG score below which a detection is treated as a false positive


FACE_BACKENDS = ("dlib68", "fan")
FAN_MODELS = ("fan-2d-landmarks", "s3fd-face-detector")  # model manager entries (presets/models/)


def face_engine(studio, name: str = "dlib68"):
    """The face back-end ``name`` of ``studio``: the embedded dlib one, or FAN with its weights
    from the model manager (InputError saying what to fetch or install when they are missing)."""
    if name == "dlib68":
        return studio.face("dlib68")
    if name != "fan":
        raise InputError(f"unknown landmark back-end '{name}': choose one of {', '.join(FACE_BACKENDS)}")
    from studio import models

    folders = [models.resolve(model, studio.paths) for model in FAN_MODELS]
    from engines.face.fan import S3FD_FILE

    try:
        return studio.engine("face", "fan", weights=folders[0], detector=folders[1] / S3FD_FILE)
    except ImportError as exc:
        raise InputError(
            "FAN landmarks need the face-alignment package: run "
            "`.venv/bin/python -m pip install --no-deps face-alignment==1.5.0 scikit-image`"
        ) from exc
    except FileNotFoundError as exc:
        raise InputError(
            f"{exc}: run `python app.py models fetch {FAN_MODELS[0]}` and `python app.py models fetch {FAN_MODELS[1]}`"
        ) from exc


def credible_faces(faces: list[FaceDetection]) -> list[FaceDetection]:
    """Detections above the false-positive score, largest first."""
    return sorted((f for f in faces if f.score >= MIN_FACE_SCORE), key=lambda f: f.size, reverse=True)


@dataclass
class FaceCount:
    """How the detections of one photo were read: the subject, rival subjects, the rest."""

    main: FaceDetection | None
    rivals: list[FaceDetection]  # other faces as large and as clear as the subject's
    background: list[FaceDetection]  # clear but clearly smaller faces
    faint: int  # face-like patterns too weak to count (patches, prints, shadows)


def count_faces(faces: list[FaceDetection]) -> FaceCount:
    """Pick the subject: the largest face whose score is at least half the best score.

    A weak detection (below ``MIN_FACE_SCORE``, or under half the best score) is a face-like
    pattern, not a person: dlib's HOG detector fires weakly on badges and prints.
    """
    ranked = credible_faces(faces)
    if not ranked:
        return FaceCount(None, [], [], len(faces))
    best = max(f.score for f in ranked)
    clear = [f for f in ranked if f.score >= 0.5 * best]
    main = clear[0]
    rivals = [f for f in clear[1:] if f.size > 0.6 * main.size]
    background = [f for f in clear[1:] if f.size <= 0.6 * main.size]
    return FaceCount(main, rivals, background, len(faces) - len(clear))


ROLL_REFINE_DEG = 3.0  # beyond this tilt the landmarks are refitted on a copy of the face turned level
ROLL_PROBES_DEG = (0.0, 20.0, -20.0)  # first fits, on copies turned this much (degrees)
SEARCH_ANGLES = (45, -45, 90, -90)  # degrees; tried only when the photo as given shows no face


def _eye_roll(landmarks: np.ndarray) -> float:
    """Angle of the line between the eye centres in degrees (> 0: head tilted clockwise)."""
    pts = np.asarray(landmarks, dtype=np.float64)
    d = pts[EYE_LEFT].mean(0) - pts[EYE_RIGHT].mean(0)
    return math.degrees(math.atan2(d[1], d[0]))


def _rotated(image: np.ndarray, angle: float, centre: tuple[float, float], side: int | None = None):
    """``image`` turned ``angle`` degrees counter-clockwise about ``centre``, on a canvas of
    ``side`` pixels centred there (default: the whole photo's turned bounds), and the 2x3 map
    from the photo's pixels into it."""
    import cv2

    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D(centre, angle, 1.0)
    if side is None:
        c, s = abs(m[0, 0]), abs(m[0, 1])
        out_w, out_h = int(h * s + w * c + 0.5), int(h * c + w * s + 0.5)
    else:
        out_w = out_h = int(side)
    m[0, 2] += out_w / 2.0 - centre[0]
    m[1, 2] += out_h / 2.0 - centre[1]
    turned = cv2.warpAffine(image, m, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return turned, m


def _map_back(face: FaceDetection, m: np.ndarray) -> FaceDetection:
    """A detection found in a turned copy, in the pixels of the photo the copy was made from."""
    import cv2

    inv = cv2.invertAffineTransform(m)
    pts = np.asarray(face.landmarks, dtype=np.float64) @ inv[:, :2].T + inv[:, 2]
    x0, y0, x1, y1 = face.box
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64) @ inv[:, :2].T + inv[:, 2]
    lo, hi = corners.min(0), corners.max(0)
    return FaceDetection(
        box=(int(round(lo[0])), int(round(lo[1])), int(round(hi[0])), int(round(hi[1]))),
        score=face.score,
        landmarks=pts.astype(np.float32),
    )


REFIT_SIDE = 360  # pixels: the turned copies are at most this big (the face about 120 across)


def _fit_turned(
    small: np.ndarray, angle: float, centre: tuple[float, float], side: int, face_backend
) -> FaceDetection | None:
    """Detect on a ``side``-pixel copy of ``small`` turned ``angle`` degrees about ``centre``; the
    face nearest the middle, in the pixels of ``small``, with the turned copy's score."""
    turned, m = _rotated(small, angle, centre, side)
    found = credible_faces(face_backend.detect(turned))
    if not found:
        return None
    middle = np.array([side / 2.0, side / 2.0])
    best = min(found, key=lambda f: np.linalg.norm(np.asarray(f.landmarks).mean(0) - middle))
    return _map_back(best, m)


def _refit_upright(image: np.ndarray, face: FaceDetection, face_backend) -> FaceDetection:
    """Refit the landmarks of the face on a copy turned upright.

    Landmark predictors are trained on upright faces and pull every fit toward upright: on a
    head tilted 35 degrees the first fit may show almost no tilt, which would let a badly tilted
    photo pass. So the face is also fitted on copies turned 20 degrees each way; each fit is
    turned level by its eye line until it is upright, and the one the detector finds clearest
    (highest score) wins. The copies are made from one small crop around the face (at most
    ``REFIT_SIDE`` pixels for three face widths), so this costs little even on 12 megapixels.
    An upright face keeps the landmarks fitted at full resolution.
    """
    import cv2

    pts = np.asarray(face.landmarks, dtype=np.float64)
    centre = (pts.min(0) + pts.max(0)) / 2.0
    extent = max(32.0, float(np.max(pts.max(0) - pts.min(0))))
    scale = min(1.0, REFIT_SIDE / (3.0 * extent))
    side = int(round(3.0 * extent * scale))
    h, w = image.shape[:2]
    half = 3.0 * extent * 0.75  # covers the turned square's corners
    x0, y0 = (max(0, int(centre[k] - half)) for k in (0, 1))
    x1, y1 = min(w, int(centre[0] + half) + 1), min(h, int(centre[1] + half) + 1)
    region = image[y0:y1, x0:x1]
    small = region if scale == 1.0 else cv2.resize(region, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    c_small = (float((centre[0] - x0) * scale), float((centre[1] - y0) * scale))

    fits: dict[int, FaceDetection | None] = {}

    def fit_at(angle: float) -> FaceDetection | None:
        key = int(round(angle))
        if key not in fits:
            fits[key] = _fit_turned(small, float(key), c_small, side, face_backend)
        return fits[key]

    best, best_angle = None, 0.0
    for angle in ROLL_PROBES_DEG:
        fit = fit_at(angle)
        for _ in range(3):  # each pass removes most of the remaining tilt
            if fit is None:
                break
            tilt = _eye_roll(fit.landmarks)  # turning the copy by this makes the face level
            if abs(tilt - angle) < ROLL_REFINE_DEG:
                break
            angle = tilt
            fit = fit_at(angle) or fit
        if fit is not None and (best is None or fit.score > best.score):
            best, best_angle = fit, angle
    if best is None:
        return face
    if abs(best_angle) < ROLL_REFINE_DEG and abs(_eye_roll(pts)) < ROLL_REFINE_DEG:
        return face  # upright: the full-resolution fit is the most precise
    landmarks = np.asarray(best.landmarks, dtype=np.float64) / scale + (x0, y0)
    return FaceDetection(box=face.box, score=face.score, landmarks=landmarks.astype(np.float32))


def find_faces(image: np.ndarray, face_backend) -> FaceCount:
    """Detect, pick the subject (see ``count_faces``) and fit its landmarks, whatever its tilt.

    When the photo shows no face as given, turned copies are searched too (a head tilted 45
    degrees, or a photo on its side without an EXIF tag), so the report can say what to fix.
    """
    found = count_faces(face_backend.detect(image))
    if found.main is None:
        h, w = image.shape[:2]
        for angle in SEARCH_ANGLES:
            if abs(angle) == 90:
                turned = np.ascontiguousarray(np.rot90(image, 1 if angle > 0 else -1))
                m = _rot90_map(angle, w, h)
            else:
                turned, m = _rotated(image, angle, (w / 2.0, h / 2.0))
            again = count_faces(face_backend.detect(turned))
            if again.main is not None:
                found = FaceCount(
                    _map_back(again.main, m),
                    [_map_back(f, m) for f in again.rivals],
                    [_map_back(f, m) for f in again.background],
                    again.faint,
                )
                break
    if found.main is not None and not getattr(face_backend, "fits_tilted_faces", False):
        found.main = _refit_upright(image, found.main, face_backend)
    return found


def _rot90_map(angle: int, w: int, h: int) -> np.ndarray:
    """The 2x3 map of ``np.rot90`` (counter-clockwise for +90) from a w x h photo."""
    if angle > 0:  # (x, y) -> (y, w - 1 - x)
        return np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, w - 1.0]])
    return np.array([[0.0, -1.0, h - 1.0], [1.0, 0.0, 0.0]])  # (x, y) -> (h - 1 - y, x)


def primary_face(image: np.ndarray, face_backend) -> FaceDetection:
    """The one face to animate. Raises RejectedError when there is none or more than one."""
    found = find_faces(image, face_backend)
    if found.main is None:
        raise RejectedError("no face found in the portrait: use a clear, front-facing photo of one person")
    if found.rivals:
        raise RejectedError(f"{len(found.rivals) + 1} faces found in the portrait: use a photo with exactly one person")
    return found.main
