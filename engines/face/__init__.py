"""Face detection and 68-point landmarks (iBUG-300W convention)."""

from engines.face.base import FaceDetection  # noqa: F401
