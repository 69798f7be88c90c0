"""A small face is never blown up into a soft video, and the creator is told what to choose."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from studio.config import load_output_presets
from studio.portrait.checks import check_portrait_file, sharp_framing_note

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def faces():
    from engines.face.dlib68 import Dlib68

    return Dlib68()


def test_a_small_face_is_named_with_its_width_and_the_outputs_it_cannot_fill(faces):
    note = sharp_framing_note(ROOT / "assets" / "portrait.png", faces, load_output_presets())
    assert "px wide" in note and "720p" in note and "closer photo" in note
    width = int(note.split(" px wide")[0].split()[-1])
    assert 70 <= width <= 120  # the demo's face is about 95 px across
    check = next(
        c for c in check_portrait_file(ROOT / "assets" / "portrait.png", faces).checks if c.name == "output_sharpness"
    )
    assert f"{width} px wide" in check.message and check.advice


def test_a_photo_with_enough_pixels_for_every_output_gets_no_note(faces, tmp_path):
    img = cv2.imread(str(ROOT / "tests" / "data" / "portraits" / "obama_smile_teeth.jpg"))
    big = tmp_path / "big.png"
    cv2.imwrite(str(big), cv2.resize(img, None, fx=2.2, fy=2.2, interpolation=cv2.INTER_CUBIC))
    assert sharp_framing_note(big, faces, load_output_presets()) == ""
    small = tmp_path / "small.png"
    cv2.imwrite(str(small), img)
    assert "720p" in sharp_framing_note(small, faces, load_output_presets())
