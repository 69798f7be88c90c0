"""Framing, face crop, head following and paste-back for the neural lip-sync, without a visible box.

The generated face crop is pasted back through a soft mask drawn from the 68 landmarks, in the
spirit of MuseTalk's ``jaw`` blending mode: the whole lower face from just under the nose down to
*below* the jaw line (the chin region reaches into the room the crop leaves under the chin), so a
generated jaw that opens lower than the photo's never shows the photo's closed chin beneath it. The
sides stay a little inside the cheeks (skin on both sides of the seam), the edge is feathered, and
the mask is zero at the crop's border, so the square of the crop never shows. The generated pixels
are colour-matched to the original skin first (a per-channel gain and offset fitted once per avatar
on the feathered band), and the mask and colour parameters are the same for every frame, so
nothing flickers from frame to frame.

In the hybrid animator the head moves (procedural head sway, nods, breathing): :func:`follow_head`
finds, per frame, the affine motion of the lower face between the rest frame and the moved frame
(OpenCV's ECC image alignment), and :func:`paste_warped` pastes the generated crop through that
motion, so the generated mouth moves with the head.

All images are RGB uint8 (height, width, 3); landmarks are (68, 2) float x, y pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

JAW_LOWER = list(range(2, 15))  # iBUG-68 jaw points from cheek to cheek, under the mouth
NOSE_BASE = [35, 34, 33, 32, 31]  # right to left, so the polygon closes without crossing
CHIN = 8  # iBUG-68 chin point
CHIN_MARGIN = 0.16  # room under the chin in the face crop, as a fraction of the face's lower half-height


@dataclass(frozen=True)
class Box:
    """Axis-aligned pixel box: top-left (x, y), width w and height h (integers, may leave the image)."""

    x: int
    y: int
    w: int
    h: int

    def affine(self, out_w: int, out_h: int) -> np.ndarray:
        """2x3 matrix mapping image pixels inside the box to an ``out_w`` x ``out_h`` image."""
        kx, ky = out_w / self.w, out_h / self.h
        return np.array([[kx, 0.0, -kx * self.x], [0.0, ky, -ky * self.y]], dtype=np.float64)


def transform_points(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine to (N, 2) points."""
    pts = np.asarray(points, dtype=np.float64)
    return (pts @ affine[:, :2].T + affine[:, 2]).astype(np.float32)


