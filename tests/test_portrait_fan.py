"""The FAN landmark back-end (face-alignment) with random weights: no download is possible here,
so this proves the code path (model manager -> weights on disk -> S3FD + FAN -> 68 iBUG points),
not the accuracy of the real model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import DEMO_PORTRAIT
from PIL import Image

pytest.importorskip("face_alignment", reason="face-alignment is not installed (pip install --no-deps face-alignment)")
pytest.importorskip("skimage", reason="face-alignment needs scikit-image")


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory):
    """FAN-4 and S3FD state dicts with random weights, under the file names the real ones have."""
    import torch
    from face_alignment.detection.sfd.net_s3fd import s3fd
    from face_alignment.models import FAN

    from engines.face.fan import FAN_FILE, S3FD_FILE

    folder = tmp_path_factory.mktemp("fan")
    torch.manual_seed(0)
    torch.save(FAN(4).state_dict(), folder / FAN_FILE)
    torch.save(s3fd().state_dict(), folder / S3FD_FILE)
    return folder


def demo() -> np.ndarray:
    return np.asarray(Image.open(DEMO_PORTRAIT).convert("RGB"))


def test_fan_gives_68_points_inside_each_face_box(random_weights):
    from engines.face.fan import FanFace

    fan = FanFace(random_weights, detect_max_side=160, max_faces=2)
    faces = fan.detect(demo())
    assert 1 <= len(faces) <= 2  # random S3FD weights fire somewhere; at most max_faces are fitted
    for f in faces:
        assert f.landmarks.shape == (68, 2) and f.landmarks.dtype == np.float32
        assert np.all(np.isfinite(f.landmarks))
        x0, y0, x1, y1 = f.box
        w, h = x1 - x0, y1 - y0
        # FAN places its points in a crop around the box (boxes are scaled back to full size).
        assert np.all(f.landmarks[:, 0] > x0 - w) and np.all(f.landmarks[:, 0] < x1 + w)
        assert np.all(f.landmarks[:, 1] > y0 - h) and np.all(f.landmarks[:, 1] < y1 + h)
    assert [f.size for f in faces] == sorted((f.size for f in faces), reverse=True)


def test_missing_weight_file_is_named(tmp_path):
    from engines.face.fan import weight_files

    with pytest.raises(FileNotFoundError, match="FAN weight file missing"):
        weight_files(tmp_path)


def test_fan_comes_through_the_model_manager(tmp_path, random_weights):
    """Before the download the studio says what to fetch; with the files in the model cache the
    portrait check runs on FAN and reports it."""
    import shutil

    from studio import models
    from studio.config import StudioPaths
    from studio.errors import InputError
    from studio.portrait.checks import check_portrait
    from studio.portrait.faces import FAN_MODELS, face_engine
    from studio.services import Studio

    studio = Studio(StudioPaths(tmp_path / "home"))
    with pytest.raises(InputError, match="models fetch fan-2d-landmarks"):
        face_engine(studio, "fan")
    for name in FAN_MODELS:
        assert models.status(name, studio.paths).state == "download"
        folder = studio.paths.models / name
        folder.mkdir(parents=True)
        for f in random_weights.iterdir():
            shutil.copy(f, folder / f.name)
        (folder / ".complete").write_text(json.dumps({"source": "test"}))
    fan = face_engine(studio, "fan")
    assert fan.name == "fan" and face_engine(studio, "fan") is fan  # loaded once per studio
    fan.max_faces, fan.detect_max_side = 1, 160
    report = check_portrait(demo(), fan)
    assert report.backend == "fan"
    assert report.face is not None and report.face.landmarks.shape == (68, 2)
    assert {c.name for c in report.checks} >= {"faces", "head_pose", "landmark_fit"}
    json.dumps(report.to_dict())
