"""Portrait intake: check the quality of the one face to animate (loading: studio/photo.py; finding the
face: studio/faces.py).

``check_portrait`` measures each property the animation depends on (one face, its size, head
pose, sharpness, exposure, contrast, lighting, landmark fit, image resolution), compares it with
a threshold and says what to do when it fails. The verdict is "usable", "usable with warnings"
or "rejected". All sizes are in pixels of the photo as loaded (EXIF orientation applied).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from engines.face.base import (
    BROW_LEFT_MIDDLE,
    BROW_RIGHT_MIDDLE,
    CHIN,
    EYE_LEFT,
    EYE_LEFT_INNER,
    EYE_LEFT_OUTER,
    EYE_RIGHT,
    EYE_RIGHT_INNER,
    EYE_RIGHT_OUTER,
    JAW_LEFT,
    JAW_RIGHT,
    MOUTH_CORNER_LEFT,
    MOUTH_CORNER_RIGHT,
    MOUTH_OUTER,
    NOSE_BASE,
    NOSE_BRIDGE,
    NOSE_TIP,
    NOSTRIL_LEFT,
    NOSTRIL_RIGHT,
    FaceDetection,
    framing_box,
)
from studio.portrait.faces import FaceCount, find_faces
from studio.portrait.photo import read_photo

USABLE = "usable"
USABLE_WITH_WARNINGS = "usable with warnings"
REJECTED = "rejected"

PASS, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"


# --------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------
# A generic adult head in millimetres, in camera axes for a face looking into the lens
# (x to the image's right, y down, z away from the camera), origin at the nose tip. The frontal
# layout (x, y) is the symmetrised demo portrait scaled to 90 mm between the outer eye corners;
# depths (z) are rounded anthropometric averages. Points that expressions move a lot are left out.
_MODEL_3D = {
    NOSE_TIP: (0.0, 0.0, 0.0),
    NOSE_BRIDGE: (0.0, -36.0, 24.0),
    NOSTRIL_RIGHT: (-15.0, 7.0, 12.0),
    NOSTRIL_LEFT: (15.0, 7.0, 12.0),
    NOSE_BASE: (0.0, 10.0, 14.0),
    CHIN: (0.0, 76.0, 22.0),
    EYE_RIGHT_OUTER: (-45.0, -36.0, 36.0),  # the subject's right: image left
    EYE_RIGHT_INNER: (-18.0, -33.0, 28.0),
    EYE_LEFT_INNER: (18.0, -33.0, 28.0),
    EYE_LEFT_OUTER: (45.0, -36.0, 36.0),
    MOUTH_CORNER_RIGHT: (-28.0, 22.0, 25.0),
    MOUTH_CORNER_LEFT: (28.0, 22.0, 25.0),
}


def head_pose(landmarks: np.ndarray, image_size: tuple[int, int]) -> dict[str, float]:
    """Yaw, pitch and roll of the head in degrees from 68 landmarks (``image_size`` = (w, h) pixels).

    Signs: yaw > 0 when the face turns toward the image's right, pitch > 0 when the chin lifts,
    roll > 0 when the head tilts clockwise in the image. A pinhole camera with a portrait lens
    (focal length 2.4 times the image's longer side) is assumed.
    """
    import cv2

    idx = list(_MODEL_3D)
    obj = np.array([_MODEL_3D[i] for i in idx], dtype=np.float64)
    img = np.asarray(landmarks, dtype=np.float64)[idx]
    w, h = image_size
    f = 2.4 * float(max(w, h))  # a portrait lens (about 85 mm full-frame equivalent)
    cam = np.array([[f, 0, w / 2.0], [0, f, h / 2.0], [0, 0, 1]], dtype=np.float64)
    ok, rvec, tvec = cv2.solvePnP(obj, img, cam, np.zeros(4), flags=cv2.SOLVEPNP_EPNP)
    if ok:
        ok, rvec, tvec = cv2.solvePnP(
            obj, img, cam, np.zeros(4), rvec, tvec, useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE
        )
    if not ok:
        return {"yaw": float("nan"), "pitch": float("nan"), "roll": float("nan")}
    rot, _ = cv2.Rodrigues(rvec)
    # R = Rz(roll) @ Ry(yaw) @ Rx(pitch): decompose in that order.
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, -rot[2, 0]))))
    pitch = math.degrees(math.atan2(rot[2, 1], rot[2, 2]))
    roll = math.degrees(math.atan2(rot[1, 0], rot[0, 0]))
    # A face seen from the front has a small pitch; +-180 means the solver flipped the model.
    if abs(pitch) > 90:
        pitch = pitch - math.copysign(180.0, pitch)
    return {"yaw": -yaw, "pitch": -pitch, "roll": roll}


def _luma(image: np.ndarray) -> np.ndarray:
    rgb = image[..., :3].astype(np.float32)
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def face_size(landmarks: np.ndarray) -> float:
    """Face size in pixels: geometric mean of jaw width and brow-to-chin height."""
    pts = np.asarray(landmarks, dtype=np.float64)
    width = np.linalg.norm(pts[JAW_LEFT] - pts[JAW_RIGHT])
    height = np.linalg.norm(pts[CHIN] - (pts[BROW_RIGHT_MIDDLE] + pts[BROW_LEFT_MIDDLE]) / 2.0)
    return float(math.sqrt(max(width, 1.0) * max(height, 1.0)))


def framing(landmarks: np.ndarray, image_size: tuple[int, int]) -> dict[str, Any]:
    """Whether the whole face is inside the photo, with room around it.

    ``outside``: share of the 68 points beyond the photo's edges (a face cut off by the frame).
    ``margin``: the smallest gap between the head (landmarks plus a forehead allowance) and an
    edge, in face sizes (negative when the head is cut). ``edge``: which edge is closest.
    """
    pts = np.asarray(landmarks, dtype=np.float64)
    w, h = image_size
    size = face_size(pts)
    inside = (pts[:, 0] >= 0) & (pts[:, 0] <= w - 1) & (pts[:, 1] >= 0) & (pts[:, 1] <= h - 1)
    lo, hi = pts.min(0), pts.max(0)
    lo = lo - (0.0, 0.35 * size)  # the forehead and hair above the brows
    gaps = {"left": lo[0], "top": lo[1], "right": w - 1 - hi[0], "bottom": h - 1 - hi[1]}
    edge = min(gaps, key=gaps.get)
    return {"outside": round(float(1.0 - inside.mean()), 3), "margin": round(float(gaps[edge] / size), 3), "edge": edge}


def face_mask(shape: tuple[int, int], landmarks: np.ndarray) -> np.ndarray:
    """Pixels inside the face outline (jaw + brows), as a bool mask."""
    import cv2

    hull = cv2.convexHull(np.round(landmarks[:27]).astype(np.int32))
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, hull, 1)
    return mask.astype(bool)


def _face_crop(image: np.ndarray, landmarks: np.ndarray, out: int, expand: float = 1.15):
    """A square crop around the landmarks, resampled to ``out`` pixels, plus the landmarks in it."""
    import cv2

    lo, hi = landmarks.min(0), landmarks.max(0)
    centre = (lo + hi) / 2.0
    side = float(max(hi - lo)) * expand
    s = out / max(side, 1.0)
    m = np.array([[s, 0, out / 2.0 - s * centre[0]], [0, s, out / 2.0 - s * centre[1]]], dtype=np.float64)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    crop = cv2.warpAffine(image, m, (out, out), flags=interp, borderMode=cv2.BORDER_REFLECT)
    return crop, landmarks * s + m[:, 2]


SHARPNESS_SIDE = 160  # faces are compared at this size, so sharpness does not depend on resolution


def sharpness(image: np.ndarray, landmarks: np.ndarray) -> float:
    """Laplacian variance of the face at a fixed size, divided by the face's own contrast.

    Unitless; about 0.1-0.3 for a sharp portrait, below 0.03 when visibly blurred.
    """
    import cv2

    crop, pts = _face_crop(image, landmarks, SHARPNESS_SIDE)
    y = _luma(crop)
    mask = face_mask(y.shape, pts)
    lap = cv2.Laplacian(y, cv2.CV_32F, ksize=3)
    spread = float(y[mask].var()) + 25.0  # +25 keeps flat faces from dividing by ~0
    return float(lap[mask].var() / spread)


def exposure(image: np.ndarray, landmarks: np.ndarray) -> dict[str, float]:
    """Brightness (median luma 0-255), clipped share, contrast (p95-p5 luma) and side-light ratio of the face."""
    pts = np.asarray(landmarks, dtype=np.float64)
    # Only the face's bounding box is converted: a 12-megapixel photo stays cheap.
    h, w = image.shape[:2]
    x0, y0 = np.clip(np.floor(pts.min(0)).astype(int), 0, [w, h])
    x1, y1 = np.clip(np.ceil(pts.max(0)).astype(int) + 1, 0, [w, h])
    y = _luma(image[y0:y1, x0:x1])
    pts = pts - (x0, y0)
    mask = face_mask(y.shape, pts)
    vals = y[mask]
    if vals.size < 50:
        return {"brightness": float("nan"), "clipped": 0.0, "contrast": 0.0, "side_ratio": 1.0}
    # Split the face along the line from the nose bridge to the chin.
    a, b = pts[NOSE_BRIDGE], pts[CHIN]
    yy, xx = np.nonzero(mask)
    side = (b[0] - a[0]) * (yy - a[1]) - (b[1] - a[1]) * (xx - a[0])
    left, right = y[yy[side < 0], xx[side < 0]], y[yy[side >= 0], xx[side >= 0]]
    m_left = float(np.median(left)) if left.size else 0.0
    m_right = float(np.median(right)) if right.size else 0.0
    return {
        "brightness": float(np.median(vals)),
        "clipped": float(np.mean(vals >= 250)),
        "contrast": float(np.percentile(vals, 95) - np.percentile(vals, 5)),
        "side_ratio": float((min(m_left, m_right) + 1.0) / (max(m_left, m_right) + 1.0)),
    }


# Plausible ranges of face proportions (in units of the distance between the eye centres),
# generous enough for expressions and a 30-degree turn; a poor landmark fit lands outside.
_PROPORTIONS = {
    "eye_width": (0.25, 0.55),  # each eye's corner-to-corner width
    "mouth_width": (0.55, 1.35),
    "nose_length": (0.45, 1.25),  # bridge to base of the nose
    "face_height": (1.5, 3.1),  # brows to chin
    "jaw_width": (1.6, 2.9),
}


def landmark_fit(image: np.ndarray, landmarks: np.ndarray) -> dict[str, Any]:
    """How plausible the landmarks are, and whether eyes and mouth are visible.

    ``proportion_error``: how far the worst face proportion lies outside its normal range, as a
    fraction of that range (0 when all are normal). ``eyes_texture``/``mouth_texture``: detail
    in the eye and mouth regions relative to the whole face (about 1-3 when visible; sunglasses,
    a mask or a hand make it flat and low). ``eyes_darkness``: eye region luma / face luma.
    """
    import cv2

    pts = np.asarray(landmarks, dtype=np.float64)
    eye_r, eye_l = pts[EYE_RIGHT].mean(0), pts[EYE_LEFT].mean(0)
    iod = max(float(np.linalg.norm(eye_l - eye_r)), 1.0)

    def span(a: int, b: int) -> float:
        return np.linalg.norm(pts[b] - pts[a])

    brows = (pts[BROW_RIGHT_MIDDLE] + pts[BROW_LEFT_MIDDLE]) / 2
    measured = {
        "eye_width": (span(EYE_RIGHT_OUTER, EYE_RIGHT_INNER) + span(EYE_LEFT_INNER, EYE_LEFT_OUTER)) / 2 / iod,
        "mouth_width": span(MOUTH_CORNER_RIGHT, MOUTH_CORNER_LEFT) / iod,
        "nose_length": span(NOSE_BRIDGE, NOSE_BASE) / iod,
        "face_height": np.linalg.norm(pts[CHIN] - brows) / iod,
        "jaw_width": span(JAW_RIGHT, JAW_LEFT) / iod,
    }
    worst, worst_name = 0.0, ""
    for name, value in measured.items():
        lo, hi = _PROPORTIONS[name]
        err = max(lo - value, value - hi, 0.0) / (hi - lo)
        if err > worst:
            worst, worst_name = err, name
    # Eyes on the wrong side of the nose, or a mouth above the eyes, is never a real face.
    # Tested in the face's own frame (eye line horizontal), so a tilted head still passes.
    axis = (eye_l - eye_r) / iod
    q = (pts - eye_r) @ np.array([[axis[0], axis[1]], [-axis[1], axis[0]]]).T
    order = bool(q[EYE_RIGHT_INNER][0] < q[NOSE_TIP][0] < q[EYE_LEFT_INNER][0] and q[CHIN][1] > q[NOSE_TIP][1] > 0)

    crop, cp = _face_crop(image, pts, SHARPNESS_SIDE)
    y = _luma(crop)
    grad = np.hypot(cv2.Sobel(y, cv2.CV_32F, 1, 0), cv2.Sobel(y, cv2.CV_32F, 0, 1))
    face = face_mask(y.shape, cp)
    face_grad = float(grad[face].mean()) + 1.0

    def region(idx: slice, grow: float) -> np.ndarray:
        p = cp[idx]
        c = p.mean(0)
        half = (p.max(0) - p.min(0)) / 2 * grow + 2.0
        x0, y0 = np.floor(c - half).astype(int)
        x1, y1 = np.ceil(c + half).astype(int)
        m = np.zeros_like(face)
        m[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = True
        return m

    # Inner parts of the features: an occluder's own outline must not count as detail.
    eyes = region(EYE_RIGHT, 1.2) | region(EYE_LEFT, 1.2)
    mouth = region(MOUTH_OUTER, 0.8)
    face_luma = float(np.median(y[face])) + 1.0
    return {
        "proportion_error": round(float(worst), 3),
        "worst_proportion": worst_name,
        "feature_order_ok": bool(order),
        "eyes_texture": round(float(grad[eyes].mean()) / face_grad, 3),
        "mouth_texture": round(float(grad[mouth].mean()) / face_grad, 3),
        "eyes_darkness": round((float(np.median(y[eyes])) + 1.0) / face_luma, 3),
    }


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------
@dataclass
class Check:
    """One quality check: what was measured, the threshold, the outcome and advice."""

    name: str
    label: str
    status: str  # "ok", "warn", "fail" or "skip"
    value: Any
    unit: str
    threshold: str
    message: str
    advice: str = ""


@dataclass
class Thresholds:
    """Where each check warns and rejects (pixels, degrees, unitless ratios)."""

    min_short_side_reject: int = 256
    min_short_side_warn: int = 512
    min_face_reject: float = 50.0
    min_face_warn: float = 80.0
    pose_warn: float = 15.0
    pose_reject: float = 30.0
    sharpness_reject: float = 0.025
    sharpness_warn: float = 0.08
    dark_reject: float = 40.0
    dark_warn: float = 75.0
    clipped_warn: float = 0.08
    clipped_reject: float = 0.30
    contrast_reject: float = 20.0
    contrast_warn: float = 45.0
    side_ratio_warn: float = 0.6
    side_ratio_reject: float = 0.3
    proportion_warn: float = 0.10
    proportion_reject: float = 0.40
    texture_warn: float = 0.7
    texture_reject: float = 0.45
    eyes_dark_reject: float = 0.35
    margin_warn: float = 0.1


@dataclass
class PortraitReport:
    """The outcome of ``check_portrait``: verdict, checks, and the face it is about."""

    verdict: str
    checks: list[Check]
    image_size: tuple[int, int]  # (width, height) in pixels as analysed
    original_size: tuple[int, int]
    face: FaceDetection | None = None
    faces_found: int = 0
    backend: str = ""
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    other_faces: list[FaceDetection] = field(default_factory=list)  # the clear faces besides ``face``

    @property
    def usable(self) -> bool:
        return self.verdict != REJECTED

    @property
    def problems(self) -> list[Check]:
        """Failed checks first, then warnings."""
        return [c for c in self.checks if c.status == FAIL] + [c for c in self.checks if c.status == WARN]

    def summary(self) -> str:
        """One sentence for a status line."""
        probs = self.problems
        if not probs:
            return "The portrait is usable."
        first = probs[0]
        lead = "The portrait is rejected" if self.verdict == REJECTED else "The portrait is usable, with warnings"
        return f"{lead}: {first.message}" + (f"; {first.advice}" if first.advice else "") + "."

    def to_dict(self) -> dict[str, Any]:
        face = None
        if self.face is not None:
            face = {
                "box": [int(v) for v in self.face.box],
                "score": round(float(self.face.score), 3),
                "landmarks": np.round(self.face.landmarks, 1).tolist(),
            }
        return {
            "verdict": self.verdict,
            "summary": self.summary(),
            "checks": [asdict(c) for c in self.checks],
            "image_size": list(self.image_size),
            "original_size": list(self.original_size),
            "faces_found": self.faces_found,
            "other_face_boxes": [[int(v) for v in f.box] for f in self.other_faces],
            "face": face,
            "backend": self.backend,
            "notes": list(self.notes),
            "seconds": round(self.seconds, 3),
        }


def _grade(value: float, warn: float, reject: float, *, low_is_bad: bool = True) -> str:
    if value != value:  # NaN: could not be measured
        return WARN
    if low_is_bad:
        return FAIL if value < reject else WARN if value < warn else PASS
    return FAIL if value > reject else WARN if value > warn else PASS


class _Outcome(NamedTuple):
    """What one check found; its table row adds the name and label to make a ``Check``."""

    status: str
    value: Any
    unit: str
    threshold: str
    message: str
    advice: str = ""


@dataclass
class _Face:
    """The one clear face of a photo, with what several checks measure on it."""

    image: np.ndarray  # RGB uint8, as analysed
    pts: np.ndarray  # (68, 2) landmarks, pixels of ``image``
    size: tuple[int, int]  # (width, height) of ``image``, pixels
    to_original: float  # photo pixels on disk per pixel of ``image``

    @cached_property
    def exposure(self) -> dict[str, float]:
        return exposure(self.image, self.pts)


def _check_resolution(original_size: tuple[int, int], th: Thresholds) -> Check:
    short = min(original_size)
    return Check(
        "resolution",
        "Image resolution",
        _grade(short, th.min_short_side_warn, th.min_short_side_reject),
        int(short),
        "px",
        f"shorter side: warn below {th.min_short_side_warn}, reject below {th.min_short_side_reject}",
        f"the photo is {original_size[0]}x{original_size[1]} pixels",
        "use the original photo rather than a thumbnail or screenshot" if short < th.min_short_side_warn else "",
    )


def _clear_faces(found: FaceCount) -> int:
    return (found.main is not None) + len(found.rivals) + len(found.background)


def _check_faces(found: FaceCount, image: np.ndarray) -> Check:
    """Exactly one clear face: none, or two as large as each other, fail; smaller ones warn."""
    n_clear = _clear_faces(found)
    if found.main is None:
        extra = (
            f" ({found.faint} faint face-like pattern{'s' if found.faint != 1 else ''} ignored)" if found.faint else ""
        )
        why, advice = _no_face_hint(image)
        st, msg = FAIL, f"no face found{why}{extra}"
    elif found.rivals:
        st, msg = FAIL, f"{len(found.rivals) + 1} faces found"
        advice = "use a photo of one person, or crop it to one face"
    elif found.background:
        small = len(found.background)
        st, msg = WARN, f"one face found, and {small} smaller one{'s' if small != 1 else ''} in the background"
        advice = "the background faces will stay still; crop them out if they distract"
    else:
        st, msg, advice = PASS, "one face found", ""
    return Check("faces", "One face", st, n_clear, "faces", "exactly one clear face", msg, advice)


def _check_face_size(face: _Face, th: Thresholds) -> _Outcome:
    size = face_size(face.pts) * face.to_original
    st = _grade(size, th.min_face_warn, th.min_face_reject)
    return _Outcome(
        st,
        round(size, 1),
        "px",
        f"warn below {th.min_face_warn:.0f}, reject below {th.min_face_reject:.0f}",
        f"the face is {size:.0f} pixels across",
        "use a closer or larger photo" if st != PASS else "",
    )


SHARP_OUTPUTS = ((720, "720p"), (512, "512×512"))  # output heights (pixels) the presets fill, largest first


def sharp_output_height(landmarks: np.ndarray, to_original: float = 1.0, crop_expand: float | None = None) -> float:
    """The tallest output (pixels) whose default framing the face fills without enlarging the photo."""
    from engines.animate.base import AnimationSettings

    expand = AnimationSettings().crop_expand if crop_expand is None else crop_expand
    return framing_box(landmarks)[2] * to_original * expand


def sharp_framing_note(image_path: str | Path, face_backend, presets: dict) -> str:
    """One line for the Studio tab: which outputs (``{name: OutputPreset}``) the portrait's face fills
    without being enlarged, or "" when it fills them all (or no single face is found)."""
    photo = read_photo(image_path)
    found = find_faces(photo.image, face_backend)
    if found.main is None:
        return ""
    to_original = photo.original_size[0] / max(1, photo.image.shape[1])
    fills = sharp_output_height(found.main.landmarks, to_original)
    width = float(found.main.landmarks[JAW_LEFT, 0] - found.main.landmarks[JAW_RIGHT, 0]) * to_original
    sizes = sorted((min(p.width, p.height), name) for name, p in presets.items() if name != "preview")
    soft = [name for side, name in sizes if fills < side]
    if not soft:
        return ""
    sharp = [name for side, name in sizes if fills >= side]
    keep = f"choose {sharp[-1]} for a face that fills the frame, or " if sharp else ""
    return (
        f"The face in this photo is {width:.0f} px wide: at {' and '.join(soft)} it stays that size (small in the "
        f"frame) so the video stays sharp — {keep}use a closer photo."
    )


def _check_output_sharpness(face: _Face, th: Thresholds) -> _Outcome:
    """Informational: the video never enlarges the photo (it would look soft), so a small face stays
    small in the frame; say from which output size on, and what helps."""
    width = float(face.pts[JAW_LEFT, 0] - face.pts[JAW_RIGHT, 0]) * face.to_original
    fills = sharp_output_height(face.pts, face.to_original)
    small = [name for height, name in SHARP_OUTPUTS if fills < height]
    if small:
        msg = (
            f"the face is {width:.0f} px wide: enlarged to fill the frame it would look soft at "
            f"{' and '.join(reversed(small))}, so the video keeps it {width:.0f} px wide — use a closer photo"
        )
        advice = "use a closer or higher-resolution photo"
        if len(small) < len(SHARP_OUTPUTS):
            advice = f"choose the {SHARP_OUTPUTS[-1][1]} output for a face that fills the frame, or use a closer photo"
    else:
        msg, advice = f"the face is {width:.0f} px wide: sharp at every output size", ""
    return _Outcome(PASS, round(fills), "px", "output height the face fills without enlarging", msg, advice)


def _check_framing(face: _Face, th: Thresholds) -> _Outcome:
    fr = framing(face.pts, face.size)
    if fr["outside"] > 0:
        st, msg = FAIL, f"the face is cut off at the {fr['edge']} edge of the photo"
        advice = "use a photo that shows the whole face with some space around the head"
    elif fr["margin"] < th.margin_warn:
        st, msg = WARN, f"the head touches the {fr['edge']} edge of the photo"
        advice = "leave some space around the head, so it can move"
    else:
        st, msg, advice = PASS, "the whole face is in the photo", ""
    return _Outcome(
        st,
        fr,
        "face sizes",
        f"no landmark outside the photo; warn when the head is closer than {th.margin_warn} face sizes to an edge",
        msg,
        advice,
    )


_POSE_WORDS = {"yaw": "turned sideways", "pitch": "tilted up or down", "roll": "tilted to the side"}


def _check_head_pose(face: _Face, th: Thresholds) -> _Outcome:
    pose = head_pose(face.pts, face.size)
    worst_axis = max(pose, key=lambda k: abs(pose[k]) if pose[k] == pose[k] else 999)
    angle = abs(pose[worst_axis])
    st = _grade(angle, th.pose_warn, th.pose_reject, low_is_bad=False)
    return _Outcome(
        st,
        {k: round(v, 1) for k, v in pose.items()},
        "degrees",
        f"warn beyond {th.pose_warn:.0f}, reject beyond {th.pose_reject:.0f}",
        f"the head is {_POSE_WORDS[worst_axis]} by {angle:.0f} degrees" if st != PASS else "the head faces the camera",
        "use a photo looking straight into the camera" if st != PASS else "",
    )


def _check_sharpness(face: _Face, th: Thresholds) -> _Outcome:
    sharp = sharpness(face.image, face.pts)
    st = _grade(sharp, th.sharpness_warn, th.sharpness_reject)
    return _Outcome(
        st,
        round(sharp, 4),
        "",
        f"warn below {th.sharpness_warn}, reject below {th.sharpness_reject}",
        "the face is blurred" if st == FAIL else "the face is a little soft" if st == WARN else "the face is sharp",
        "use a sharper photo (steady camera, focus on the eyes)" if st != PASS else "",
    )


def _check_exposure(face: _Face, th: Thresholds) -> _Outcome:
    bright, clipped = face.exposure["brightness"], face.exposure["clipped"]
    st_dark = _grade(bright, th.dark_warn, th.dark_reject)
    st_clip = _grade(clipped, th.clipped_warn, th.clipped_reject, low_is_bad=False)
    if st_clip != PASS and (st_dark == PASS or st_clip == FAIL):
        msg, advice = f"{clipped:.0%} of the face is blown out to white", "use a photo with softer light or less flash"
    elif st_dark != PASS:
        msg, advice = f"the face is too dark (brightness {bright:.0f} of 255)", "use a brighter photo, facing the light"
    else:
        msg, advice = f"brightness {bright:.0f} of 255", ""
    return _Outcome(
        _worst(st_dark, st_clip),
        {"brightness": round(bright, 1), "clipped": round(clipped, 3)},
        "luma 0-255 / share",
        f"brightness: warn below {th.dark_warn:.0f}, reject below {th.dark_reject:.0f}; "
        f"blown out: warn above {th.clipped_warn:.0%}, reject above {th.clipped_reject:.0%}",
        msg,
        advice,
    )


def _check_contrast(face: _Face, th: Thresholds) -> _Outcome:
    contrast = face.exposure["contrast"]
    st = _grade(contrast, th.contrast_warn, th.contrast_reject)
    return _Outcome(
        st,
        round(contrast, 1),
        "luma 0-255",
        f"warn below {th.contrast_warn:.0f}, reject below {th.contrast_reject:.0f}",
        "the face is flat and washed out" if st != PASS else "the face has good contrast",
        "use a photo with clearer light and no haze or heavy filter" if st != PASS else "",
    )


def _check_lighting(face: _Face, th: Thresholds) -> _Outcome:
    ratio = face.exposure["side_ratio"]
    st = _grade(ratio, th.side_ratio_warn, th.side_ratio_reject)
    return _Outcome(
        st,
        round(ratio, 3),
        "dark side / bright side",
        f"warn below {th.side_ratio_warn}, reject below {th.side_ratio_reject}",
        "one side of the face is in deep shadow" if st != PASS else "the face is evenly lit",
        "use a photo lit from the front, not from the side" if st != PASS else "",
    )


def _check_landmark_fit(face: _Face, th: Thresholds) -> _Outcome:
    fit = landmark_fit(face.image, face.pts)
    threshold = (
        f"proportions: warn beyond {th.proportion_warn:.0%}, reject beyond {th.proportion_reject:.0%} "
        f"outside the normal range; eye and mouth detail: warn below {th.texture_warn}, "
        f"reject below {th.texture_reject}"
    )
    texture = min(fit["eyes_texture"], fit["mouth_texture"])
    covered = "eyes" if fit["eyes_texture"] <= fit["mouth_texture"] else "mouth"
    st_prop = _grade(fit["proportion_error"], th.proportion_warn, th.proportion_reject, low_is_bad=False)
    st_tex = _grade(texture, th.texture_warn, th.texture_reject)
    if not fit["feature_order_ok"]:
        st_prop = FAIL
    if fit["eyes_darkness"] < th.eyes_dark_reject and fit["eyes_texture"] < th.texture_warn:
        st_tex, covered = FAIL, "eyes"
    if st_tex != PASS and (st_prop == PASS or st_tex == FAIL):
        what = (
            "the eyes look covered (sunglasses, hair or glare?)"
            if covered == "eyes"
            else "the mouth looks covered (a hand, a mask, hair?)"
        )
        msg, advice = what, f"use a photo with the {covered} clearly visible"
    elif st_prop != PASS:
        name = fit["worst_proportion"].replace("_", " ") or "feature layout"
        msg = f"the face landmarks do not fit well ({name} is implausible)"
        advice = "use a clear, unobstructed photo of the whole face"
    else:
        msg, advice = "the landmarks fit a clear face", ""
    return _Outcome(_worst(st_prop, st_tex), fit, "", threshold, msg, advice)


def _worst(*statuses: str) -> str:
    """The worst of some check statuses ("skip" counts as "ok")."""
    return FAIL if FAIL in statuses else WARN if WARN in statuses else PASS


NOT_MEASURED = "not measured without one clear face"
_VERDICTS = {FAIL: REJECTED, WARN: USABLE_WITH_WARNINGS, PASS: USABLE}


# The checks that need one clear face, in report order: name, label, measure.
FACE_CHECKS: tuple[tuple[str, str, Callable[[_Face, Thresholds], _Outcome]], ...] = (
    ("face_size", "Face size", _check_face_size),
    ("output_sharpness", "Sharp in the video", _check_output_sharpness),
    ("framing", "Whole face in frame", _check_framing),
    ("head_pose", "Head pose", _check_head_pose),
    ("sharpness", "Sharpness", _check_sharpness),
    ("exposure", "Exposure", _check_exposure),
    ("contrast", "Contrast", _check_contrast),
    ("lighting", "Even lighting", _check_lighting),
    ("landmark_fit", "Face visible, landmarks fit", _check_landmark_fit),
)


def check_portrait(
    image: np.ndarray,
    face_backend,
    *,
    original_size: tuple[int, int] | None = None,
    thresholds: Thresholds | None = None,
    notes: list[str] | None = None,
) -> PortraitReport:
    """Measure a portrait (RGB uint8) and decide whether it can be animated.

    ``original_size`` is the photo's (width, height) on disk when ``image`` was downscaled on
    load; resolution and face size are judged in those pixels.
    """
    t0 = time.perf_counter()
    th = thresholds or Thresholds()
    h, w = image.shape[:2]
    original_size = original_size or (w, h)
    found = find_faces(image, face_backend)
    checks = [_check_resolution(original_size, th), _check_faces(found, image)]
    if found.main is None or found.rivals:
        checks += [Check(name, label, SKIP, None, "", "", NOT_MEASURED) for name, label, _ in FACE_CHECKS]
    else:
        pts = np.asarray(found.main.landmarks, dtype=np.float64)
        face = _Face(image, pts, (w, h), original_size[0] / max(1, w))
        checks += [Check(name, label, *measure(face, th)) for name, label, measure in FACE_CHECKS]
    return PortraitReport(
        _VERDICTS[_worst(*(c.status for c in checks))],
        checks,
        (w, h),
        tuple(original_size),
        found.main,
        _clear_faces(found),
        getattr(face_backend, "name", type(face_backend).__name__),
        list(notes or []),
        seconds=time.perf_counter() - t0,
        other_faces=found.rivals + found.background,
    )


NO_FACE_BLUR = 8.0  # Laplacian variance of the whole photo at 512 px below which it reads as blurred...
NO_FACE_SHAPES = 10.0  # ...when at 64 px it still shows shapes (a blurred photo: about 20 to 800; a gradient: 2)
NO_FACE_DARK, NO_FACE_BRIGHT = 45.0, 225.0  # mean brightness (0..255) of the whole photo


def _no_face_hint(image: np.ndarray) -> tuple[str, str]:
    """Why a photo may show no face, from the whole picture: (" - reason", advice)."""
    import cv2

    grey = cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY)
    s = 512 / max(grey.shape)
    if s < 1:
        grey = cv2.resize(grey, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    mean = float(grey.mean())
    if mean < NO_FACE_DARK:
        return " (the photo is very dark)", "use a brighter photo: face a window or a lamp"
    if mean > NO_FACE_BRIGHT:
        return " (the photo is washed out)", "use a photo that is not over-exposed, out of direct sunlight"

    def detail(g: np.ndarray) -> float:
        return float(cv2.Laplacian(g.astype(np.float32), cv2.CV_32F).var())

    # Blurred: no fine detail, although there are shapes (a plain backdrop or gradient has neither).
    coarse = cv2.resize(grey, None, fx=64 / max(grey.shape), fy=64 / max(grey.shape), interpolation=cv2.INTER_AREA)
    if detail(grey) < NO_FACE_BLUR and detail(coarse) > NO_FACE_SHAPES:
        return " (the photo is very blurred)", "use a sharp, in-focus photo: hold still, or tap the face to focus"
    return "", "use a well-lit, front-facing photo of one person with the whole face visible"


def check_portrait_file(path: str | Path, face_backend, thresholds: Thresholds | None = None) -> PortraitReport:
    """Load a photo (InputError if unreadable) and check it; the time includes decoding."""
    t0 = time.perf_counter()
    photo = read_photo(path)
    report = check_portrait(
        photo.image, face_backend, original_size=photo.original_size, thresholds=thresholds, notes=photo.notes
    )
    report.seconds = time.perf_counter() - t0
    return report


# --------------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------------
_COLOURS = {USABLE: (40, 170, 60), USABLE_WITH_WARNINGS: (230, 150, 0), REJECTED: (210, 40, 40)}


def draw_report(image: np.ndarray, report: PortraitReport, max_side: int = 1024, min_side: int = 768) -> np.ndarray:
    """A copy of the photo, ``min_side`` to ``max_side`` pixels long, with the face box (in the
    verdict's colour) and the 68 landmarks drawn."""
    import cv2

    h, w = image.shape[:2]
    s = min(max_side / max(h, w), max(1.0, min_side / max(h, w)))
    out = (
        image.copy()
        if s == 1
        else cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    )
    out = np.ascontiguousarray(out)
    if report.face is None:
        return out
    colour = _COLOURS.get(report.verdict, (230, 150, 0))
    thick = max(2, round(max(out.shape[:2]) / 400))
    for other in report.other_faces:  # what the "faces" check counted besides the subject
        a0, b0, a1, b1 = (round(v * s) for v in other.box)
        cv2.rectangle(out, (a0, b0), (a1, b1), _COLOURS[REJECTED], thick, cv2.LINE_AA)
    x0, y0, x1, y1 = (round(v * s) for v in report.face.box)
    cv2.rectangle(out, (x0, y0), (x1, y1), colour, thick, cv2.LINE_AA)
    for x, y in np.asarray(report.face.landmarks) * s:
        cv2.circle(out, (round(float(x)), round(float(y))), max(1, thick), (0, 255, 255), -1, cv2.LINE_AA)
    return out