def crop_resize(image: np.ndarray, box: Box, out_w: int, out_h: int) -> np.ndarray:
    """The ``box`` of ``image`` resized to ``out_w`` x ``out_h``; parts outside the image repeat its edge."""
    h, w = image.shape[:2]
    pad = max(0, -box.x, -box.y, box.x + box.w - w, box.y + box.h - h)
    src = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else image
    roi = src[box.y + pad : box.y + pad + box.h, box.x + pad : box.x + pad + box.w]
    shrink = out_w < box.w or out_h < box.h
    return cv2.resize(roi, (out_w, out_h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def frame_box(landmarks: np.ndarray, image_w: int, image_h: int, width: int, height: int, expand: float) -> Box:
    """Part of the portrait shown in a ``width`` x ``height`` output: the face box scaled by ``expand``.

    The box keeps the output's aspect ratio, sits a little above the face centre (room for hair),
    and stays inside the image when the image is large enough.
    """
    pts = np.asarray(landmarks, dtype=np.float64)
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    fw, fh = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    aspect = width / height
    ch = max(fh, fw / aspect) * expand
    cw = ch * aspect
    fit = min(1.0, image_w / cw, image_h / ch)
    cw, ch = cw * fit, ch * fit
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 - 0.1 * fh
    left = float(np.clip(cx - cw / 2, 0, max(image_w - cw, 0)))
    top = float(np.clip(cy - ch / 2, 0, max(image_h - ch, 0)))
    return Box(int(round(left)), int(round(top)), max(1, int(round(cw))), max(1, int(round(ch))))


def face_box(landmarks: np.ndarray, chin_margin: float = CHIN_MARGIN) -> Box:
    """Box of the face the network sees, in the framing MuseTalk was trained on (pixels).

    Jaw to jaw horizontally; vertically centred on the middle of the nose bridge (landmark 29) and
    reaching down to the lowest landmark, plus ``chin_margin`` of that half-height below the chin
    so an open jaw still fits and the jaw mask can fade out below the photo's chin (MuseTalk 1.5
    adds a fixed 10 pixels, about half as much at usual face sizes; a fraction keeps it the same
    for every photo size). The box is usually taller than wide; it is resized to the square network
    input like the training crops were, and the hidden (lower) half holds mouth and chin.
    """
    pts = np.asarray(landmarks, dtype=np.float64)
    x0, x1 = pts[:, 0].min(), pts[:, 0].max()
    mid = pts[29, 1]
    bottom = pts[:, 1].max()
    half = max(bottom - mid, 4.0)
    top = mid - half
    bottom += chin_margin * half
    w = max(8, int(round(x1 - x0)))
    h = max(8, int(round(bottom - top)))
    return Box(int(round(x0)), int(round(top)), w, h)


def jaw_mask(landmarks: np.ndarray, size: int, feather: float = 0.05) -> np.ndarray:
    """Soft mask (size, size) float32 in [0, 1] of the lower face down to below the jaw line, from
    landmarks in crop pixels (see the module docstring).

    The jaw line is moved down into the room the crop leaves under the chin (most at the chin, less
    towards the cheeks) and the polygon's edge is blurred outwards from there, so the mask is 1 on
    the photo's own jaw line and chin and fades out below them. ``feather`` is the width of the
    remaining soft edges (under the nose, at the cheeks) as a fraction of the crop side.
    """
    pts = np.asarray(landmarks, dtype=np.float64)
    edge = max(1.0, feather * size)
    room = max(2.0, size - 1 - pts[CHIN, 1])  # pixels under the chin inside the crop
    grow = 0.85 * room
    jaw = pts[JAW_LOWER].copy()
    half_w = max(1.0, 0.5 * (jaw[-1, 0] - jaw[0, 0]))
    towards_chin = np.clip(1.0 - np.abs(jaw[:, 0] - pts[CHIN, 0]) / half_w, 0.0, 1.0)
    # Out from the mouth's centre, most at the chin (it drops most when the jaw opens), less
    # towards the cheeks (near the jaw's hinge, where the crop ends anyway).
    out = jaw - pts[48:68].mean(axis=0)
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)
    jaw += out * (grow * (0.3 + 0.7 * towards_chin))[:, None]
    nose_to_lip = max(pts[51, 1] - pts[33, 1], 1.0)
    top = pts[NOSE_BASE].copy()
    top[:, 1] += 0.25 * nose_to_lip  # start just under the nostrils: the nose itself stays original
    poly = np.concatenate([jaw, top])
    mask = np.zeros((size, size), np.float32)
    cv2.fillPoly(mask, [np.round(poly * 4).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=2)
    sigma = max(0.8, grow / 3.0)  # the photo's jaw line lies ~3 sigma inside the grown edge: fully generated
    mask = cv2.GaussianBlur(mask, (0, 0), sigmaX=sigma)
    # The lips themselves are always fully generated.
    lips = np.zeros((size, size), np.float32)
    lip_poly = pts[48:60]
    lip_poly = lip_poly.mean(axis=0) + 1.15 * (lip_poly - lip_poly.mean(axis=0))
    cv2.fillPoly(lips, [np.round(lip_poly * 4).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=2)
    mask = np.maximum(mask, np.minimum(1.0, 2.0 * cv2.GaussianBlur(lips, (0, 0), sigmaX=edge / 2.0)))
    # Only the lower half is generated from audio; above it the network merely reconstructs.
    rows = np.arange(size, dtype=np.float32)
    mask *= np.clip((rows - size * 0.5) / edge, 0.0, 1.0)[:, None]
    # Zero at the crop border, so the square never shows however large the face.
    # (Under the chin the fade takes the lower 60% of the room the crop has there: 1 on the chin and a
    # little below it, 0 at the border.)
    # (Two border pixels stay 0: resizing the mask to the box must not bring any weight onto the outline.)
    top_ramp = np.clip((rows - 1) / edge, 0.0, 1.0)
    bottom_ramp = np.clip((size - 2 - rows) / (0.6 * room), 0.0, 1.0)
    side_ramp = np.clip((np.minimum(rows, size - 1 - rows) - 1) / edge, 0.0, 1.0)
    mask *= (top_ramp * bottom_ramp)[:, None] * side_ramp[None, :]
    mask[mask < 1.0 / 255.0] = 0.0  # blur tails that could not change a pixel: keep them exactly original
    return np.clip(mask, 0.0, 1.0)


@dataclass(frozen=True)
class ColourMatch:
    """Per-channel ``gain * x + offset`` (RGB, 0..255 scale) that makes generated skin match the original."""

    gain: np.ndarray
    offset: np.ndarray

    @classmethod
    def identity(cls) -> ColourMatch:
        return cls(np.ones(3, np.float32), np.zeros(3, np.float32))

    @classmethod
    def fit(cls, original: np.ndarray, generated: np.ndarray, mask: np.ndarray) -> ColourMatch:
        """Fit on the feathered band of ``mask`` (where seams would show); gain clamped to 0.75..1.33."""
        band = (mask * (1.0 - mask) * 4.0).astype(np.float64) + 0.05 * mask
        total = band.sum()
        if total < 1e-6:
            return cls.identity()
        w = band[..., None] / total
        o, g = original.astype(np.float64), generated.astype(np.float64)
        mo, mg = (o * w).sum((0, 1)), (g * w).sum((0, 1))
        so = np.sqrt(((o - mo) ** 2 * w).sum((0, 1))) + 1.0
        sg = np.sqrt(((g - mg) ** 2 * w).sum((0, 1))) + 1.0
        gain = np.clip(so / sg, 0.75, 1.33)
        return cls(gain.astype(np.float32), (mo - gain * mg).astype(np.float32))

    def apply(self, image: np.ndarray) -> np.ndarray:
        """``image`` (..., 3) corrected, float32 on the 0..255 scale."""
        return image.astype(np.float32) * self.gain + self.offset


def paste(frame: np.ndarray, generated: np.ndarray, mask: np.ndarray, box: Box) -> np.ndarray:
    """``frame`` with ``generated`` (crop pixels, float or uint8) blended into ``box`` through ``mask``.

    Pixels where the mask is zero, and everything outside the box, are left exactly as they were.
    """
    out = frame.copy()
    h, w = frame.shape[:2]
    gen = cv2.resize(np.asarray(generated, np.float32), (box.w, box.h), interpolation=cv2.INTER_LINEAR)
    m = cv2.resize(mask.astype(np.float32), (box.w, box.h), interpolation=cv2.INTER_LINEAR)
    xa, ya = max(box.x, 0), max(box.y, 0)
    xb, yb = min(box.x + box.w, w), min(box.y + box.h, h)
    if xa >= xb or ya >= yb:
        return out
    g = gen[ya - box.y : yb - box.y, xa - box.x : xb - box.x]
    mm = m[ya - box.y : yb - box.y, xa - box.x : xb - box.x, None]
    bg = frame[ya:yb, xa:xb].astype(np.float32)
    blended = bg + (g - bg) * mm
    region = np.clip(np.round(blended), 0, 255).astype(np.uint8)
    keep = mm[..., 0] <= 0.0
    region[keep] = frame[ya:yb, xa:xb][keep]
    out[ya:yb, xa:xb] = region
    return out


def box_to_crop(box: Box, size: int) -> np.ndarray:
    """2x3 affine from crop pixels (``size`` square) back to the pixels of the frame ``box`` was cut from."""
    return np.array(
        [[box.w / size, 0.0, box.x + 0.5 * box.w / size - 0.5], [0.0, box.h / size, box.y + 0.5 * box.h / size - 0.5]],
        dtype=np.float64,
    )


def _gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY).astype(np.float32)


@dataclass(frozen=True)
class HeadFollower:
    """Finds how the lower face moved between the rest frame and a frame of the procedural head.

    ``region`` (rest-frame pixels) is where to look; it is compared at a working size of about
    ``work`` pixels (the motion of a head is smooth, and small images align in a millisecond).
    """

    template: np.ndarray  # grey rest-frame region at the working scale
    x0: int
    y0: int
    x1: int
    y1: int
    scale: float

    @classmethod
    def of(cls, rest: np.ndarray, region: Box, work: int = 96) -> HeadFollower:
        h, w = rest.shape[:2]
        pad_x, pad_y = region.w // 4, region.h // 4
        x0, y0 = max(0, region.x - pad_x), max(0, region.y - pad_y)
        x1, y1 = min(w, region.x + region.w + pad_x), min(h, region.y + region.h + pad_y)
        scale = min(1.0, work / max(1, x1 - x0, y1 - y0))
        return cls(cls._small(rest, x0, y0, x1, y1, scale), x0, y0, x1, y1, scale)

    @staticmethod
    def _small(image, x0, y0, x1, y1, scale) -> np.ndarray:
        roi = _gray(image[y0:y1, x0:x1])
        if scale >= 1.0:
            return roi
        return cv2.resize(roi, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)

    def motion(self, frame: np.ndarray) -> np.ndarray:
        """2x3 affine mapping rest-frame pixels to ``frame`` pixels around the region (identity when
        the frame did not move or the alignment does not converge)."""
        eye = np.eye(2, 3, dtype=np.float32)
        moved = self._small(frame, self.x0, self.y0, self.x1, self.y1, self.scale)
        if moved.shape != self.template.shape or np.array_equal(moved, self.template):
            return eye.astype(np.float64)
        criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 60, 1e-5)
        try:
            _, warp = cv2.findTransformECC(self.template, moved, eye.copy(), cv2.MOTION_AFFINE, criteria, None, 3)
        except cv2.error:
            return eye.astype(np.float64)
        # from working-scale region coordinates back to frame pixels
        k = self.scale
        to_small = np.array([[k, 0.0, -k * self.x0], [0.0, k, -k * self.y0], [0.0, 0.0, 1.0]])
        from_small = np.linalg.inv(to_small)
        full = from_small @ np.vstack([warp.astype(np.float64), [0.0, 0.0, 1.0]]) @ to_small
        return full[:2]


def compose_affine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The 2x3 affine ``a`` after ``b`` (points go through ``b`` first)."""
    return (np.vstack([a, [0.0, 0.0, 1.0]]) @ np.vstack([b, [0.0, 0.0, 1.0]]))[:2]


def paste_warped(frame: np.ndarray, generated: np.ndarray, mask: np.ndarray, crop_to_frame: np.ndarray) -> np.ndarray:
    """``frame`` with ``generated`` (crop pixels, float) blended in through ``mask``, both placed by the
    2x3 affine ``crop_to_frame`` (crop pixels -> frame pixels). Pixels where the warped mask is
    zero stay exactly as they were."""
    out = frame.copy()
    h, w = frame.shape[:2]
    s = mask.shape[0]
    corners = np.array([[0, 0], [s, 0], [0, s], [s, s]], np.float64)
    placed = transform_points(crop_to_frame, corners)
    xa, ya = (int(max(0, np.floor(v))) for v in placed.min(axis=0))
    xb, yb = int(min(w, np.ceil(placed[:, 0].max()) + 1)), int(min(h, np.ceil(placed[:, 1].max()) + 1))
    if xa >= xb or ya >= yb:
        return out
    m = crop_to_frame.copy()
    m[:, 2] -= (xa, ya)
    size = (xb - xa, yb - ya)
    gen = cv2.warpAffine(
        np.asarray(generated, np.float32), m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    mm = cv2.warpAffine(mask.astype(np.float32), m, size, flags=cv2.INTER_LINEAR, borderValue=0.0)[..., None]
    bg = frame[ya:yb, xa:xb].astype(np.float32)
    region = np.clip(np.round(bg + (gen - bg) * mm), 0, 255).astype(np.uint8)
    keep = mm[..., 0] <= 1.0 / 255.0
    region[keep] = frame[ya:yb, xa:xb][keep]
    out[ya:yb, xa:xb] = region
    return out
