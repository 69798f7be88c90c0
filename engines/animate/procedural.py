"""Embedded default animator: a procedural 2.5-D talking head (no neural network).

``prepare`` frames the portrait and precomputes displacement fields (see ``procedural_rig``);
``track`` turns phonemes (or audio), emotion spans and settings into per-frame controls
(see ``visemes`` and ``motion``; ``settle_edges`` brings the head to rest where a chunk of a
longer video starts and ends); ``frames`` sums the face's fields, composes them with the head's
smooth warp into one set of maps and resamples the photo once per frame (bicubic ``cv2.remap``: a
second resampling would visibly soften a small face), then paints the inside of the mouth (dark
cavity, a hint of tongue, teeth only when wide open and only where the photo has none of its own;
see ``_MouthPainter``) into the gap that opens, where the head has taken it. With all controls at 0
a frame is the framed photo itself. Vectorised: a few milliseconds per 512x512 frame on one core
(``bench/bench_animate.py``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from engines.animate.base import AnimationSettings, Animator, EmotionSpan, Notices
from engines.animate.motion import CONTROLS, INDEX, blink_curve, emotion_controls, head_motion
from engines.animate.procedural_rig import (
    HEAD,
    LOWER_TEETH,
    OUTER,
    UPPER_TEETH_BELOW_LINE,
    Rig,
    prepare_rig,
    smoothstep,
)
from engines.animate.sync_check import measure_mouth_opening
from engines.animate.visemes import (
    clean_phonemes,
    frame_loudness,
    mouth_from_audio,
    mouth_from_phonemes,
    press_from_mouth,
    press_from_phonemes,
    relax_between_words,
    stressed_times,
)
from engines.registry import register
from engines.timing import PhonemeTiming

# how far the lips lead the sound heard while a frame is on screen (the middle of its interval): none.
# Measured on exported MP4s, the mouth then follows the loudness best at lag 0; a 40 ms lead (tried)
# put every m, b, p a frame early, shut while the vowel before it still sounded.
LIP_LEAD_S = 0.0
LOUDNESS_FLOOR = 0.3  # mouth opening scale for the quietest speech when audio is known
LOUDNESS_MIX = 0.85  # share of the jaw drop taken straight from the loudness when audio is known
EDGE_S = 0.4  # head motion eases to its rest pose over this time at each chunk edge


@dataclass
class ProceduralTrack:
    """Per-frame controls ``(n_frames, len(CONTROLS))``; column names in ``CONTROLS``."""

    fps: int
    controls: np.ndarray
    names: tuple[str, ...] = field(default=CONTROLS)
    # the head pose each frame's emotion holds (head columns of ``controls``, same shape; None: rest
    # is 0): chunk edges settle to it, so a sad head stays lowered across sentences
    rest: np.ndarray | None = None

    @property
    def n_frames(self) -> int:
        return int(self.controls.shape[0])

    def channel(self, name: str) -> np.ndarray:
        """One control over all frames."""
        return self.controls[:, self.names.index(name)]

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"fps": np.asarray(self.fps), "controls": self.controls, "names": np.asarray(self.names)}

    @classmethod
    def from_arrays(cls, d) -> ProceduralTrack:
        return cls(
            fps=int(d["fps"]), controls=np.asarray(d["controls"], np.float32), names=tuple(str(n) for n in d["names"])
        )

    def settle_edges(self, start: int, stop: int, fps: int) -> None:
        """Make frames ``start..stop-1`` join their neighbours smoothly (in place): head at its rest
        pose on the first and last frame, easing over ``EDGE_S`` seconds, and no blink cut in half.

        The rest pose is the emotion's (``rest``), which neighbouring chunks agree on at their
        shared edge; only the sway, nods and breathing around it are settled."""
        if stop - start < 2:
            return
        names = list(self.names)
        n = stop - start
        x = np.arange(n, dtype=np.float32) / (n - 1)
        w = x * x * (3 - 2 * x)  # smoothstep 0..1 across the chunk
        edge = max(1, int(round(EDGE_S * fps)))
        for i, name in enumerate(names):
            if not name.startswith("head_"):
                continue
            seg = self.controls[start:stop, i]
            pose = self.rest[start:stop, i] if self.rest is not None else np.zeros(n, np.float32)
            seg -= pose  # settle only the motion around the emotion's pose
            seg -= (1 - w) * seg[0] + w * seg[-1]  # pinned to rest at both edges, motion kept inside
            ease = np.ones(n, np.float32)
            ramp = np.linspace(0.0, 1.0, min(edge, n // 2) + 1, dtype=np.float32)[1:]
            ease[: len(ramp)] = ramp
            ease[n - len(ramp) :] = np.minimum(ease[n - len(ramp) :], ramp[::-1])
            seg *= ease
            seg += pose
        if "blink" in names:
            b = self.controls[start:stop, names.index("blink")]
            for edge_idx in (0, n - 1):
                if b[edge_idx] <= 1e-4:
                    continue
                step = 1 if edge_idx == 0 else -1
                k = edge_idx
                while 0 <= k < n and b[k] > 1e-4:  # remove the whole blink that the edge would cut
                    b[k] = 0.0
                    k += step


@register("animate", "procedural")
class ProceduralAnimator(Animator):
    """Landmark-driven warp animator: visemes, inner mouth and teeth, blinks, head motion, emotion.

    It never falls back or drops anything, so it has nothing to add to a render's notices.
    """

    name = "procedural"

    def __init__(self, **_: object):
        self._renderers: dict[int, _Renderer] = {}

    # ------------------------------------------------------------------ rig

    def prepare(
        self,
        image: np.ndarray,
        landmarks: np.ndarray,
        width: int,
        height: int,
        settings: AnimationSettings | None = None,
        *,
        notices: Notices | None = None,
    ) -> Rig:
        """Rig for ``width`` x ``height`` output frames (pixels) from an RGB uint8 portrait and its
        68 landmarks (pixels)."""
        settings = AnimationSettings.of(settings).clamped()
        return prepare_rig(image, landmarks, width, height, settings.crop_expand)

    def rig_to_arrays(self, rig: Rig) -> dict[str, np.ndarray]:
        """``rig.to_arrays()``: plain arrays for an ``.npz``."""
        return rig.to_arrays()

    @staticmethod
    def rig_from_arrays(d, *, notices: Notices | None = None) -> Rig:
        """A rig back from ``rig.to_arrays()`` (e.g. a loaded ``.npz``); ValueError when made by another version."""
        return Rig.from_arrays(d)

    # ------------------------------------------------------------------ track

    def track(
        self,
        *,
        duration: float,
        fps: int,
        phonemes: Sequence[PhonemeTiming] | None,
        audio: np.ndarray | None,
        sample_rate: int | None,
        emotions: Sequence[EmotionSpan] = (),
        settings: AnimationSettings | None = None,
        notices: Notices | None = None,
    ) -> ProceduralTrack:
        """Per-frame controls for ``duration`` seconds at ``fps`` frames per second.

        Mouth from ``phonemes`` when given, else from ``audio`` (mono float32 at ``sample_rate`` Hz).
        """
        settings = AnimationSettings.of(settings).effective()
        n = max(0, int(round(float(duration) * fps)))
        shift = 0.5 / fps + LIP_LEAD_S - float(settings.av_offset_ms) / 1000.0
        controls = np.zeros((n, len(CONTROLS)), np.float32)
        activity = None
        nods: list[float] = []
        if phonemes:
            mouth = mouth_from_phonemes(phonemes, n, fps, shift, settings.smoothing)
            level = None
            if audio is not None and sample_rate and np.size(audio):
                db, _ = frame_loudness(audio, int(sample_rate), n, fps, shift_s=shift, window_s=1.0 / fps)
                level = np.clip((db - (np.percentile(db, 95) - 30.0)) / 30.0, 0.0, 1.0)
            # with the sound known, each m, b, p shuts the lips on its quietest frame (a closure is the
            # silent moment of the sound)
            press = press_from_phonemes(phonemes, n, fps, shift, level)
            if level is not None:
                # between words the lips of a smile relax towards each other
                press = np.maximum(press, relax_between_words(level, fps))
                # louder syllables open wider: scale the viseme shapes by the speech level
                mouth[:, :3] *= (LOUDNESS_FLOOR + (1.25 - LOUDNESS_FLOOR) * level)[:, None]
                # the jaw also follows the voice's own loudness between the phoneme targets (a louder
                # syllable is a wider one even where the phoneme table says little)
                mouth[:, 0] = (1.0 - LOUDNESS_MIX) * mouth[:, 0] + LOUDNESS_MIX * 0.7 * level
                mouth[:, :3] *= (1.0 - press)[:, None]  # but m, b, p stay shut, however loud
            nods = stressed_times(clean_phonemes(phonemes))
            activity = np.clip(mouth[:, 0] * 2.0, 0, 1)
        elif audio is not None and sample_rate:
            mouth = mouth_from_audio(audio, int(sample_rate), n, fps, shift, settings.smoothing)
            activity = np.clip(mouth[:, 0] * 2.0, 0, 1)
            nods = _loudness_peaks(audio, int(sample_rate), n, fps)
            press = press_from_mouth(mouth, fps)
        else:
            mouth = np.zeros((n, 4), np.float32)
            press = np.zeros(n, np.float32)
        amp = max(0.0, float(settings.lip_amplitude))
        mouth = mouth.copy()
        closed = mouth[:, 0] + mouth[:, 1] + mouth[:, 2] <= 1e-6  # keep forced closures closed
        mouth[:, :3] *= amp
        mouth[:, 3] *= min(1.5, 0.5 + 0.5 * amp)
        controls[:, :4] = mouth
        controls[:, INDEX["lip_press"]] = press * min(1.0, amp)  # no lip motion asked: the photo's lips stay
        emotion = emotion_controls(emotions, n, fps, settings)
        controls += emotion
        controls[closed, :3] = np.minimum(controls[closed, :3], 0.0)
        controls[:, INDEX["blink"]] = np.maximum(controls[:, INDEX["blink"]], blink_curve(n, fps, settings))
        head = head_motion(n, fps, settings, nods, activity)
        for i, name in enumerate(HEAD):
            controls[:, INDEX[name]] += head[:, i]
        controls[:, :3] = np.clip(controls[:, :3], 0.0, 1.3)
        controls[:, INDEX["blink"]] = np.clip(controls[:, INDEX["blink"]], 0.0, 1.0)
        controls[:, INDEX["lip_press"]] = np.clip(controls[:, INDEX["lip_press"]], 0.0, 1.0)
        rest = np.zeros_like(controls)
        rest[:, [INDEX[name] for name in HEAD]] = emotion[:, [INDEX[name] for name in HEAD]]
        return ProceduralTrack(fps=int(fps), controls=controls.astype(np.float32), rest=rest)

    def settle_edges(self, track: ProceduralTrack, start: int, stop: int, fps: int) -> None:
        """See :meth:`ProceduralTrack.settle_edges`."""
        track.settle_edges(start, stop, fps)

    # ------------------------------------------------------------------ frames

    def frames(
        self,
        rig: Rig,
        track: ProceduralTrack,
        start: int = 0,
        stop: int | None = None,
        *,
        notices: Notices | None = None,
    ) -> Iterator[np.ndarray]:
        """RGB uint8 frames ``(height, width, 3)`` for frame indices ``start .. stop-1``."""
        stop = track.n_frames if stop is None else min(int(stop), track.n_frames)
        renderer = self._renderer(rig)
        for k in range(max(0, int(start)), stop):
            yield renderer.render(track.controls[k])

    def mouth_opening(self, rig: Rig, frame: np.ndarray) -> float:
        """See :func:`engines.animate.sync_check.measure_mouth_opening` (pixels)."""
        return measure_mouth_opening(rig, frame)

    def render_controls(self, rig: Rig, controls: dict[str, float]) -> np.ndarray:
        """One frame for named control values (others 0); handy for previews and tests."""
        c = np.zeros(len(CONTROLS), np.float32)
        for k, v in controls.items():
            c[INDEX[k]] = v
        return self._renderer(rig).render(c)

    def _renderer(self, rig: Rig) -> _Renderer:
        key = id(rig)
        r = self._renderers.get(key)
        if r is None or r.rig is not rig:
            if len(self._renderers) > 4:
                self._renderers.clear()
            r = self._renderers[key] = _Renderer(rig)
        return r


def _loudness_peaks(audio: np.ndarray, sample_rate: int, n: int, fps: int) -> list[float]:
    """Times (s) of loudness onsets, used as nod moments when only audio is known."""
    if n < 3:
        return []
    db, _ = frame_loudness(audio, sample_rate, n, fps)
    ref = np.percentile(db, 95)
    env = np.clip((db - (ref - 30)) / 30, 0, 1)
    rise = np.diff(env, prepend=env[0])
    idx = np.flatnonzero((rise > 0.12) & (env > 0.6))
    return [float(k / fps) for k in idx]


def _sample(plane: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples of a 2-D array at float pixel positions (clamped)."""
    h, w = plane.shape
    x = np.clip(x, 0, w - 1.001)
    y = np.clip(y, 0, h - 1.001)
    x0 = x.astype(np.int32)
    y0 = y.astype(np.int32)
    fx = x - x0
    fy = y - y0
    a = plane[y0, x0] * (1 - fx) + plane[y0, x0 + 1] * fx
    b = plane[y0 + 1, x0] * (1 - fx) + plane[y0 + 1, x0 + 1] * fx
    return a * (1 - fy) + b * fy


