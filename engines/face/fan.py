"""Stronger landmarks on demand: FAN (``face-alignment``) with its S3FD face detector.

Same iBUG-68 convention as dlib. The weights are downloaded by the model manager, never here:
pass the folder holding ``2DFAN4-11f355bf06.pth.tar`` and ``s3fd-619a316812.pth`` (the file
names face-alignment 1.5.0 uses), or the two files explicitly. Both are plain state dicts
loaded with ``weights_only=True``.

``face-alignment`` is installed with ``--no-deps`` (it would pull the full ``opencv-python``
over ``opencv-python-headless``); at import it needs torch, numpy, scikit-image, numba and tqdm.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engines.face.base import FaceDetection
from engines.registry import register

FAN_FILE = "2DFAN4-11f355bf06.pth.tar"
S3FD_FILE = "s3fd-619a316812.pth"


def weight_files(weights: str | Path, detector: str | Path | None = None) -> tuple[Path, Path]:
    """The (FAN, S3FD) weight files from a folder or explicit paths; FileNotFoundError if absent."""
    weights = Path(weights)
    if weights.is_dir():
        fan = weights / FAN_FILE
        if not fan.is_file():
            found = sorted(weights.glob("2DFAN4*.pth*"))
            fan = found[0] if found else fan
        s3fd = Path(detector) if detector else weights / S3FD_FILE
        if not s3fd.is_file() and detector is None:
            found = sorted(weights.glob("s3fd*.pth"))
            s3fd = found[0] if found else s3fd
    else:
        fan = weights
        s3fd = Path(detector) if detector else weights.with_name(S3FD_FILE)
    for path in (fan, s3fd):
        if not path.is_file():
            raise FileNotFoundError(f"FAN weight file missing: {path}")
    return fan, s3fd


@register("face", "fan")
class FanFace:
    """S3FD detector + 2D FAN-4 landmarks on the CPU (or ``device='cuda'``).

    Photos are searched for faces on a copy at most ``detect_max_side`` pixels long; FAN then
    crops each face from the full-resolution photo itself. Scores are S3FD probabilities (0-1).
    """

    name = "fan"
    fits_tilted_faces = True  # FAN is trained with strong rotation augmentation

    def __init__(
        self,
        weights: str | Path,
        detector: str | Path | None = None,
        device: str = "cpu",
        detect_max_side: int = 640,
        flip_input: bool = False,
        detector_threshold: float = 0.5,
        max_faces: int = 8,
    ):
        import torch
        from face_alignment import FaceAlignment, LandmarksType
        from face_alignment.models import FAN

        fan_path, s3fd_path = weight_files(weights, detector)
        self.device = device
        self.detect_max_side = int(detect_max_side)
        self.max_faces = int(max_faces)  # FAN costs about a second per face on a CPU: the clearest N only

        class _LocalFaceAlignment(FaceAlignment):
            # FaceAlignment fetches its weights from a URL; read them from our file instead.
            def _load_native(self, network_name, network_size, device, dtype):
                net = FAN(network_size)
                net.load_state_dict(torch.load(fan_path, map_location=device, weights_only=True))
                return net.to(device, dtype=dtype).eval()

        self._fa = _LocalFaceAlignment(
            LandmarksType.TWO_D,
            device=device,
            flip_input=flip_input,
            face_detector="sfd",
            face_detector_kwargs={"path_to_detector": str(s3fd_path), "filter_threshold": detector_threshold},
            compile=False,
            verbose=False,
        )

    def detect(self, image: np.ndarray) -> list[FaceDetection]:
        """All faces in an RGB uint8 image (pixels), largest first, each with 68 landmarks."""
        import warnings

        rgb = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
        h, w = rgb.shape[:2]
        scale = min(1.0, self.detect_max_side / max(h, w))
        small = rgb if scale == 1.0 else _resize(rgb, scale)
        boxes = self._fa.face_detector.detect_from_image(small.copy())
        boxes = sorted((np.asarray(b, dtype=np.float64) for b in boxes), key=lambda b: -b[4])[: self.max_faces]
        if not boxes:
            return []
        full = [np.concatenate([b[:4] / scale, b[4:5]]) for b in boxes]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            landmarks = self._fa.get_landmarks_from_image(rgb, detected_faces=full) or []
        faces = []
        for box, pts in zip(full, landmarks):
            x0, y0, x1, y1 = (int(round(v)) for v in box[:4])
            faces.append(
                FaceDetection(
                    box=(x0, y0, x1, y1), score=float(box[4]), landmarks=np.asarray(pts, dtype=np.float32)[:, :2]
                )
            )
        faces.sort(key=lambda f: f.size, reverse=True)
        return faces


def _resize(rgb: np.ndarray, scale: float) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
