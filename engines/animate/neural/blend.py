"""Framing, face crop and paste-back for the neural lip-sync, without a visible box.

The generated face crop is pasted back through a soft mask drawn from the 68 landmarks: the lower
face inside the jaw line, up to just under the nose, eroded and feathered so its edge lies on skin
and fades over several pixels, and forced to zero near the crop's border, so the square of the crop
never shows. The generated pixels are colour-matched to the original skin first (a per-channel gain
and offset fitted once per avatar on the feathered band), and the mask and colour parameters are
the same for every frame, so nothing flickers from frame to frame.

All images are RGB uint8 (height, width, 3); landmarks are (68, 2) float x, y pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

JAW_LOWER = list(range(2, 15))  # iBUG-68 jaw points from cheek to cheek, under the mouth
NOSE_BASE = [35, 34, 33, 32, 31]  # right to left, so the polygon closes without crossing


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


def face_box(landmarks: np.ndarray, chin_margin: float = 0.06) -> Box:
    """Box of the face the network sees, in the framing MuseTalk was trained on (pixels).

    Jaw to jaw horizontally; vertically centred on the middle of the nose bridge (landmark 29) and
    reaching down to the lowest landmark, plus ``chin_margin`` of that half-height below the chin
    so an open jaw still fits. The box is usually taller than wide; it is resized to the square
    network input like the training crops were, and the hidden (lower) half holds mouth and chin.
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


def mouth_mask(landmarks: np.ndarray, size: int, feather: float = 0.06) -> np.ndarray:
    """Soft mask (size, size) float32 in [0, 1] of the lower face, from landmarks in crop pixels.

    ``feather`` is the width of the soft edge as a fraction of the crop side.
    """
    pts = np.asarray(landmarks, dtype=np.float64)
    nose_to_lip = max(pts[51, 1] - pts[33, 1], 1.0)
    top = pts[NOSE_BASE].copy()
    top[:, 1] += 0.25 * nose_to_lip  # start just under the nostrils: the nose itself stays original
    poly = np.concatenate([pts[JAW_LOWER], top])
    centre = poly.mean(axis=0)
    poly = centre + 0.94 * (poly - centre)  # keep the edge on skin, inside the jaw line
    mask = np.zeros((size, size), np.float32)
    cv2.fillPoly(mask, [np.round(poly * 4).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=2)
    edge = max(1, int(round(feather * size)))
    mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (edge, edge)))
    mask = cv2.GaussianBlur(mask, (0, 0), sigmaX=edge / 2.0)
    # The lips themselves are always fully generated, however tight the jaw polygon came out.
    lips = np.zeros((size, size), np.float32)
    lip_poly = pts[48:60]
    lip_poly = lip_poly.mean(axis=0) + 1.15 * (lip_poly - lip_poly.mean(axis=0))
    cv2.fillPoly(lips, [np.round(lip_poly * 4).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=2)
    mask = np.maximum(mask, np.minimum(1.0, 2.0 * cv2.GaussianBlur(lips, (0, 0), sigmaX=edge / 2.0)))
    # Only the lower half is generated from audio; above it the network merely reconstructs.
    rows = np.arange(size, dtype=np.float32)
    mask *= np.clip((rows - size * 0.5) / edge, 0.0, 1.0)[:, None]
    # Zero at the crop border, so the square never shows however large the face.
    ramp = np.clip(np.minimum(rows, size - 1 - rows) / edge, 0.0, 1.0)
    mask *= ramp[:, None] * ramp[None, :]
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