def _unwarp(mx: np.ndarray, my: np.ndarray, origin, points: np.ndarray) -> np.ndarray:
    """Where the warp with absolute source maps ``mx``, ``my`` (over a box whose top-left pixel is
    ``origin``) shows the source ``points`` ``(N, 2)``: solve ``map(q) = p`` by fixed-point iteration."""
    ox, oy = origin
    p = np.asarray(points, np.float32)
    q = p.copy()
    for _ in range(3):
        lx, ly = q[:, 0] - ox, q[:, 1] - oy
        q = p - np.stack([_sample(mx, lx, ly) - q[:, 0], _sample(my, lx, ly) - q[:, 1]], 1)
    return q


class _SmoothWarp:
    """A quarter-resolution field plus the pixel grid, upsampled straight into absolute remap maps.

    The grid is part of the low-resolution sum (bilinear upsampling keeps a linear ramp exact), and
    one extra sample on each side keeps ``cv2.resize``'s clamped borders out of the used area, so a
    frame costs one small matrix-vector product and two resizes.
    """

    def __init__(self, basis: np.ndarray, box: np.ndarray, step: int):
        k, hl, wl, _ = basis.shape
        self.step = step
        self.box = [int(v) for v in box]
        self.shape = (hl + 2, wl + 2)
        b = np.zeros((k, 2, hl + 2, wl + 2), np.float32)
        b[:, :, 1:-1, 1:-1] = basis.transpose(0, 3, 1, 2)
        self.basis = b.reshape(k, -1)
        x0, y0 = self.box[0], self.box[1]
        xs = x0 + (np.arange(-1, wl + 1) + 0.5) * step - 0.5
        ys = y0 + (np.arange(-1, hl + 1) + 0.5) * step - 0.5
        gx, gy = np.meshgrid(xs.astype(np.float32), ys.astype(np.float32))
        self.grid = np.stack([gx, gy]).reshape(-1)
        self.full = ((wl + 2) * step, (hl + 2) * step)
        self.bx = np.empty(self.full[::-1], np.float32)
        self.by = np.empty(self.full[::-1], np.float32)

    def maps(self, coef: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Absolute source maps (views) over the box for control weights ``coef``."""
        low = coef @ self.basis
        low += self.grid
        low = low.reshape((2,) + self.shape)
        cv2.resize(low[0], self.full, dst=self.bx, interpolation=cv2.INTER_LINEAR)
        cv2.resize(low[1], self.full, dst=self.by, interpolation=cv2.INTER_LINEAR)
        s = self.step
        return self.bx[s:-s, s:-s], self.by[s:-s, s:-s]


class _MouthPainter:
    """The inside of an open mouth, painted per frame in layers and softened to match the photo.

    Back to front: a dark cavity, a little lighter and redder just inside the lips (the wet inner
    lip) and darker towards the corners; a tongue low in the mouth once it opens; the lower incisors,
    in shadow, only when the jaw is well down; the upper incisors, whose edge is fixed to the upper
    jaw (so they show as the upper lip lifts or the jaw drops) and which fade into the dark beside
    the canines. Colours come from the photo (its own teeth when it shows them), then the layers are
    blurred about as much as the photo was scaled up, with a fixed grain, so they do not look drawn.
    """

    SEAMS_U = (-0.6, -0.34, 0.0, 0.34, 0.6)  # gaps between incisors and canines, mouth half-widths

    def __init__(self, rig: Rig):
        cavity, teeth, tongue, lip, skin = (np.asarray(c, np.float32) for c in rig.colours[:5])
        self.mw = rig.mouth_width
        self.px = float(rig.metrics[2])
        self.cols_u = rig.cols_u.astype(np.float32)
        self.deep = cavity * 0.7
        self.rim = lip * 0.5
        self.lip_inside = lip * 0.8
        self.teeth = teeth
        self.tongue = tongue
        self.lower_h = LOWER_TEETH * self.mw
        self.blur = 0.45 * self.px
        self.grain = self._grain(rig.base, rig.landmarks)

    def _grain(self, base: np.ndarray, lm: np.ndarray) -> np.ndarray:
        """A fixed 128x128 multiplicative noise tile as strong as the fine texture of the cheek."""
        h, w = base.shape[:2]
        r = max(3, int(0.25 * self.mw))
        cx, cy = int(np.clip(lm[[31, 2]].mean(0)[0], r, w - r - 1)), int(np.clip(lm[[31, 2]].mean(0)[1], r, h - r - 1))
        patch = base[cy - r : cy + r, cx - r : cx + r].astype(np.float32).mean(axis=2)
        fine = patch - cv2.GaussianBlur(patch, (0, 0), 1.5 * self.px)
        amp = float(np.clip(fine.std(), 0.5, 6.0))
        rng = np.random.default_rng(12345)
        tile = cv2.GaussianBlur(rng.standard_normal((128, 128)).astype(np.float32), (0, 0), 0.5 * self.px)
        luma = max(40.0, float(patch.mean()))
        return (tile * (amp / luma / max(1e-6, float(tile.std())))).astype(np.float32)

    def paint(
        self,
        top_p: np.ndarray,
        bot_p: np.ndarray,
        ut_p: np.ndarray,
        jaw: float,
        bx0: int,
        by0: int,
        bx1: int,
        by1: int,
        upper_teeth: float = 1.0,
    ) -> np.ndarray:
        """Float RGB canvas for the box ``bx0..bx1`` x ``by0..by1`` (output pixels) given the lip
        gap's upper and lower edges and the upper incisors' edge (``(N_COLS, 2)`` each);
        ``upper_teeth`` (0..1) fades the drawn upper incisors in."""
        px, mw = self.px, self.mw
        gx = np.arange(bx0, bx1, dtype=np.float32)
        y = np.arange(by0, by1, dtype=np.float32)[:, None]
        xt = np.maximum.accumulate(top_p[:, 0])
        xb = np.maximum.accumulate(bot_p[:, 0])
        top = np.interp(gx, xt, top_p[:, 1])[None, :]
        bot = np.interp(gx, xb, bot_p[:, 1])[None, :]
        edge = np.interp(gx, np.maximum.accumulate(ut_p[:, 0]), ut_p[:, 1])[None, :]
        u = np.interp(gx, xt, self.cols_u)[None, :]
        au = np.abs(u)
        gap = np.maximum(bot - top, 0.0)
        corner = 1.0 - 0.6 * smoothstep(0.35, 0.95, au)

        # cavity: darkest deep inside, the wet inner lip just inside the edges
        dt, db = y - top, bot - y
        rim = np.exp(-np.maximum(np.minimum(dt, db), 0.0) / (0.8 * px + 0.06 * gap))
        col = self.deep * corner[..., None] + (self.rim - self.deep * corner[..., None]) * (0.8 * rim)[..., None]
        # where the lips barely part (the ends of the gap, a mouth just ajar) little light gets in, and
        # what shows is the inner lip rather than a dark line
        thin = np.exp(-gap / (1.2 * px))
        col += (self.lip_inside - col) * thin[..., None]
        light = 0.6 + 0.4 * float(smoothstep(0.03, 0.18, float(gap.max()) / mw))
        # tongue: a low mound behind the lower teeth, once the mouth is open enough to see it
        th = np.minimum(0.4 * gap, 0.11 * mw) * smoothstep(0.08, 0.2, gap / mw)
        t_top = bot - th * np.clip(1.0 - (au / 0.8) ** 2, 0.0, 1.0)
        a_t = np.clip((y - t_top) / (0.8 * px) + 0.5, 0.0, 1.0) * (th > 0.3)
        # its back (higher up) is in the dark, its front catches some light
        t_shade = 0.5 + 0.4 * smoothstep(0.0, 1.0, (y - t_top) / np.maximum(th, px))
        col += (self.tongue * (t_shade * corner)[..., None] - col) * a_t[..., None]
        # lower incisors: mostly behind the lower lip, a shadowed sliver when wide open
        hl = self.lower_h * float(smoothstep(0.7, 1.2, jaw)) * np.clip(1.0 - (au / 0.45) ** 2, 0.0, 1.0)
        a_l = 0.7 * np.clip((y - (bot - hl)) / (0.8 * px) + 0.5, 0.0, 1.0) * (hl > 0.3)
        col += (self.teeth * 0.42 - col) * a_l[..., None]
        # upper incisors: from the lip down to their fixed edge; shadowed under the lip and sideways
        vis = np.maximum(edge - top, 0.0)
        a_u = 0.95 * upper_teeth * np.clip((edge - y) / (0.6 * px) + 0.5, 0.0, 1.0) * (1.0 - smoothstep(0.5, 0.8, au))
        shade = 0.62 + 0.38 * smoothstep(0.0, 1.0, dt / np.maximum(1.5 * px, 0.6 * vis))
        shade = shade * (1.0 - 0.55 * smoothstep(0.15, 0.7, au))
        seams = np.zeros_like(au)
        half_w = 0.5 * mw
        for s in self.SEAMS_U:
            seams = np.maximum(seams, np.exp(-0.5 * ((u - s) * half_w / (0.45 * px)) ** 2))
        shade = shade * (1.0 - 0.12 * seams) * (1.0 - 0.12 * np.exp(-np.maximum(edge - y, 0.0) / (0.7 * px)))
        # shadows on teeth take the warm colour of the mouth around them, not grey
        t_col = self.rim * 0.6 + (self.teeth - self.rim * 0.6) * (light * shade)[..., None]
        col += (t_col - col) * (a_u * (1.0 - thin))[..., None]

        # grain anchored to the mouth (moves with it), then soften like the photo
        g0x = int(np.floor(top_p[len(top_p) // 2, 0])) - bx0
        g0y = int(np.floor(top_p[len(top_p) // 2, 1])) - by0
        hh, ww = col.shape[:2]
        iy = (np.arange(hh) - g0y) % 128
        ix = (np.arange(ww) - g0x) % 128
        col *= 1.0 + self.grain[iy[:, None], ix[None, :]][..., None]
        return cv2.GaussianBlur(col.astype(np.float32), (0, 0), self.blur)


class _Renderer:
    """Per-rig buffers (grids, flattened bases) so each frame is a few array ops."""

    def __init__(self, rig: Rig):
        self.rig = rig
        self.base = np.ascontiguousarray(rig.base)
        self.face = [int(v) for v in rig.face_box]
        self.face_warp = _SmoothWarp(rig.outer_basis, rig.face_box, int(rig.step))
        self.mouth = [int(v) for v in rig.mouth_box]
        self.inner = rig.inner_basis.reshape(len(rig.inner_basis), -1)
        self.inner_shape = rig.inner_basis.shape[1:]
        self.inner_frame = np.zeros(self.base.shape[:2], np.float32)
        self.mslice = (
            slice(self.mouth[1] - self.face[1], self.mouth[3] - self.face[1]),
            slice(self.mouth[0] - self.face[0], self.mouth[2] - self.face[0]),
        )
        self.eyes = []
        for box, basis in zip(rig.eye_boxes, (rig.eye_basis_0, rig.eye_basis_1)):
            x0, y0, x1, y1 = (int(v) for v in box)
            sl = (slice(y0 - self.face[1], y1 - self.face[1]), slice(x0 - self.face[0], x1 - self.face[0]))
            self.eyes.append((sl, basis))
        self.head = [int(v) for v in rig.head_box]
        self.head_warp = _SmoothWarp(rig.head_basis, rig.head_box, int(rig.step))
        # head motion and the face's own motion are composed into one set of maps over both boxes, so
        # the photo is resampled once per frame (twice visibly softens a small face)
        fx0, fy0, fx1, fy1 = self.face
        hx0, hy0, hx1, hy1 = self.head
        self.union = [min(fx0, hx0), min(fy0, hy0), max(fx1, hx1), max(fy1, hy1)]
        ux0, uy0, ux1, uy1 = self.union
        self.union_grid = np.meshgrid(np.arange(ux0, ux1, dtype=np.float32), np.arange(uy0, uy1, dtype=np.float32))
        self.face_grid = np.meshgrid(np.arange(fx0, fx1, dtype=np.float32), np.arange(fy0, fy1, dtype=np.float32))
        self.head_in_union = (slice(hy0 - uy0, hy1 - uy0), slice(hx0 - ux0, hx1 - ux0))
        self.face_in_union = (slice(fy0 - uy0, fy1 - uy0), slice(fx0 - ux0, fx1 - ux0))
        self.face_shift = np.zeros((fy1 - fy0, fx1 - fx0, 2), np.float32)
        # control index per face field; "pucker" reads the negative part of "width"
        self.outer_idx = [INDEX["width" if n == "pucker" else n] for n in OUTER]
        self.outer_sign = np.array([-1.0 if n == "pucker" else 1.0 for n in OUTER], np.float32)
        self.outer_clip = np.array([n in ("width", "pucker") for n in OUTER])
        self.head_idx = [INDEX[n] for n in HEAD]
        self.px = float(rig.metrics[2])
        self.tau_u = UPPER_TEETH_BELOW_LINE * rig.mouth_width
        self.painter = _MouthPainter(rig)
        self.parted = rig.lips_parted  # the photo's own upper teeth show: never draw any
        self.smiling = rig.photo_smile
        self.smile_i, self.down_i = OUTER.index("smile"), OUTER.index("corners_down")

    @staticmethod
    def _levels(x: float) -> tuple[float, float]:
        """Weights of the half and full exact fields for amount ``x`` (linear beyond 1)."""
        if x <= 0.5:
            return x / 0.5, 0.0
        wf = (x - 0.5) / 0.5
        return 1.0 - wf, wf

    def render(self, c: np.ndarray) -> np.ndarray:
        out = self.base.copy()
        fx0, fy0, fx1, fy1 = self.face
        oc = c[self.outer_idx].astype(np.float32) * self.outer_sign
        oc[self.outer_clip] = np.maximum(oc[self.outer_clip], 0.0)
        if self.smiling > 0.0:
            # expressions start from the photo's own: a smiling photo made happy smiles only a little
            # more, made sad its smile fades (the corners come down to level first)
            smile, down = float(oc[self.smile_i]), max(0.0, float(oc[self.down_i]))
            if smile > 0.0:
                oc[self.smile_i] = smile * (1.0 - 0.6 * self.smiling)
            oc[self.smile_i] -= 0.9 * self.smiling * down
            oc[self.down_i] = down * (1.0 - 0.5 * self.smiling)
        mapx, mapy = self.face_warp.maps(oc)
        blink = float(np.clip(c[INDEX["blink"]], 0, 1))
        if blink > 0.01:
            wh, wf = self._levels(blink)
            for sl, basis in self.eyes:
                mapy[sl] += wh * basis[0] + wf * basis[1]
        jaw = max(0.0, float(c[INDEX["jaw"]]))
        rnd = max(0.0, float(c[INDEX["jaw_round"]]))
        up = max(0.0, float(c[INDEX["upper_raise"]]))
        press = 0.0
        if self.parted:
            # m, b, p close the photo's parted lips; so, partly, does a smile fading (sad, angry)
            # while the jaw is up: speech parts them again
            down = float(np.clip(c[INDEX["corners_down"]], 0.0, 1.0))
            fading = 0.7 * down * max(self.smiling, 0.5) * max(0.0, 1.0 - float(c[INDEX["jaw"]]) / 0.3)
            press = float(np.clip(max(c[INDEX["lip_press"]], fading), 0.0, 1.0))
        mouth = None
        if jaw + rnd + up + press > 1e-3:
            # where the face warp puts the lip gap (before the mouth's own fields are added)
            mouth = self._mouth_outline(mapx[self.mslice], mapy[self.mslice], jaw, rnd, up)
            wh, wf = self._levels(jaw)
            ic = np.array([wh, wf, rnd, up, press], np.float32)
            mx0, my0, mx1, my1 = self.mouth
            self.inner_frame[my0:my1, mx0:mx1] = (ic @ self.inner).reshape(self.inner_shape)
            sub_y = mapy[self.mslice]
            sub_y += cv2.remap(
                self.inner_frame,
                mapx[self.mslice],
                sub_y,
                cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=0,
            )
        hc = c[self.head_idx].astype(np.float32)
        if np.abs(hc).max() > 1e-5:
            hmx, hmy = self.head_warp.maps(hc)
            # output pixel -> the head warp -> the face warp (its shift, zero outside the face box) -> photo
            ux, uy = self.union_grid[0].copy(), self.union_grid[1].copy()
            ux[self.head_in_union] = hmx
            uy[self.head_in_union] = hmy
            self.face_shift[..., 0] = mapx - self.face_grid[0]
            self.face_shift[..., 1] = mapy - self.face_grid[1]
            # the face's own fields fade out inside its box, so outside it the shift is zero; sampled at
            # the nearest pixel, since the lip and lid fields jump at the lip line and the lid margin and
            # a blend across a jump would show what they hide (teeth through pressed lips) as dots
            fu = self.face_in_union
            fmx, fmy = ux[fu] - fx0, uy[fu] - fy0
            shift = cv2.remap(self.face_shift, fmx, fmy, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT)
            ux[fu] += shift[..., 0]
            uy[fu] += shift[..., 1]
            ux0, uy0, ux1, uy1 = self.union
            out[uy0:uy1, ux0:ux1] = cv2.remap(self.base, ux, uy, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)
            if mouth is not None:
                mouth = _unwarp(hmx, hmy, self.head[:2], mouth.reshape(-1, 2)).reshape(mouth.shape)
        else:
            out[fy0:fy1, fx0:fx1] = cv2.remap(self.base, mapx, mapy, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)
        if mouth is not None:
            self._draw_mouth(out, mouth, jaw)
        return out

    # -------------------------------------------------------------- inside of the mouth

    def _mouth_outline(self, mx, my, jaw: float, rnd: float, up: float):
        """Output-frame outline of the lip gap (upper edge, lower edge) and of the upper incisors'
        edge, each ``(N_COLS, 2)``; None while the lips touch."""
        rig = self.rig
        coef = np.array([jaw, rnd, up], np.float32)
        line = rig.cols_line
        top = line - coef @ rig.cols_top
        bot = line + coef @ rig.cols_bot
        if float((bot - top).max()) < 0.4:
            return None
        # the upper incisors hang from the upper jaw: a fixed edge just below the closed lip line
        ut = line + self.tau_u
        xs = rig.cols_x
        pts = _unwarp(mx, my, self.mouth[:2], np.stack([np.concatenate([xs] * 3), np.concatenate([top, bot, ut])], 1))
        return pts.reshape(3, len(xs), 2)

    def _draw_mouth(self, out: np.ndarray, outline: np.ndarray, jaw: float) -> None:
        """Paint the inside of the mouth into the lip gap of ``out`` (in place)."""
        top_p, bot_p, ut_p = outline
        # drawn upper teeth only where the photo has none of its own, and only when the jaw is well down
        teeth = 0.0 if self.parted else float(smoothstep(0.45, 0.9, jaw))
        gap_poly = np.concatenate([top_p, bot_p[::-1]])
        h, w = out.shape[:2]
        pad = int(np.ceil(2 * self.px)) + 2
        bx0 = max(0, int(np.floor(gap_poly[:, 0].min())) - pad)
        by0 = max(0, int(np.floor(gap_poly[:, 1].min())) - pad)
        bx1 = min(w, int(np.ceil(gap_poly[:, 0].max())) + pad)
        by1 = min(h, int(np.ceil(gap_poly[:, 1].max())) + pad)
        if bx1 <= bx0 or by1 <= by0:
            return
        canvas = self.painter.paint(top_p, bot_p, ut_p, jaw, bx0, by0, bx1, by1, teeth)
        mask = np.zeros((by1 - by0, bx1 - bx0), np.uint8)
        o = np.array([bx0, by0], np.float32)
        cv2.fillPoly(mask, [np.round((gap_poly - o) * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
        m = cv2.GaussianBlur(mask, (0, 0), 0.5 * self.px).astype(np.float32) * (1.0 / 255.0)
        region = out[by0:by1, bx0:bx1].astype(np.float32)
        region += (canvas - region) * m[..., None]
        out[by0:by1, bx0:bx1] = np.clip(region + 0.5, 0, 255).astype(np.uint8)
