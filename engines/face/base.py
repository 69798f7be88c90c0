"""What a face back-end returns: boxes, scores and 68 iBUG landmarks in pixels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

# iBUG-68 index ranges. Right and left are the subject's: the subject's right is on the image's left.
JAW = slice(0, 17)
BROW_RIGHT = slice(17, 22)  # subject's right (image left)
BROW_LEFT = slice(22, 27)
BROWS = slice(17, 27)
NOSE = slice(27, 36)
EYE_RIGHT = slice(36, 42)
EYE_LEFT = slice(42, 48)
EYES = slice(36, 48)
MOUTH_OUTER = slice(48, 60)
MOUTH_INNER = slice(60, 68)

# Single iBUG-68 points.
JAW_RIGHT, JAW_LEFT = 0, 16  # the jaw line's ends, by the ears
CHEEK_RIGHT, CHEEK_LEFT = 2, 14  # the jaw line at the height of the nostrils
CHIN = 8
BROW_RIGHT_OUTER, BROW_RIGHT_MIDDLE, BROW_RIGHT_INNER = 17, 19, 21
BROW_LEFT_INNER, BROW_LEFT_MIDDLE, BROW_LEFT_OUTER = 22, 24, 26
NOSE_BRIDGE = 27  # top of the nose, between the eyes
NOSE_TIP = 30
NOSTRIL_RIGHT, NOSTRIL_LEFT = 31, 35  # the nostril wings' outer edges
NOSE_BASE = 33  # where the nose meets the upper lip
EYE_RIGHT_OUTER, EYE_RIGHT_INNER = 36, 39  # eye corners
EYE_LEFT_INNER, EYE_LEFT_OUTER = 42, 45
MOUTH_CORNER_RIGHT, MOUTH_CORNER_LEFT = 48, 54  # outer lip line's corners
LOWER_LIP_BOTTOM = 57
INNER_CORNER_RIGHT, INNER_CORNER_LEFT = 60, 64  # inner lip line's corners

# Groups of points (index arrays), each listed from image left to image right.
UPPER_LIDS = np.array([37, 38, 43, 44])
LOWER_LIDS = np.array([40, 41, 46, 47])
INNER_LIP_TOP = np.array([61, 62, 63])  # the upper lip's inner edge, between the inner corners
INNER_LIP_BOTTOM = np.array([67, 66, 65])  # the lower lip's inner edge, each below the same INNER_LIP_TOP point


FOREHEAD = 0.35  # the forehead above the brows, as a share of the brows-to-chin height


def framing_box(landmarks: np.ndarray) -> tuple[float, float, float]:
    """The square that frames a face: centre x, centre y and side (pixels), from its 68 landmarks
    plus the forehead above the brows. Animators size their output framing by it."""
    lm = np.asarray(landmarks, np.float64)
    x0, y0 = lm.min(0)
    x1, y1 = lm.max(0)
    top = y0 - FOREHEAD * (y1 - y0)
    return 0.5 * (x0 + x1), 0.5 * (top + y1), float(max(x1 - x0, y1 - top, 1.0))


@dataclass
class FaceDetection:
    """One face: box (x0, y0, x1, y1) in pixels, detector score, landmarks (68, 2) float32 x,y."""

    box: tuple[int, int, int, int]
    score: float
    landmarks: np.ndarray

    @property
    def size(self) -> float:
        """Geometric mean of box width and height, pixels."""
        x0, y0, x1, y1 = self.box
        return float(np.sqrt(max(1, x1 - x0) * max(1, y1 - y0)))


class FaceBackend(Protocol):
    name: str
    fits_tilted_faces: bool  # False: landmarks of a tilted head are only right on a copy turned level

    def detect(self, image: np.ndarray) -> list[FaceDetection]:
        """All faces in an RGB uint8 image, largest first, each with 68 landmarks."""
        ...
