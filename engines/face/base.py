"""What a face back-end returns: boxes, scores and 68 iBUG landmarks in pixels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

# iBUG-68 index ranges.
JAW = slice(0, 17)
BROW_RIGHT = slice(17, 22)  # subject's right (image left)
BROW_LEFT = slice(22, 27)
NOSE = slice(27, 36)
EYE_RIGHT = slice(36, 42)
EYE_LEFT = slice(42, 48)
MOUTH_OUTER = slice(48, 60)
MOUTH_INNER = slice(60, 68)


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
