"""The procedural engine's rig: the framed portrait plus everything precomputed per avatar.

``prepare_rig`` frames the photo for the output size (never enlarging the face beyond the photo's
own pixels) and keeps the photo as the rest pose: its own lips and teeth are never repainted. Then it
builds displacement "basis" fields: one per control, each the backward map
(output pixel -> offset of the source pixel it shows) for one unit of that control. A frame is then
a weighted sum of fields plus one ``cv2.remap``.

Three groups of fields, each over its own box of the output frame:

* mouth (full resolution, vertical only): jaw drop (two exact levels; the jaw turns about its hinges,
  so its sides drop less than the chin, the cheeks beside the mouth follow and the neck stays), oval
  opening, upper-lip raise, lip press (a photo with parted lips brought together, for m/b/p). They are discontinuous
  along the split line: the closed lip line, or for a photo with parted lips the lower lip's inner
  edge, so the photo's upper lip and teeth ride the upper jaw and the gap that opens below them is
  covered by the drawn inside of the mouth;
* face (quarter resolution, smooth, 2-D): lip width, smile, mouth corners down, brows, eyes wide;
  eyelids (full resolution, vertical, two exact levels: the upper lid slides down and the lower lid
  rises to meet it most of the way down the eye) are added in the eye boxes;
* head (quarter resolution, smooth, 2-D): roll, shift, nod, turn, with a weight that fades from the
  head to the neck and background; the renderer composes it with the face's fields, so the photo is
  resampled once per frame.

Every field fades to zero before its box edge, so the warped box pastes back without a seam.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import cv2
import numpy as np

from engines.face.base import (
    BROW_LEFT,
    BROW_LEFT_INNER,
    BROW_LEFT_OUTER,
    BROW_RIGHT,
    BROW_RIGHT_INNER,
    BROW_RIGHT_OUTER,
    BROWS,
    CHEEK_LEFT,
    CHEEK_RIGHT,
    CHIN,
    EYE_LEFT,
    EYE_RIGHT,
    EYES,
    INNER_CORNER_LEFT,
    INNER_CORNER_RIGHT,
    INNER_LIP_BOTTOM,
    INNER_LIP_TOP,
    JAW,
    JAW_LEFT,
    JAW_RIGHT,
    LOWER_LIDS,
    LOWER_LIP_BOTTOM,
    MOUTH_CORNER_LEFT,
    MOUTH_CORNER_RIGHT,
    MOUTH_INNER,
    MOUTH_OUTER,
    NOSE_BASE,
    NOSE_TIP,
    NOSTRIL_LEFT,
    NOSTRIL_RIGHT,
    UPPER_LIDS,
    framing_box,
)

INNER = ("jaw_half", "jaw_full", "jaw_round", "upper_raise", "lip_press")
OUTER = ("width", "pucker", "smile", "corners_down", "brow_up", "brow_frown", "brow_sad", "eye_wide")
# "pucker" is driven by negative "width": corners in, lips pushed out, smile flattened.
HEAD = ("head_roll", "head_tx", "head_ty", "head_pitch", "head_yaw")
BLINK_LEVELS = (0.5, 1.0)
LIDS_MEET = 0.75  # where a closed eye's lids meet, from the upper lid's margin (0) to the lower's (1)
STEP = 4  # resolution divisor of the smooth fields
N_COLS = 33  # columns sampled across the mouth for drawing its inside

# Mouth sizes as fractions of the mouth width.
JAW_GAP = 0.30  # lip gap at jaw = 1
ROUND_GAP = 0.26  # lip gap at jaw_round = 1
UPPER_RAISE = 0.09  # upper-lip lift at upper_raise = 1
UPPER_TEETH_BELOW_LINE = 0.028  # upper incisors' edge below the closed lip line
LOWER_TEETH = 0.04  # lower incisors showing above the lower lip when wide open
CHEEK_FOLLOW = 0.5  # share of the jaw's drop the cheek beside the mouth takes at the lip line
# how far points of the jaw line drop with the chin, from the ear (landmark 0 or 16) to the chin (8)
JAW_DEPTH = np.array([0.0, 0.05, 0.12, 0.3, 0.5, 0.7, 0.85, 0.95, 1.0])
MAX_UPSCALE = 1.0  # framing never enlarges the photo: a bigger face would only be a blurrier one
PARTED_PX = 0.6  # a lip gap wider than this (pixels) means the photo shows its teeth or mouth
PARTED_LANDMARKS = 0.05  # ... when the inner-lip landmarks also stand this far apart (mouth widths)

COLOUR_NAMES = ("cavity", "teeth", "tongue", "lip", "skin")
RIG_VERSION = 6  # bump when the fields' meaning changes: cached rigs of other versions are rebuilt


@dataclass
class Rig:
    """Per-avatar, per-output-size data. All fields are numpy arrays or ints (npz-safe)."""

    width: int
    height: int
    step: int
    base: np.ndarray  # (H, W, 3) uint8, the framed portrait (the rest pose, as photographed)
    landmarks: np.ndarray  # (68, 2) float32, rest pose, output pixels
    face_box: np.ndarray  # (4,) int32 x0, y0, x1, y1
    outer_basis: np.ndarray  # (len(OUTER), h/step, w/step, 2) float32
    mouth_box: np.ndarray  # (4,) int32
    inner_basis: np.ndarray  # (len(INNER), h, w) float32, vertical offsets
    eye_boxes: np.ndarray  # (2, 4) int32
    eye_basis_0: np.ndarray  # (len(BLINK_LEVELS), h, w) float32
    eye_basis_1: np.ndarray
    head_box: np.ndarray  # (4,) int32
    head_basis: np.ndarray  # (len(HEAD), h/step, w/step, 2) float32
    cols_x: np.ndarray  # (N_COLS,) rest x of mouth columns
    cols_line: np.ndarray  # (N_COLS,) rest y of the split line (closed lip line, or the lower lip's inner edge)
    cols_u: np.ndarray  # (N_COLS,) -1 left corner .. 1 right corner
    cols_top: np.ndarray  # (3, N_COLS) upward lip-gap edge per unit jaw, jaw_round, upper_raise
    cols_bot: np.ndarray  # (3, N_COLS) downward lip-gap edge per unit
    colours: np.ndarray  # (5, 3) float32 RGB: COLOUR_NAMES
    metrics: np.ndarray  # (6,) float32: mouth width, eye distance, pixel scale, face height, photo smile
    # (0..1), photo lips parted (0/1)
    version: int = RIG_VERSION

    @property
    def mouth_width(self) -> float:
        return float(self.metrics[0])

    @property
    def eye_distance(self) -> float:
        return float(self.metrics[1])

    @property
    def photo_smile(self) -> float:
        """How much the photo already smiles (0 = level mouth corners, 1 = a broad smile)."""
        return float(self.metrics[4])

    @property
    def lips_parted(self) -> bool:
        """Whether the photo shows its teeth or mouth between parted lips."""
        return bool(self.metrics[5] > 0.5)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for ``np.savez`` (no pickle)."""
        return {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_arrays(cls, d) -> Rig:
        kwargs = {}
        for f in fields(cls):
            if f.name not in d:
                raise ValueError(f"rig data has no '{f.name}'")
            v = np.asarray(d[f.name])
            kwargs[f.name] = int(v) if f.type in ("int", int) else v
        if kwargs["version"] != RIG_VERSION:
            raise ValueError(f"rig data is version {kwargs['version']}, this engine needs {RIG_VERSION}")
        return cls(**kwargs)


# ---------------------------------------------------------------- small maths


def smoothstep(a: float, b: float, x):
    t = np.clip((np.asarray(x, np.float64) - a) / (b - a), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _interp_curve(xq, pts: np.ndarray):
    """y on the polyline through ``pts`` (N, 2) at x ``xq`` (ends held flat)."""
    order = np.argsort(pts[:, 0], kind="stable")
    return np.interp(xq, pts[order, 0], pts[order, 1])


def _box(x0, y0, x1, y1, width, height, multiple=1) -> np.ndarray:
    """Integer box clipped to the frame, its sides grown to a multiple of ``multiple`` pixels."""
    out = []
    for a, b, size in ((x0, x1, width), (y0, y1, height)):
        a = int(np.clip(np.floor(a), 0, size - 1))
        b = int(np.clip(np.ceil(b), a + 1, size))
        n = -(-(b - a) // multiple) * multiple
        n = min(n, size // multiple * multiple)
        a = max(0, min(a, size - n))
        out.append((a, a + n))
    return np.array([out[0][0], out[1][0], out[0][1], out[1][1]], np.int32)


def _low_grid(box: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Full-resolution pixel coordinates of the quarter-resolution samples (cv2.resize convention)."""
    x0, y0, x1, y1 = (int(v) for v in box)
    xs = x0 + (np.arange((x1 - x0) // step) + 0.5) * step - 0.5
    ys = y0 + (np.arange((y1 - y0) // step) + 0.5) * step - 0.5
    return np.meshgrid(xs, ys)


# ---------------------------------------------------------------- framing


def frame_portrait(
    image: np.ndarray, landmarks: np.ndarray, width: int, height: int, crop_expand: float
) -> tuple[np.ndarray, np.ndarray]:
    """The portrait framed for ``width`` x ``height`` pixels, and the landmarks moved with it.

    The face box (landmarks plus forehead) scaled by ``crop_expand`` fills the shorter side of the
    portrait area, face centred a little above the middle, unless that would enlarge the photo
    (scale above ``MAX_UPSCALE``): then the face keeps its own size in pixels. Parts of the crop outside the photo are
    filled with a blurred reflection. Wide outputs put a square portrait on a blurred, darkened copy.
    """
    img = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
    lm = np.asarray(landmarks, np.float64)
    cx, cy, size = framing_box(lm)
    wide = width > 1.15 * height
    fg_w = height if wide else width
    scale = min(fg_w, height) / (size * max(0.5, float(crop_expand)))
    scale = min(scale, MAX_UPSCALE)  # a small face stays small (and sharp) rather than blown up
    fg_x0 = 0.5 * (width - fg_w)
    tx = fg_x0 + 0.5 * fg_w - scale * cx
    ty = 0.47 * height - scale * cy

    src, s_scale = img, scale
    if scale < 0.8:  # shrink first with area averaging, so a big photo does not alias
        f = scale * 1.25
        src = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        s_scale = scale / f
    m = np.array([[s_scale, 0, tx], [0, s_scale, ty]], np.float64)
    flags = cv2.INTER_CUBIC if s_scale > 1.0 else cv2.INTER_LINEAR
    sharp = cv2.warpAffine(src, m, (width, height), flags=flags, borderMode=cv2.BORDER_REFLECT_101)
    inside = cv2.warpAffine(
        np.full(src.shape[:2], 255, np.uint8),
        m,
        (width, height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    if inside.min() < 255:
        soft = _big_blur(sharp, 0.08 * min(width, height))
        w = cv2.GaussianBlur(inside.astype(np.float32) / 255.0, (0, 0), 0.03 * min(width, height))
        w = np.minimum(w, inside.astype(np.float32) / 255.0)[..., None]
        sharp = (sharp * w + soft * (1 - w)).astype(np.uint8)
    if wide:
        sb = max(width / img.shape[1], height / img.shape[0]) * 1.05
        mb = np.array([[sb, 0, 0.5 * width - sb * cx], [0, sb, 0.5 * height - sb * cy]], np.float64)
        mb[0, 2] = np.clip(mb[0, 2], width - sb * img.shape[1], 0)
        mb[1, 2] = np.clip(mb[1, 2], height - sb * img.shape[0], 0)
        small = 8
        ms = mb / small
        bg = cv2.warpAffine(
            img, ms, (width // small + 1, height // small + 1), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT_101
        )
        bg = cv2.GaussianBlur(bg, (0, 0), max(1.0, 0.025 * width / small))
        bg = cv2.resize(bg, (width, height), interpolation=cv2.INTER_LINEAR)[:height, :width]
        bg = bg.astype(np.float32) * 0.45
        xs = np.arange(width, dtype=np.float32) + 0.5
        feather = 0.1 * fg_w
        a = smoothstep(0, 1, np.minimum((xs - fg_x0) / feather, (fg_x0 + fg_w - xs) / feather))
        a = a.astype(np.float32)[None, :, None]
        sharp = (sharp.astype(np.float32) * a + bg * (1 - a)).astype(np.uint8)
    out_lm = (lm * scale + np.array([tx, ty])).astype(np.float32)
    return sharp, out_lm


def _big_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    h, w = img.shape[:2]
    f = 4
    small = cv2.resize(img, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), max(0.5, sigma / f))
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


# ---------------------------------------------------------------- mouth


class _Mouth:
    """Lip-line geometry of the (closed) mouth in output pixels."""

    def __init__(self, lm: np.ndarray, line_pts: np.ndarray | None = None):
        """``line_pts`` (N, 2): the split line, corner to corner; default the closed lip line."""
        self.lm = lm
        cr, cl = lm[MOUTH_CORNER_RIGHT], lm[MOUTH_CORNER_LEFT]  # image left, image right
        self.width = float(max(4.0, np.hypot(*(cl - cr))))
        self.cx = float(0.5 * (cr[0] + cl[0]))
        self.half = 0.5 * self.width
        inner = np.array([0.5 * (lm[a] + lm[b]) for a, b in zip(INNER_LIP_TOP, INNER_LIP_BOTTOM)])
        self.line_pts = np.vstack([cr, lm[INNER_CORNER_RIGHT], inner, lm[INNER_CORNER_LEFT], cl])
        if line_pts is not None:
            self.line_pts = np.asarray(line_pts, np.float64)
        self.nose_y = float(lm[NOSE_BASE, 1])
        self.chin_y = float(lm[CHIN, 1])
        line_c = float(self.line(np.array([self.cx]))[0])
        self.up_h = max(3.0, line_c - self.nose_y)
        self.chin_v = max(6.0, self.chin_y - line_c)
        self.low_lip = max(2.0, float(lm[LOWER_LIP_BOTTOM, 1]) - line_c)
        # the jaw line, ear to chin on each side, for how far each point of the lower face drops
        self._sides = []
        for idx in (np.arange(0, 9), np.arange(16, 7, -1)):
            pts = lm[idx].astype(np.float64)
            ys = np.maximum.accumulate(pts[:, 1])
            self._sides.append((ys + 1e-3 * np.arange(len(ys)), pts[:, 0]))
        self._jaw_rows = (float(lm[[JAW_RIGHT, JAW_LEFT], 1].min()), self.chin_y - 0.25 * self.chin_v)
        self._jaw_bottom = lm[2:15].astype(np.float64)  # the jaw's lower edge, angle to angle

    def line(self, x):
        return _interp_curve(x, self.line_pts)

    def jaw_depth(self, x, y):
        """How far a point of the lower face drops with the jaw, 0..1 of the drop at the chin.

        The jaw turns about its hinges by the ears: seen from the front, a point drops by how far it
        sits in front of them. That is all of it at the chin, less towards the jaw's sides, and little
        at its angle below the ears (``JAW_DEPTH`` along the jaw line); points in between take a share
        that falls off across the face, and beyond the jaw line it fades out."""
        x = np.asarray(x, np.float64)
        y = np.asarray(y, np.float64)
        # below the jaw's edge is the neck: it stays, and the jaw slides over it, so the share there is
        # the edge's own, fading out just below it
        bottom = _interp_curve(x, self._jaw_bottom)
        neck = 1.0 - smoothstep(-0.2 * self.chin_v, 1.0 * self.chin_v, y - bottom)
        row = np.clip(np.minimum(y, bottom), *self._jaw_rows)
        (yr, xr), (yl, xl) = self._sides
        x_r, x_l = np.interp(row, yr, xr), np.interp(row, yl, xl)
        d_r, d_l = np.interp(row, yr, JAW_DEPTH), np.interp(row, yl, JAW_DEPTH)
        half = np.maximum(2.0, 0.5 * (x_l - x_r))
        uf = (x - 0.5 * (x_r + x_l)) / half
        edge = np.where(uf < 0, d_r, d_l)
        depth = 1.0 - (1.0 - edge) * np.minimum(uf * uf, 1.0)
        return depth * (1.0 - smoothstep(1.0, 1.25, np.abs(uf))) * neck

    def u(self, x):
        return (np.asarray(x, np.float64) - self.cx) / self.half


def _column_inverse(y_rows: np.ndarray, ys_up, yo_up, ys_lo, yo_lo) -> np.ndarray:
    """Backward vertical offsets for one column given forward maps of the upper and lower parts."""
    split = 0.5 * (yo_up[-1] + yo_lo[0])
    src = np.where(y_rows < split, np.interp(y_rows, yo_up, ys_up), np.interp(y_rows, yo_lo, ys_lo))
    return src - y_rows


def _vertical_field(box: np.ndarray, split_y, forward_up, forward_lo, lower_start=None, ss: int = 1) -> np.ndarray:
    """Exact backward field over ``box`` for a per-column forward motion split at ``split_y(x)``.

    ``forward_up(x, y)`` moves source rows above ``split_y(x)``, ``forward_lo(x, y)`` those below
    ``lower_start(x)`` (default: the same line); rows between vanish. Offsets are vertical pixels,
    + down. Columns are inverted numerically, so large motions stay exact. ``ss`` > 1 samples
    ``ss`` x ``ss`` points per pixel (for anti-aliased baking).
    """
    lower_start = lower_start or split_y
    x0, y0, x1, y1 = (int(v) for v in box)
    xs = x0 + (np.arange((x1 - x0) * ss) + 0.5) / ss - 0.5
    rows = y0 + (np.arange((y1 - y0) * ss) + 0.5) / ss - 0.5
    out = np.zeros((len(rows), len(xs)), np.float32)
    splits = split_y(xs)
    starts = np.maximum(splits, lower_start(xs))
    for i, x in enumerate(xs):
        ys_up = np.linspace(y0 - 40.0, splits[i], 400)
        ys_lo = np.linspace(starts[i], y1 + 40.0, 600)
        yo_up = ys_up + forward_up(np.full_like(ys_up, x), ys_up)
        yo_lo = ys_lo + forward_lo(np.full_like(ys_lo, x), ys_lo)
        yo_up = np.maximum.accumulate(yo_up)  # keep monotonic for interp
        yo_lo = np.maximum.accumulate(yo_lo)
        out[:, i] = _column_inverse(rows, ys_up, yo_up, ys_lo, yo_lo)
    return out


def _lip_profiles(u):
    u = np.asarray(u, np.float64)
    open_ = np.maximum(0.0, 1.0 - (u / 0.94) ** 2) ** 1.0  # closed at the inner mouth corners
    round_ = np.maximum(0.0, 1.0 - (u / 0.6) ** 2) ** 0.7
    raise_ = np.maximum(0.0, 1.0 - u * u) ** 0.5
    return open_, round_, raise_


def _opening_motion(m: _Mouth, amount_up: float, amount_down: float, kind: str):
    """Forward motions (upper, lower) of one mouth control, pixels."""
    jaw_share = {"jaw": 1.0, "round": 0.6, "raise": 0.0}[kind]

    def cheek(x):
        # beside the mouth the skin is one piece: the cheek follows the jaw down from the lip line,
        # less the higher up it is
        return CHEEK_FOLLOW * smoothstep(0.9, 1.5, np.abs(m.u(x))) * jaw_share * m.jaw_depth(x, m.line(x))

    def up(x, y):
        u = m.u(x)
        prof = _lip_profiles(u)[{"jaw": 0, "round": 1, "raise": 2}[kind]]
        v = y - m.line(x)
        k = (1.0 - np.clip(-v / m.up_h, 0.0, 1.0)) ** 2
        k_cheek = (1.0 - np.clip(-v / (1.5 * m.up_h), 0.0, 1.0)) ** 2
        return -amount_up * prof * k + amount_down * cheek(x) * k_cheek

    def lo(x, y):
        u = m.u(x)
        open_, round_, _ = _lip_profiles(u)
        lip = open_ if kind == "jaw" else round_
        ext = jaw_share * m.jaw_depth(x, y)
        v = y - m.line(x)
        s = smoothstep(0.0, 2.2 * m.low_lip, v)
        # the chin, lower down the face than the lips, swings back more as the jaw turns: it comes
        # down a little less than the lower lip
        hinge = 1.0 - 0.35 * np.clip(v / m.chin_v, 0.0, 1.2)
        return amount_down * ((lip + cheek(x)) * (1 - s) + ext * s) * hinge

    return up, lo


def _mouth_box(m: _Mouth, width: int, height: int) -> np.ndarray:
    # wide enough for the jaw's sides and the cheeks beside the mouth, which follow the jaw
    jaw_x = m.lm[JAW, 0]
    reach = 0.3 * float(jaw_x.max() - jaw_x.min())
    x0, x1 = min(m.cx - 2.2 * m.half, float(jaw_x.min()) - reach), max(m.cx + 2.2 * m.half, float(jaw_x.max()) + reach)
    top = m.nose_y - 0.5 * m.up_h - 2  # the cheeks' share fades out 1.5 upper-lip heights above the lip line
    return _box(x0, top, x1, m.chin_y + 1.35 * m.chin_v, width, height)


def _teeth_rows(base: np.ndarray, lm: np.ndarray, px: float):
    """Per column between the inner mouth corners, the first and last rows showing teeth or the dark
    mouth (not lip), found from colour near the inner-lip landmarks (which are often a pixel or two
    off). Returns ``(columns, top rows, bottom rows)`` or None when the lips look closed."""
    h, w = base.shape[:2]
    xa, xb = int(np.ceil(lm[MOUTH_CORNER_RIGHT, 0] + 0.5 * px)), int(np.floor(lm[MOUTH_CORNER_LEFT, 0] - 0.5 * px))
    if xb - xa < 4:
        return None
    eye_y = lm[EYES, 1].mean()
    r = max(2, int(0.06 * (lm[JAW_LEFT, 0] - lm[JAW_RIGHT, 0])))
    patch = []
    for x in (lm[[NOSTRIL_RIGHT, CHEEK_RIGHT]].mean(0)[0], lm[[NOSTRIL_LEFT, CHEEK_LEFT]].mean(0)[0]):
        y = 0.5 * (eye_y + lm[NOSE_BASE, 1]) + 0.1 * (lm[NOSE_BASE, 1] - eye_y)
        xi, yi = int(np.clip(x, r, w - r - 1)), int(np.clip(y, r, h - r - 1))
        patch.append(base[yi - r : yi + r, xi - r : xi + r].reshape(-1, 3).astype(np.float64))
    skin = np.median(np.vstack(patch), axis=0)
    skin_rg = max(8.0, skin[0] - skin[1])
    skin_luma = float(skin @ [0.299, 0.587, 0.114])
    up_pts = lm[[MOUTH_CORNER_RIGHT, INNER_CORNER_RIGHT, *INNER_LIP_TOP, INNER_CORNER_LEFT, MOUTH_CORNER_LEFT]]
    lo_pts = lm[[MOUTH_CORNER_RIGHT, INNER_CORNER_RIGHT, *INNER_LIP_BOTTOM, INNER_CORNER_LEFT, MOUTH_CORNER_LEFT]]
    cols = np.arange(xa, xb + 1)
    t_lm, b_lm = _interp_curve(cols, up_pts), _interp_curve(cols, lo_pts)
    y0 = int(max(0, np.floor(t_lm.min() - 3.0 * px)))
    y1 = int(min(h, np.ceil(b_lm.max() + 2.0 * px)))
    strip = base[y0:y1, xa : xb + 1].astype(np.float64)
    rg = strip[..., 0] - strip[..., 1]
    luma = strip @ np.array([0.299, 0.587, 0.114])
    not_lip = (rg < 0.55 * skin_rg) | ((rg < 0.8 * skin_rg) & (luma > 1.02 * skin_luma)) | (luma < 0.5 * skin_luma)
    rows = np.arange(y0, y1)[:, None]
    allowed = (rows >= t_lm[None, :] - 3.0 * px) & (rows <= b_lm[None, :] + 2.0 * px)
    not_lip &= allowed
    tops, bots, found = np.zeros(len(cols)), np.zeros(len(cols)), np.zeros(len(cols), bool)
    for i in range(len(cols)):
        run = not_lip[:, i]
        if run.sum() < 1:
            continue
        # the longest run of non-lip rows in this column
        d = np.diff(np.r_[0, run.astype(np.int8), 0])
        starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
        k = int(np.argmax(ends - starts))
        tops[i], bots[i], found[i] = y0 + starts[k] - 0.5, y0 + ends[k] - 0.5, True
    if found.mean() < 0.3:
        return None
    mid = 0.5 * (t_lm + b_lm)
    tops = np.where(found, tops, mid)
    bots = np.where(found, bots, mid)
    # teeth edges are ragged: take the widest extent nearby, then smooth a little
    k = max(1, int(round(1.5 * px)))
    tops = np.array([tops[max(0, i - k) : i + k + 1].min() for i in range(len(cols))])
    bots = np.array([bots[max(0, i - k) : i + k + 1].max() for i in range(len(cols))])
    k2 = 3 * k
    kern = np.exp(-0.5 * (np.arange(-k2, k2 + 1) / max(1.0, k2 / 2.0)) ** 2)
    kern /= kern.sum()
    tops = np.convolve(np.pad(tops, k2, mode="edge"), kern, mode="valid") - 0.3 * px
    bots = np.convolve(np.pad(bots, k2, mode="edge"), kern, mode="valid") + 0.3 * px
    return cols.astype(np.float64), tops, np.maximum(bots, tops)


def mouth_px(lm: np.ndarray) -> float:
    """About one photo pixel at a 45 px wide mouth (the unit of the mouth's pixel measures)."""
    return max(1.0, float(np.hypot(*(lm[MOUTH_CORNER_LEFT] - lm[MOUTH_CORNER_RIGHT]))) / 45.0)


@dataclass
class _LipGap:
    """The gap between the photo's parted lips, and the motion that closes it.

    Every ``x`` is a column and every ``y`` a row of the output frame (pixels, floats allowed);
    every result is in pixels, vertical offsets + down.
    """

    top_pts: np.ndarray  # (N, 2) the gap's upper edge, corner to corner (x, y)
    bottom_pts: np.ndarray  # (N, 2) the gap's lower edge
    mouth: _Mouth  # the mouth as the photo shows it (parted)
    px: float  # about one photo pixel (``mouth_px``)

    def top(self, x):
        """Row of the gap's upper edge."""
        return _interp_curve(x, self.top_pts)

    def bottom(self, x):
        """Row of the gap's lower edge."""
        return _interp_curve(x, self.bottom_pts)

    def height(self, x):
        """How far the lips stand apart; 0 outside the mouth corners."""
        xa, xb = self.mouth.lm[MOUTH_CORNER_RIGHT, 0], self.mouth.lm[MOUTH_CORNER_LEFT, 0]
        inside = ((x > xa) & (x < xb)).astype(np.float64)
        return np.maximum(0.0, self.bottom(x) - self.top(x)) * inside

    def widest(self) -> float:
        """The largest gap between the mouth corners (50 columns sampled)."""
        lm = self.mouth.lm
        return float(self.height(np.linspace(lm[MOUTH_CORNER_RIGHT, 0], lm[MOUTH_CORNER_LEFT, 0], 50)).max())

    def middle(self, x):
        """Row where the lips meet once closed: halfway across the gap."""
        return 0.5 * (self.top(x) + self.bottom(x))

    def taper(self, x):
        """Share of the gap to close (0..1): the dark corners of a closed smile are natural, so they stay."""
        return 1.0 - smoothstep(0.7, 0.97, np.abs(self.mouth.u(x)))

    def closed_top(self, x):
        """Upper edge of the band that disappears (the band ends at ``closed_bottom``)."""
        return self.middle(x) - 0.5 * self.height(x) * self.taper(x)

    def closed_bottom(self, x):
        return self.middle(x) + 0.5 * self.height(x) * self.taper(x)

    def shift(self, x):
        """How far each lip edge moves: half the gap, plus a tuck that hides the edge (mixed with teeth colour)."""
        g = self.height(x)
        overlap = 0.8 * self.px
        return (0.5 * g + overlap * np.minimum(1.0, g / self.px)) * self.taper(x)

    def move_upper(self, x, y):
        """Forward motion of the upper lip's rows: down by ``shift`` at the gap, fading up to the nose."""
        k = (1.0 - np.clip((self.closed_top(x) - y) / self.mouth.up_h, 0.0, 1.0)) ** 2
        return self.shift(x) * k

    def move_lower(self, x, y):
        """Forward motion of the lower lip's rows: up by ``shift`` at the gap, fading down to the chin."""
        m = self.mouth
        k = 1.0 - smoothstep(1.5 * m.low_lip, m.chin_v, y - self.closed_bottom(x))
        return -self.shift(x) * k


def _lip_gap(lm: np.ndarray, seen) -> _LipGap:
    """The gap between the lips: from ``seen`` (where the photo shows teeth, see ``_teeth_rows``) when
    given, else from the inner-lip landmarks. ``lm`` is (68, 2) float64 in output pixels."""
    top_pts = lm[[INNER_CORNER_RIGHT, *INNER_LIP_TOP, INNER_CORNER_LEFT]]
    bottom_pts = lm[[INNER_CORNER_RIGHT, *INNER_LIP_BOTTOM, INNER_CORNER_LEFT]]
    if seen is not None:  # the photo's own pixels say where teeth and mouth corners show
        cols, t_rows, b_rows = seen
        cr, cl = lm[MOUTH_CORNER_RIGHT], lm[MOUTH_CORNER_LEFT]
        top_pts = np.stack([np.r_[cr[0], cols, cl[0]], np.r_[cr[1], t_rows, cl[1]]], 1)
        bottom_pts = np.stack([np.r_[cr[0], cols, cl[0]], np.r_[cr[1], b_rows, cl[1]]], 1)
    return _LipGap(top_pts, bottom_pts, _Mouth(lm), mouth_px(lm))


def _press_field(box: np.ndarray, gap: _LipGap) -> np.ndarray:
    """Backward vertical field over ``box`` that brings the photo's parted lips together (m, b, p):
    the upper lip slides down and the lower lip up until they meet, over the photo's teeth."""
    if gap.widest() <= PARTED_PX:
        x0, y0, x1, y1 = (int(v) for v in box)
        return np.zeros((y1 - y0, x1 - x0), np.float32)
    return _vertical_field(box, gap.closed_top, gap.move_upper, gap.move_lower, lower_start=gap.closed_bottom)


def photo_smile(lm: np.ndarray) -> float:
    """How much the photo's mouth corners sit above the middle of the lips, 0 (level) .. 1 (broad
    smile), from (68, 2) landmarks in pixels."""
    m = _Mouth(np.asarray(lm, np.float64))
    centre = float(m.line(np.array([m.cx]))[0])
    corners = 0.5 * float(lm[MOUTH_CORNER_RIGHT, 1] + lm[MOUTH_CORNER_LEFT, 1])
    return float(np.clip(((centre - corners) / m.width - 0.03) / 0.07, 0.0, 1.0))


# ---------------------------------------------------------------- face and head fields


def _gauss(x, y, cx, cy, sx, sy):
    return np.exp(-0.5 * (((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))


def _outer_fields(lm: np.ndarray, m: _Mouth, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Backward offsets (len(OUTER), h, w, 2) at grid points ``gx``, ``gy`` (first order: -forward)."""
    eye_r, eye_l = lm[EYE_RIGHT].mean(0), lm[EYE_LEFT].mean(0)
    s = float(np.hypot(*(eye_l - eye_r)))
    mw = m.width
    u = m.u(gx)
    v = gy - m.line(gx)
    env = np.exp(-((v / (0.55 * mw)) ** 2))
    sx = u * np.exp(-((u / 1.6) ** 4))
    lift = u * u * np.exp(-((u / 1.4) ** 4))
    out = np.zeros((len(OUTER),) + gx.shape + (2,), np.float64)

    # width: corners out
    out[0, ..., 0] = 0.15 * mw * sx * env
    # pucker (rounded lips): corners in, corners levelled with the middle, lips pushed out (thicker)
    line_c = float(m.line(np.array([m.cx]))[0])
    inward = u * np.exp(-((u / 1.3) ** 4))
    level = np.minimum(1.0, u * u) * np.exp(-((u / 1.6) ** 4))
    t = v / (0.1 * mw)
    central = np.exp(-((u / 0.9) ** 2))
    out[1, ..., 0] = -0.2 * mw * inward * env
    out[1, ..., 1] = (line_c - m.line(gx)) * 0.6 * level * env + 0.035 * mw * t * np.exp(-t * t) * central
    # smile: corners up and out, cheeks up (they push the lower lids up a little)
    eye_y = 0.5 * (eye_r[1] + eye_l[1])
    cheek_y = 0.5 * (eye_y + m.line(np.array([m.cx]))[0]) - 0.1 * s
    cheeks = _gauss(gx, gy, eye_r[0], cheek_y, 0.32 * s, 0.3 * s) + _gauss(gx, gy, eye_l[0], cheek_y, 0.32 * s, 0.3 * s)
    out[2, ..., 0] = 0.05 * mw * sx * env
    out[2, ..., 1] = -0.11 * mw * lift * env - 0.07 * s * cheeks
    # mouth corners down
    out[3, ..., 0] = -0.02 * mw * sx * env
    out[3, ..., 1] = 0.09 * mw * lift * env

    # brows
    inner_r, inner_l = lm[BROW_RIGHT_INNER], lm[BROW_LEFT_INNER]
    outer_r, outer_l = lm[BROW_RIGHT_OUTER], lm[BROW_LEFT_OUTER]
    mid_x = 0.5 * (inner_r[0] + inner_l[0])
    brow_y = np.where(gx < mid_x, _interp_curve(gx, lm[BROW_RIGHT]), _interp_curve(gx, lm[BROW_LEFT]))
    upper_lid = lm[UPPER_LIDS, 1].mean()
    lower_lid = lm[LOWER_LIDS, 1].mean()
    d = gy - brow_y
    lid_off = max(2.0, float(upper_lid - lm[BROWS, 1].mean()))
    low_off = max(lid_off + 1.0, float(lower_lid - lm[BROWS, 1].mean()))
    vprof = np.interp(d, [-1.3 * s, -0.4 * s, 0.0, lid_off, low_off], [0.0, 0.8, 1.0, 0.3, 0.0])
    hx0, hx1 = outer_r[0] - 0.15 * s, outer_l[0] + 0.15 * s
    hprof = smoothstep(hx0 - 0.4 * s, hx0, gx) * (1 - smoothstep(hx1, hx1 + 0.4 * s, gx))
    out[4, ..., 1] = -0.13 * s * vprof * hprof
    inner = _gauss(gx, gy, inner_r[0], inner_r[1], 0.3 * s, 0.25 * s) + _gauss(
        gx, gy, inner_l[0], inner_l[1], 0.3 * s, 0.25 * s
    )
    protect = 1 - 0.7 * smoothstep(lid_off * 0.5, low_off, d)  # keep the eyes themselves calmer
    out[5, ..., 0] = -0.07 * s * np.tanh((gx - mid_x) / (0.15 * s)) * inner * protect
    out[5, ..., 1] = 0.11 * s * inner * protect
    inner_sad = _gauss(gx, gy, inner_r[0] - 0.05 * s, inner_r[1], 0.28 * s, 0.28 * s) + _gauss(
        gx, gy, inner_l[0] + 0.05 * s, inner_l[1], 0.28 * s, 0.28 * s
    )
    outer_ends = _gauss(gx, gy, outer_r[0], outer_r[1], 0.25 * s, 0.25 * s) + _gauss(
        gx, gy, outer_l[0], outer_l[1], 0.25 * s, 0.25 * s
    )
    lids_still = 1.0 - smoothstep(0.1 * lid_off, lid_off, d)  # sad brows rise, the upper lids do not
    out[6, ..., 1] = (-0.12 * s * inner_sad + 0.025 * s * outer_ends) * protect * lids_still
    # eyes wide (+) / narrowed (-): vertical stretch about each eye's centre
    for eye in (lm[EYE_RIGHT], lm[EYE_LEFT]):
        c = eye.mean(0)
        ew = max(2.0, float(np.hypot(*(eye[3] - eye[0]))))
        eh = max(1.0, float(eye[:, 1].max() - eye[:, 1].min()))
        out[7, ..., 1] += 0.25 * (gy - c[1]) * _gauss(gx, gy, c[0], c[1], 0.7 * ew, 1.8 * eh)
    return (-out).astype(np.float32)  # backward offsets


def _blink_field(lm_eye: np.ndarray, brow: np.ndarray, box: np.ndarray, level: float) -> np.ndarray:
    """Exact backward field (vertical) of one eye ``level`` (0..1) of the way closed.

    The lids meet on a line most of the way down the eye (``LIDS_MEET``): the upper lid's skin
    between brow and lashes slides and stretches down to it, keeping its thin lash line at the
    margin, and the lower lid rises the rest of the way, so a closed eye is skin with a nearly flat
    lash line from corner to corner rather than the curve of the open lid pulled into a U.
    """
    x0, y0, x1, y1 = (int(v) for v in box)
    # an eye's six points run from its image-left corner (0) over the upper lid to the other corner (3)
    # and back under the lower lid
    upper = lm_eye[[0, 1, 2, 3]]
    lower = lm_eye[[0, 5, 4, 3]]
    xs = np.arange(x0, x1, dtype=np.float64)
    # lids are smooth arcs: a parabola through each lid's four points (landmarks are a pixel or two
    # off on a small face, and a polyline through them gives a closed lid kinks), held beyond the corners
    xc = np.clip(xs, lm_eye[0, 0], lm_eye[3, 0])
    up = np.polyval(np.polyfit(upper[:, 0], upper[:, 1], 2), xc)
    low = np.polyval(np.polyfit(lower[:, 0], lower[:, 1], 2), xc)
    eh = max(1.0, float((lower[1:3, 1] - upper[1:3, 1]).mean()))
    ew = max(2.0, float(lm_eye[3, 0] - lm_eye[0, 0]))
    t = (xs - lm_eye[0, 0]) / ew
    # the lids reach a little past the corner points (landmarks sit inside the visible eye), softly
    inside = smoothstep(-0.15, 0.1, t) * smoothstep(-0.15, 0.1, 1.0 - t)
    low = low + 0.1 * eh  # the lower lid's margin sits a little below its landmarks
    meet = up + LIDS_MEET * (low - up)
    brow_y = _interp_curve(xs, brow)
    top = up - 0.65 * np.maximum(2.0, up - brow_y)  # upper lid skin stretched from here down
    bottom = low + 0.8 * eh  # lower lid skin stretched from here up
    lash = 0.15 * eh  # the lash line: thin, not a dark band
    lid = up + level * (meet - up) * inside  # where the upper lid's margin ends up
    lid_low = low - level * (low - meet) * inside  # ... and the lower lid's
    rows = np.arange(y0, y1, dtype=np.float64)[:, None]
    skin_end_out = lid - lash
    skin_end_src = up - lash
    skin = top + (rows - top) * (skin_end_src - top) / np.maximum(skin_end_out - top, 1e-3)
    band = skin_end_src + (rows - skin_end_out)
    src_up = np.where(rows < skin_end_out, skin, band)
    src_low = low + (rows - lid_low) * (bottom - low) / np.maximum(bottom - lid_low, 1e-3)
    # a pixel row is lid once the margin passes its middle (a partial shift would show whatever lies
    # between, the dark of the eye, as dots along the lid)
    d = np.where((rows >= top) & (rows <= lid), src_up - rows, 0.0)
    d = np.where((rows > lid) & (rows >= lid_low) & (rows <= bottom), src_low - rows, d)
    return d.astype(np.float32)


def _head_fields(lm: np.ndarray, gx: np.ndarray, gy: np.ndarray, s: float) -> tuple[np.ndarray, tuple]:
    jaw_w = float(lm[JAW_LEFT, 0] - lm[JAW_RIGHT, 0])
    brow_y = float(lm[BROWS, 1].mean())
    chin_y = float(lm[CHIN, 1])
    fh = max(4.0, chin_y - brow_y)
    hx, hy = float(0.5 * (lm[JAW_RIGHT, 0] + lm[JAW_LEFT, 0])), brow_y + 0.3 * fh
    a, b_top, b_bot = 0.68 * jaw_w, 1.2 * fh, 0.75 * fh
    w = _head_weight(gx, gy, hx, hy, a, b_top, b_bot)
    px, py = hx, chin_y + 0.35 * fh
    out = np.zeros((len(HEAD),) + gx.shape + (2,), np.float64)
    out[0, ..., 0] = -(gy - py) * w
    out[0, ..., 1] = (gx - px) * w
    out[1, ..., 0] = s * w
    out[2, ..., 1] = s * w
    top = brow_y - 0.5 * fh
    out[3, ..., 1] = 0.15 * s * w * np.clip(1 - (gy - top) / (1.8 * fh), 0, 1)
    nose = lm[NOSE_TIP]
    out[4, ..., 0] = s * w * (0.3 + 0.7 * _gauss(gx, gy, nose[0], nose[1], 0.45 * jaw_w, 0.55 * fh))
    return (-out).astype(np.float32), (hx, hy, a, b_top, b_bot)


def _head_weight(gx, gy, hx, hy, a, b_top, b_bot):
    dy = gy - hy
    r = np.sqrt(((gx - hx) / a) ** 2 + (dy / np.where(dy < 0, b_top, b_bot)) ** 2)
    return 1.0 - smoothstep(1.0, 1.45, r)


# ---------------------------------------------------------------- colours


def _photo_teeth(base: np.ndarray, seen) -> np.ndarray | None:
    """Median colour of the teeth the photo shows between its parted lips (``seen``, from
    ``_teeth_rows``), or None."""
    if seen is None:
        return None
    cols, tops, bots = seen
    h = base.shape[0]
    pix = []
    for x, a, b in zip(cols.astype(int), np.ceil(tops).astype(int), np.floor(bots).astype(int)):
        if b > a and 0 <= x < base.shape[1]:
            pix.append(base[max(0, a) : min(h, b + 1), x])
    if not pix:
        return None
    pix = np.vstack(pix).astype(np.float64)
    luma = pix @ [0.299, 0.587, 0.114]
    chroma = pix.max(1) - pix.min(1)
    bright = pix[(luma >= np.percentile(luma, 50)) & (chroma < 0.35 * np.maximum(luma, 1.0))]
    return np.median(bright, axis=0) if len(bright) >= 8 else None


def _colours(base: np.ndarray, lm: np.ndarray, photo_teeth: np.ndarray | None = None) -> np.ndarray:
    """Reference colours (``COLOUR_NAMES``) for the inside of the mouth, from the photo."""
    h, w = base.shape[:2]
    lips = np.zeros((h, w), np.uint8)
    cv2.fillPoly(lips, [np.round(lm[MOUTH_OUTER]).astype(np.int32)], 1)
    cv2.fillPoly(lips, [np.round(lm[MOUTH_INNER]).astype(np.int32)], 0)  # not the teeth of a parted mouth
    cv2.polylines(lips, [np.round(lm[MOUTH_OUTER]).astype(np.int32)], True, 0, 1)
    sel = base[lips > 0]
    lip = np.median(sel, axis=0) if len(sel) > 10 else np.array([170.0, 90.0, 90.0])
    eye_y = lm[EYES, 1].mean()
    patches = []
    for x in (lm[[NOSTRIL_RIGHT, CHEEK_RIGHT]].mean(0)[0], lm[[NOSTRIL_LEFT, CHEEK_LEFT]].mean(0)[0]):
        y = 0.5 * (eye_y + lm[NOSE_BASE, 1]) + 0.1 * (lm[NOSE_BASE, 1] - eye_y)
        r = max(2, int(0.08 * (lm[JAW_LEFT, 0] - lm[JAW_RIGHT, 0])))
        xi, yi = int(np.clip(x, r, w - r - 1)), int(np.clip(y, r, h - r - 1))
        patches.append(base[yi - r : yi + r, xi - r : xi + r].reshape(-1, 3))
    skin = np.median(np.vstack(patches), axis=0)
    lip = np.asarray(lip, np.float64)
    luma = float(skin @ [0.299, 0.587, 0.114])
    if photo_teeth is not None:
        # the photo's teeth in a smile get more light than inside a speaking mouth
        teeth = np.asarray(photo_teeth, np.float64) * 0.9
    else:
        # ivory a little darker than the cheek: teeth sit in the mouth's shadow
        teeth = np.array([1.04, 1.0, 0.9]) * float(np.clip(0.95 * luma, 100.0, 200.0))
    cavity = lip * np.array([0.42, 0.2, 0.2])
    tongue = lip * np.array([0.85, 0.45, 0.45])
    return np.stack([cavity, teeth, tongue, lip, skin]).astype(np.float32)


# ---------------------------------------------------------------- the rig


def prepare_rig(image: np.ndarray, landmarks: np.ndarray, width: int, height: int, crop_expand: float) -> Rig:
    """Frame the portrait and precompute every field for a ``width`` x ``height`` output."""
    if image is None or image.ndim != 3 or image.shape[2] < 3:
        raise ValueError("the portrait must be an RGB image (height, width, 3)")
    lm_in = np.asarray(landmarks, np.float32)
    if lm_in.shape != (68, 2) or not np.isfinite(lm_in).all():
        raise ValueError("the portrait needs 68 face landmarks (iBUG layout) in pixels")
    width, height = int(width), int(height)
    base, lm = frame_portrait(image, lm_in, width, height, crop_expand)
    lm_open = lm.astype(np.float64)
    seen = _teeth_rows(base, lm_open, mouth_px(lm_open))  # one scan serves both uses
    photo_teeth = _photo_teeth(base, seen)
    lm64 = lm_open
    # a crease between closed lips also reads as "not lip": parted only when the landmarks agree
    inner_gap = float(np.mean(lm64[INNER_LIP_BOTTOM, 1] - lm64[INNER_LIP_TOP, 1])) / _Mouth(lm64).width
    gap = _lip_gap(lm64, seen if inner_gap > PARTED_LANDMARKS else None)
    parted = inner_gap > PARTED_LANDMARKS and gap.widest() > PARTED_PX
    # the jaw opens below the photo's own teeth: split at the lower lip's inner edge when parted
    m = _Mouth(lm64, gap.bottom_pts if parted else None)
    eye_r, eye_l = lm64[EYE_RIGHT].mean(0), lm64[EYE_LEFT].mean(0)
    s = float(np.hypot(*(eye_l - eye_r)))
    px = max(1.0, m.width / 45.0)

    # face box: brows (raised) to below the chin, cheek to cheek and a little beyond (the jaw's sides move)
    fh = float(lm64[CHIN, 1] - lm64[BROWS, 1].mean())
    face_box = _box(
        lm64[:, 0].min() - 0.3 * s,
        lm64[BROWS, 1].min() - 0.75 * s,
        lm64[:, 0].max() + 0.3 * s,
        lm64[CHIN, 1] + 1.4 * m.chin_v,
        width,
        height,
        STEP,
    )
    gx, gy = _low_grid(face_box, STEP)
    outer = _outer_fields(lm64, m, gx, gy)
    # fade to zero at the box edge (seamless paste)
    outer *= _edge_fade(gx.shape, 2)[None, ..., None]

    mouth_box = _mouth_box(m, width, height)
    mouth_box = np.array(
        [
            max(mouth_box[0], face_box[0]),
            max(mouth_box[1], face_box[1]),
            min(mouth_box[2], face_box[2]),
            min(mouth_box[3], face_box[3]),
        ],
        np.int32,
    )
    # share of each opening taken by the upper lip; a photo's own teeth stay put with the upper jaw
    jaw_up, round_up = (0.0, 0.1) if parted else (0.15, 0.35)
    smile = photo_smile(lm64)
    mw = m.width * (1.0 - 0.25 * smile)  # a smile stretches the mouth: openings scale with its relaxed width
    inner = []
    for kind, total, share in (
        ("jaw", 0.5 * JAW_GAP, jaw_up),
        ("jaw", JAW_GAP, jaw_up),
        ("round", ROUND_GAP, round_up),
        ("raise", UPPER_RAISE, 1.0),
    ):
        amount = total * mw
        up, lo = _opening_motion(m, share * amount, (1 - share) * amount, kind)
        inner.append(_vertical_field(mouth_box, m.line, up, lo))
    inner.append(_press_field(mouth_box, gap) if parted else np.zeros_like(inner[0]))
    inner = np.stack(inner) * _edge_fade(inner[0].shape, 3)[None]

    cols_x = np.linspace(lm64[MOUTH_CORNER_RIGHT, 0], lm64[MOUTH_CORNER_LEFT, 0], N_COLS)
    cols_u = m.u(cols_x)
    open_, round_, raise_ = _lip_profiles(cols_u)
    cols_top = np.stack([jaw_up * JAW_GAP * mw * open_, round_up * ROUND_GAP * mw * round_, UPPER_RAISE * mw * raise_])
    cols_bot = np.stack(
        [(1 - jaw_up) * JAW_GAP * mw * open_, (1 - round_up) * ROUND_GAP * mw * round_, np.zeros_like(raise_)]
    )

    eye_boxes, eye_basis = [], []
    for sl, brow in ((EYE_RIGHT, BROW_RIGHT), (EYE_LEFT, BROW_LEFT)):
        e = lm64[sl]
        b = lm64[brow]
        box = _box(
            e[:, 0].min() - 0.15 * s,
            min(b[:, 1].min(), e[:, 1].min() - 0.3 * s) - 2,
            e[:, 0].max() + 0.15 * s,
            e[:, 1].max() + 0.2 * s + 2,
            width,
            height,
        )
        box = np.array(
            [max(box[0], face_box[0]), max(box[1], face_box[1]), min(box[2], face_box[2]), min(box[3], face_box[3])],
            np.int32,
        )
        eye_boxes.append(box)
        eye_basis.append(np.stack([_blink_field(e, b, box, lv) for lv in BLINK_LEVELS]))

    # head: an ellipse around face and hair, fading over the neck and background
    head_probe_x, head_probe_y = np.meshgrid(np.arange(0, width, 4.0), np.arange(0, height, 4.0))
    _, ell = _head_fields(lm64, head_probe_x[:1, :1], head_probe_y[:1, :1], s)
    hx, hy, a, bt, bb = ell
    head_box = _box(hx - 1.47 * a, hy - 1.47 * bt, hx + 1.47 * a, hy + 1.47 * bb, width, height, STEP)
    hgx, hgy = _low_grid(head_box, STEP)
    head, _ = _head_fields(lm64, hgx, hgy, s)
    head *= _edge_fade(hgx.shape, 1)[None, ..., None]

    return Rig(
        width=width,
        height=height,
        step=STEP,
        base=base,
        landmarks=lm.astype(np.float32),
        face_box=face_box,
        outer_basis=np.ascontiguousarray(outer, np.float32),
        mouth_box=mouth_box,
        inner_basis=np.ascontiguousarray(inner, np.float32),
        eye_boxes=np.stack(eye_boxes).astype(np.int32),
        eye_basis_0=eye_basis[0].astype(np.float32),
        eye_basis_1=eye_basis[1].astype(np.float32),
        head_box=head_box,
        head_basis=np.ascontiguousarray(head, np.float32),
        cols_x=cols_x.astype(np.float32),
        cols_line=m.line(cols_x).astype(np.float32),
        cols_u=cols_u.astype(np.float32),
        cols_top=cols_top.astype(np.float32),
        cols_bot=cols_bot.astype(np.float32),
        colours=_colours(base, lm64, photo_teeth),
        metrics=np.array([m.width, s, px, fh, smile, float(parted)], np.float32),
    )


def _edge_fade(shape: tuple[int, int], n: int) -> np.ndarray:
    """1 inside, ramping to 0 over ``n`` samples at the border."""
    h, w = shape
    fy = np.clip(np.minimum(np.arange(h), np.arange(h)[::-1]) / max(1, n), 0, 1)
    fx = np.clip(np.minimum(np.arange(w), np.arange(w)[::-1]) / max(1, n), 0, 1)
    return (fy[:, None] * fx[None, :]).astype(np.float32)
