"""Embedded default face back-end: dlib HOG detector + 68-point shape predictor.

The predictor file ships in ``face-recognition-models``; its ``__init__`` needs
``pkg_resources``, so the model paths are built from the package folder directly.
"""

from __future__ import annotations

import importlib.util
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
    """HOG face detector with the 68-landmark predictor. Upsamples small images once."""

    name = "dlib68"

    def __init__(self, predictor: Path | None = None):
        import dlib

        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(predictor or model_dir() / "shape_predictor_68_face_landmarks.dat"))

    def detect(self, image: np.ndarray) -> list[FaceDetection]:
        rgb = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
        upsample = 1 if max(rgb.shape[:2]) < 800 else 0
        rects, scores, _ = self._detector.run(rgb, upsample, -0.2)
        faces = []
        for rect, score in zip(rects, scores):
            shape = self._predictor(rgb, rect)
            pts = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)
            faces.append(FaceDetection(box=(rect.left(), rect.top(), rect.right(), rect.bottom()),
                                       score=float(score), landmarks=pts))
        faces.sort(key=lambda f: f.size, reverse=True)
        return faces
