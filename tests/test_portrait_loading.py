"""Robust photo loading: every common format quirk gives the upright RGB photo, and broken or
dangerous files give one clear InputError instead of a crash."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DEMO_PORTRAIT
from PIL import Image

from studio.errors import InputError
from studio.portrait.checks import REJECTED, check_portrait
from studio.portrait.photo import BACKDROP, MAX_PIXELS, WORK_MAX_SIDE, read_photo


def demo() -> np.ndarray:
    return np.asarray(Image.open(DEMO_PORTRAIT).convert("RGB"))


def mean_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.fixture(scope="module")
def face(studio):
    return studio.face()


def test_exif_rotated_jpeg_is_turned_upright_and_usable(tmp_path, face):
    # Pixels stored on their side, with the tag that tells viewers to turn them back (6 = 90 CW).
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(demo(), 1)))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    stored.save(path, "JPEG", quality=92, exif=exif)
    photo = read_photo(path)
    assert photo.image.shape == demo().shape and mean_diff(photo.image, demo()) < 4
    assert any("EXIF orientation 6" in n for n in photo.notes)
    assert check_portrait(photo.image, face).verdict != REJECTED


def test_transparent_png_is_placed_on_neutral_grey(tmp_path):
    rgba = np.dstack([demo(), np.full(demo().shape[:2], 255, np.uint8)])
    rgba[:40, :40, 3] = 0  # a cut-out background corner
    rgba[:40, :40, :3] = (255, 0, 0)  # hidden colour must not show
    path = tmp_path / "cutout.png"
    Image.fromarray(rgba, "RGBA").save(path)
    photo = read_photo(path)
    assert photo.image.shape == demo().shape and photo.image.dtype == np.uint8
    assert np.all(photo.image[:40, :40] == BACKDROP)
    assert np.array_equal(photo.image[100:, 100:], demo()[100:, 100:])


def test_greyscale_photo_becomes_rgb_and_is_usable(tmp_path, face):
    path = tmp_path / "grey.jpg"
    Image.fromarray(demo()).convert("L").save(path, quality=95)
    photo = read_photo(path)
    assert photo.image.shape == demo().shape
    assert np.array_equal(photo.image[..., 0], photo.image[..., 2])
    assert check_portrait(photo.image, face).verdict != REJECTED


def test_cmyk_jpeg_is_converted(tmp_path):
    path = tmp_path / "print.jpg"
    Image.fromarray(demo()).convert("CMYK").save(path, quality=95)
    assert Image.open(path).mode == "CMYK"
    photo = read_photo(path)
    assert photo.image.shape == demo().shape and mean_diff(photo.image, demo()) < 12


def test_16_bit_png_is_scaled_to_8_bits(tmp_path):
    grey = np.asarray(Image.fromarray(demo()).convert("L"), dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(grey * 257).save(path)
    assert Image.open(path).mode.startswith("I")
    photo = read_photo(path)
    assert photo.image.shape == demo().shape
    assert np.abs(photo.image[..., 1].astype(int) - grey).max() <= 1


def test_webp_loads(tmp_path, face):
    path = tmp_path / "web.webp"
    Image.fromarray(demo()).save(path, "WEBP", quality=90)
    photo = read_photo(path)
    assert mean_diff(photo.image, demo()) < 6
    assert check_portrait(photo.image, face).verdict != REJECTED


def test_very_large_photo_is_downscaled_and_keeps_its_size(tmp_path):
    big = Image.fromarray(demo()).resize((6000, 6000), Image.Resampling.BILINEAR)
    path = tmp_path / "huge.jpg"
    big.save(path, quality=85)
    photo = read_photo(path)
    assert max(photo.image.shape[:2]) == WORK_MAX_SIDE
    assert photo.original_size == (6000, 6000)
    assert any("downscaled from 6000x6000" in n for n in photo.notes)


def test_large_exif_rotated_jpeg_reports_its_upright_size(tmp_path):
    stored = Image.fromarray(demo()).resize((6000, 4500), Image.Resampling.BILINEAR)
    exif = Image.Exif()
    exif[0x0112] = 8  # stored turned: viewers turn it 90 degrees counter-clockwise
    path = tmp_path / "big-phone.jpg"
    stored.save(path, quality=80, exif=exif)
    photo = read_photo(path)
    assert photo.original_size == (4500, 6000)
    assert photo.image.shape[0] == WORK_MAX_SIDE and photo.image.shape[0] > photo.image.shape[1]


def test_decompression_bomb_is_refused_with_a_clear_message(tmp_path):
    side = int(MAX_PIXELS**0.5) + 200
    path = tmp_path / "bomb.png"
    Image.new("1", (side, side)).save(path)  # a few KB on disk, ~80 megapixels decoded
    assert path.stat().st_size < 2_000_000
    with pytest.raises(InputError, match="too large to open safely"):
        read_photo(path)


@pytest.mark.parametrize("kind", ["truncated", "text", "empty", "missing", "folder"])
def test_unreadable_files_give_one_clear_error(tmp_path, kind):
    path = tmp_path / "photo.jpg"
    if kind == "truncated":
        Image.fromarray(demo()).save(tmp_path / "full.jpg", quality=90)
        data = (tmp_path / "full.jpg").read_bytes()
        path.write_bytes(data[: len(data) // 2])
        expected = "damaged or incomplete"
    elif kind == "text":
        path.write_text("this is not a picture\n" * 20)
        expected = "not a photo"
    elif kind == "empty":
        path.write_bytes(b"")
        expected = "not a photo"
    elif kind == "missing":
        expected = "cannot find"
    else:
        path.mkdir()
        expected = "is a folder"
    with pytest.raises(InputError, match=expected):
        read_photo(path)
