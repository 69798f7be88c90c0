"""Embedded default face back-end: dlib HOG detector + 68-point shape predictor.

The predictor file ships in ``face-recognition-models``; its ``__init__`` needs
``pkg_resources``, so the model paths are built from the package folder directly.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np

from engines.face.base import FaceDetection
from engines.registry import register


def model_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("face-recognition-models is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


@register("face", "dlib68")
class Dlib68:
    """HOG face detector with the 68-landmark predictor.

    Large photos are searched on a copy at most ``detect_max_side`` pixels long (HOG cost grows
    with the pixel count); the landmarks are then fitted on the full-resolution photo. Small
    images are upsampled once so faces down to about 40 pixels are found.
    """

    name = "dlib68"
    fits_tilted_faces = False  # the predictor pulls tilted heads toward upright: callers refit them level

    def __init__(self, predictor: Path | None = None, detect_max_side: int = 1280):
        import dlib

        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(predictor or model_dir() / "shape_predictor_68_face_landmarks.dat"))
        self.detect_max_side = int(detect_max_side)
        # dlib's detector keeps scratch state: two threads in it at once corrupt the heap (a render's
        # portrait check and the Portrait tab's check run on different threads)
        self._lock = threading.Lock()

    def detect(self, image: np.ndarray) -> list[FaceDetection]:
        """All faces in an RGB uint8 image (pixels), largest first, each with 68 landmarks."""
        with self._lock:
            return self._detect(image)

    def _detect(self, image: np.ndarray) -> list[FaceDetection]:
        rgb = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
        h, w = rgb.shape[:2]
        scale = min(1.0, self.detect_max_side / max(h, w))
        small = rgb if scale == 1.0 else _resize(rgb, scale)
        upsample = 1 if max(small.shape[:2]) < 800 else 0
        rects, scores, _ = self._detector.run(small, upsample, -0.2)
        if not rects and scale < 1.0 and upsample == 0:
            # Nothing at the reduced size: a small face in a big photo. Look once more, upsampled.
            rects, scores, _ = self._detector.run(small, 1, -0.2)
        faces = []
        for rect, score in zip(rects, scores):
            box = [round(v / scale) for v in (rect.left(), rect.top(), rect.right(), rect.bottom())]
            full = self._dlib.rectangle(*box)
            shape = self._predictor(rgb, full)
            pts = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)
            faces.append(FaceDetection(box=tuple(box), score=float(score), landmarks=pts))
        faces.sort(key=lambda f: f.size, reverse=True)
        return faces


def _resize(rgb: np.ndarray, scale: float) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
