"""Blending the generated lower face back: the jaw mask (MuseTalk's ``jaw`` mode), colour match, no
visible box, and the paste following a moved head."""

from __future__ import annotations

import numpy as np
import pytest

from engines.animate.neural.blend import (
    Box,
    ColourMatch,
    HeadFollower,
    box_to_crop,
    compose_affine,
    crop_resize,
    face_box,
    frame_box,
    jaw_mask,
    paste,
    paste_warped,
    transform_points,
)
from tests.neural_fixtures import portrait

SIZE = 256


@pytest.fixture(scope="module")
def face():
    image, landmarks = portrait()
    fbox = frame_box(landmarks, image.shape[1], image.shape[0], 320, 320, 1.8)
    frame = crop_resize(image, fbox, 320, 320)
    in_frame = transform_points(fbox.affine(320, 320), landmarks)
    box = face_box(in_frame)
    in_crop = transform_points(box.affine(SIZE, SIZE), in_frame)
    return {
        "frame": frame,
        "box": box,
        "crop": crop_resize(frame, box, SIZE, SIZE),
        "lm": in_crop,
        "mask": jaw_mask(in_crop, SIZE),
    }


def test_face_crop_puts_the_mouth_in_the_hidden_lower_half_and_the_eyes_above(face):
    lm = face["lm"]
    assert lm[48:68, 1].min() > SIZE / 2  # the whole mouth is inside the half the network repaints
    assert lm[36:48, 1].max() < SIZE / 2  # the eyes stay in the visible half
    assert lm[8, 1] < SIZE  # the chin is inside the crop


def test_mask_covers_the_mouth_and_spares_eyes_nose_and_crop_border(face):
    mask, lm = face["mask"], face["lm"]
    mouth = np.round(lm[[51, 57, 62, 66]]).astype(int)
    assert all(mask[y, x] > 0.95 for x, y in mouth)
    for x, y in np.round(lm[[30, 36, 39, 42, 45]]).astype(int):  # nose tip and eye corners
        assert mask[y, x] == 0.0
    border = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
    assert border.max() == 0.0


def test_mask_edge_is_feathered_not_a_hard_step(face):
    mask = face["mask"]
    assert mask.max() == pytest.approx(1.0, abs=0.02)
    steepest = max(np.abs(np.diff(mask, axis=0)).max(), np.abs(np.diff(mask, axis=1)).max())
    assert steepest < 0.15  # a hard edge would jump by 1.0 between neighbouring pixels
    soft = ((mask > 0.02) & (mask < 0.98)).sum()
    assert soft > 0.3 * (mask >= 0.98).sum()  # a wide band of partial blending around the core


def test_paste_changes_nothing_outside_the_mask(face):
    frame, box, mask = face["frame"], face["box"], face["mask"]
    loud = np.full((SIZE, SIZE, 3), (0, 255, 0), np.float32)  # anything pasted would show up green
    out = paste(frame, loud, mask, box)
    changed = np.any(out != frame, axis=2)
    inside = np.zeros_like(changed)
    inside[box.y : box.y + box.h, box.x : box.x + box.w] = True
    assert changed.any()
    assert not changed[~inside].any()
    # Along the crop's own square outline nothing changes: no box edge can show.
    x0, y0, x1, y1 = box.x, box.y, box.x + box.w - 1, box.y + box.h - 1
    outline = np.concatenate([out[y0, x0:x1], out[y1, x0:x1], out[y0:y1, x0], out[y0:y1, x1]])
    original = np.concatenate([frame[y0, x0:x1], frame[y1, x0:x1], frame[y0:y1, x0], frame[y0:y1, x1]])
    assert np.array_equal(outline, original)


def test_paste_of_the_unchanged_crop_gives_back_the_frame(face):
    out = paste(face["frame"], face["crop"], face["mask"], face["box"])
    assert np.abs(out.astype(int) - face["frame"].astype(int)).mean() < 1.0


def test_colour_match_brings_tinted_skin_back_to_the_original(face):
    crop, mask = face["crop"].astype(np.float32), face["mask"]
    tinted = np.clip(crop * np.array([0.85, 1.0, 1.1]) + np.array([12.0, -8.0, 5.0]), 0, 255)
    match = ColourMatch.fit(crop, tinted, mask)
    band = (mask > 0.05) & (mask < 0.95)
    before = np.abs(tinted[band] - crop[band]).mean()
    after = np.abs(match.apply(tinted)[band] - crop[band]).mean()
    assert after < 0.4 * before
    identity = ColourMatch.fit(crop, crop, mask)
    assert np.allclose(identity.gain, 1.0, atol=1e-3) and np.allclose(identity.offset, 0.0, atol=0.5)


def test_framing_keeps_the_output_aspect_and_stays_inside_a_large_portrait():
    landmarks = np.stack([np.linspace(400, 600, 68), np.linspace(300, 560, 68)], axis=1)
    box = frame_box(landmarks, 1000, 1200, 720, 1280, 1.8)
    assert box.w / box.h == pytest.approx(720 / 1280, rel=0.01)
    assert box.x >= 0 and box.y >= 0 and box.x + box.w <= 1000 and box.y + box.h <= 1200


def test_crop_outside_the_image_repeats_the_edge_instead_of_failing():
    image = np.zeros((40, 40, 3), np.uint8)
    image[:, :20] = 200
    out = crop_resize(image, Box(-10, -10, 40, 40), 40, 40)
    assert out.shape == (40, 40, 3)
    assert out[0, 0, 0] == 200 and out[-1, -1, 0] == 0


def test_jaw_mask_replaces_the_photos_jaw_line_and_chin_and_reaches_below_them(face):
    """An open generated jaw drops below the photo's chin: the photo's chin and jaw line must be fully
    replaced (no doubled chin), with the fade lying below them, inside the crop."""
    mask, lm = face["mask"], face["lm"]
    jaw_line = [mask[int(round(y)), int(round(x))] for x, y in lm[5:12]]  # lower jaw line through the chin
    assert min(jaw_line) > 0.85
    chin_x, chin_y = lm[8]
    room = SIZE - 1 - chin_y
    assert room > 4  # the crop leaves room under the chin for an open jaw
    below = mask[int(round(chin_y + 0.4 * room)), int(round(chin_x))]
    assert below > 0.3  # still blending under the chin: the generated chin can drop there
    assert mask[-1].max() == 0.0


def test_an_open_generated_jaw_never_shows_the_photos_chin_beneath_it(face):
    """Paste a face whose chin is lower than the photo's (the jaw stretched down): along the photo's
    chin the result is the generated pixels, not a mix that would show the photo's closed chin."""
    frame, box, mask, crop = face["frame"], face["box"], face["mask"], face["crop"].astype(np.float32)
    lm = face["lm"]
    chin_y = int(round(lm[8, 1]))
    opened = crop.copy()
    opened[chin_y:] = 240.0  # bright: the generated skin of a dropped chin where the photo shows its chin edge
    out = paste(frame, opened, mask, box)
    x = int(round(box.x + lm[8, 0] * box.w / SIZE))
    y = int(round(box.y + (chin_y + 1) * box.h / SIZE))
    assert np.abs(out[y, x].astype(int) - 240).max() < 25  # the generated chin, not the photo's chin edge
    assert np.abs(frame[y, x].astype(int) - 240).max() > 100  # (the photo really is different there)


def test_head_follower_finds_a_small_head_motion(face):
    import cv2

    frame, box = face["frame"], face["box"]
    angle, dx, dy = 2.0, 3.0, -2.0  # degrees, pixels: a head sway and a nod's worth
    centre = (box.x + box.w / 2, box.y + box.h / 2)
    truth = cv2.getRotationMatrix2D(centre, angle, 1.0)
    truth[:, 2] += (dx, dy)
    moved = cv2.warpAffine(frame, truth, (frame.shape[1], frame.shape[0]), borderMode=cv2.BORDER_REFLECT)
    follower = HeadFollower.of(frame, box)
    found = follower.motion(moved)
    probe = np.array([[box.x + box.w / 2, box.y + 0.75 * box.h], [box.x + 0.2 * box.w, box.y + 0.9 * box.h]])
    err = np.abs(transform_points(found, probe) - transform_points(truth, probe)).max()
    assert err < 0.6  # pixels, at the mouth and the jaw
    assert np.allclose(follower.motion(frame), np.eye(2, 3))  # a head at rest does not move the paste


def test_paste_through_the_head_motion_moves_the_generated_face_with_the_head(face):
    box, mask = face["box"], face["mask"]
    black = np.zeros_like(face["frame"])
    white = np.full((SIZE, SIZE, 3), 255.0, np.float32)

    def centre(image):  # (row, column) of the pasted weight
        w = image[..., 0].astype(np.float64)
        rows, cols = np.mgrid[: w.shape[0], : w.shape[1]]
        return np.array([(w * rows).sum(), (w * cols).sum()]) / w.sum()

    still = paste(black, white, mask, box)
    nod = np.array([[1.0, 0.0, 5.0], [0.0, 1.0, 3.0]])  # the head moved 5 px right and 3 px down
    moved = paste_warped(black, white, mask, compose_affine(nod, box_to_crop(box, SIZE)))
    assert np.allclose(centre(moved) - centre(still), (3.0, 5.0), atol=0.05)
    # at rest, the warped paste is the plain paste
    same = paste_warped(black, white, mask, box_to_crop(box, SIZE))
    assert np.abs(same.astype(int) - still.astype(int)).max() <= 2
