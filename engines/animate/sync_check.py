"""Lip-sync self-check: measure the mouth in rendered frames and compare it with the audio.

``measure_mouth_opening(rig, frame)`` looks only at the frame's pixels: in a box around the rest
mouth it counts, per column, the pixels whose colour is nearer the mouth's inside (dark cavity,
teeth, tongue) than the lips and skin, and returns the median count over the middle columns, in
pixels. Where the mouth is and what those colours are comes from a procedural rig or from a
:class:`MouthProbe` (e.g. made from any engine's still frame and its landmarks with
:meth:`MouthProbe.of_face`). ``sync_report`` correlates those openings with the audio loudness at
frame rate, finds the audio-video offset and flags stretches where they disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from engines.animate.visemes import frame_loudness

MAX_LAG_FRAMES = 5
MIN_FLAG_S = 0.3
MIN_CORRELATION = 0.6  # below this the mouth does not follow the voice well
TEETH_REFS = (0, 1, 2)  # indices of the lit teeth colours among the inside references


@dataclass(frozen=True)
class MouthProbe:
    """Where the resting mouth is in a frame and what its inside and surroundings look like."""

    centre_x: float  # pixels: halfway between the mouth corners
    line_y: float  # pixels: the closed lip line at the centre
    width: float  # pixels: corner to corner
    frame_size: tuple[int, int]  # (height, width) pixels
    colours: np.ndarray  # (5, 3) float32 RGB: cavity, teeth, tongue, lip, skin

    @classmethod
    def of(cls, rig: Any) -> MouthProbe:
        """``rig`` itself when it is a probe, else the probe of a procedural rig."""
        if isinstance(rig, MouthProbe):
            return rig
        xs = np.asarray(rig.cols_x, np.float64)
        return cls(
            centre_x=0.5 * (xs[0] + xs[-1]),
            line_y=float(np.asarray(rig.cols_line)[len(xs) // 2]),
            width=float(rig.metrics[0]),
            frame_size=tuple(rig.base.shape[:2]),
            colours=np.asarray(rig.colours[:5], np.float32),
        )

    @classmethod
    def of_face(cls, still: np.ndarray, landmarks: np.ndarray) -> MouthProbe:
        """The probe for frames framed like ``still`` (RGB uint8), whose face has the 68 ``landmarks``
        (pixels of ``still``). Lip and skin colours come from the still; the inside of the mouth is
        taken to be a shadowed version of the lips and teeth ivory as bright as the skin allows."""
        lm = np.asarray(landmarks, np.float64)
        h, w = still.shape[:2]
        lips = np.zeros((h, w), np.uint8)
        cv2.fillPoly(lips, [np.round(lm[48:60]).astype(np.int32)], 1)
        cv2.fillPoly(lips, [np.round(lm[60:68]).astype(np.int32)], 0)  # the lips, not what shows between them
        sel = still[lips > 0]
        lip = np.median(sel, axis=0) if len(sel) > 10 else np.array([170.0, 90.0, 90.0])
        r = max(2, int(0.08 * (lm[16, 0] - lm[0, 0])))
        y = 0.5 * (lm[36:48, 1].mean() + lm[33, 1]) + 0.1 * (lm[33, 1] - lm[36:48, 1].mean())
        patches = []
        for x in (lm[[31, 2]].mean(0)[0], lm[[35, 14]].mean(0)[0]):  # one patch on each cheek
            xi, yi = int(np.clip(x, r, w - r - 1)), int(np.clip(y, r, h - r - 1))
            patches.append(still[yi - r : yi + r, xi - r : xi + r].reshape(-1, 3))
        skin = np.median(np.vstack(patches), axis=0)
        lip = np.asarray(lip, np.float64)
        teeth = np.array([1.04, 1.0, 0.9]) * float(np.clip(0.95 * float(skin @ [0.299, 0.587, 0.114]), 100.0, 200.0))
        cavity = lip * np.array([0.3, 0.17, 0.17])
        tongue = lip * np.array([0.55, 0.36, 0.36])
        return cls(
            centre_x=float(0.5 * (lm[48, 0] + lm[54, 0])),
            line_y=float(0.5 * (lm[62, 1] + lm[66, 1])),
            width=float(max(4.0, np.hypot(*(lm[54] - lm[48])))),
            frame_size=(int(h), int(w)),
            colours=np.stack([cavity, teeth, tongue, lip, skin]).astype(np.float32),
        )


def _mouth_window(probe: MouthProbe) -> tuple[int, int, int, int]:
    mw, cx, line = probe.width, probe.centre_x, probe.line_y
    h, w = probe.frame_size
    x0 = int(max(0, np.floor(cx - 0.22 * mw)))
    x1 = int(min(w, np.ceil(cx + 0.22 * mw)))
    y0 = int(max(0, np.floor(line - 0.25 * mw)))
    y1 = int(min(h, np.ceil(line + 0.55 * mw)))
    return x0, y0, x1, y1


def _references(probe: MouthProbe) -> tuple[np.ndarray, np.ndarray]:
    cavity, teeth, tongue, lip, skin = (np.asarray(c, np.float32) for c in probe.colours[:5])
    # teeth first (see TEETH_REFS): as lit in the photo, as rendered, in shadow
    inside = np.stack(
        [
            np.minimum(teeth * 1.12, 255),
            teeth,
            teeth * 0.75,
            teeth * 0.55,
            cavity,
            cavity * 0.6,
            tongue,
            tongue * 0.6,
            lip * 0.42,
        ]
    )
    outside = np.stack(
        [
            lip,
            lip * 0.8,
            lip * 0.65,
            np.minimum(lip * 1.15, 255),
            skin,
            skin * 0.85,
            skin * 0.7,
            np.minimum(skin * 1.1, 255),
        ]
    )
    return inside, outside


def _classify(rig, frame: np.ndarray):
    probe = MouthProbe.of(rig)
    x0, y0, x1, y1 = _mouth_window(probe)
    patch = np.asarray(frame[y0:y1, x0:x1, :3], np.float32)
    inside, outside = _references(probe)
    refs = np.vstack([inside, outside])
    flat = patch.reshape(-1, 3)
    # squared distances |p - r|^2 = |r|^2 - 2 p.r (+ |p|^2, the same for every reference): one product
    nearest = ((refs * refs).sum(1)[None, :] - 2.0 * (flat @ refs.T)).argmin(1).reshape(patch.shape[:2])
    mask = nearest < len(inside)
    # keep only blobs reaching the band around the closed lip line: the mouth opens from there,
    # while bright skin or dark creases elsewhere in the window are not the mouth
    line = probe.line_y - y0
    band = max(2.0, 0.06 * probe.width)
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=4)
    r0, r1 = int(max(0, np.floor(line - band))), int(min(mask.shape[0], np.ceil(line + band)))
    keep = np.unique(labels[r0:r1])
    keep = keep[keep > 0]
    mask = np.isin(labels, keep)
    return mask, nearest, (x0, y0, x1, y1)


def interior_mask(rig, frame: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Boolean mask of mouth-inside pixels in the mouth window, and the window (x0, y0, x1, y1)."""
    mask, _, box = _classify(rig, frame)
    return mask, box


def teeth_mask(rig, frame: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Boolean mask of the mouth-inside pixels coloured like lit teeth, and the window (x0, y0, x1, y1)."""
    mask, nearest, box = _classify(rig, frame)
    return mask & np.isin(nearest, TEETH_REFS), box


def teeth_pixels(rig, frame: np.ndarray) -> int:
    """Number of pixels inside the mouth opening whose colour is nearest the rig's teeth colour."""
    return int(teeth_mask(rig, frame)[0].sum())


def measure_mouth_opening(rig, frame: np.ndarray) -> float:
    """Vertical inner-mouth opening (pixels) seen in an RGB ``frame`` rendered with ``rig`` (a
    procedural rig or a :class:`MouthProbe`).

    Per column of the middle of the mouth: the number of pixels coloured like the inside of a mouth
    (cavity, teeth, tongue) rather than lips or skin, in blobs reaching the closed lip line; the
    median over those columns.
    """
    mask, _, _ = _classify(rig, frame)
    if mask.size == 0:
        return 0.0
    return float(np.median(mask.sum(axis=0)))


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    d = np.diff(np.r_[0, flags.astype(np.int8), 0])
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or a.std() < 1e-9 or b.std() < 1e-9:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def sync_report(openings: np.ndarray, audio: np.ndarray, sample_rate: int, fps: float) -> dict[str, Any]:
    """Compare per-frame mouth openings (pixels) with the audio (mono, ``sample_rate`` Hz).

    Returns ``correlation`` (Pearson, opening vs loudness envelope at frame rate), ``offset_frames``
    (lag within +-5 frames at which they correlate best; positive = the mouth moves LATER than the
    sound, negative = earlier; the procedural engine shows each frame's own sound, so 0 is by design),
    ``offset_ms``, ``correlation_at_offset``, ``flagged``: ``[{start_s, end_s, reason}]`` for
    stretches over 0.3 s of loud audio with a closed mouth, or silence with an open mouth,
    ``passed`` (correlation >= 0.6 at the offset, offset within one frame, nothing flagged) and
    ``summary``, one line for the UI.
    """
    op = np.nan_to_num(np.asarray(openings, np.float64).reshape(-1))
    n = len(op)
    report: dict[str, Any] = {
        "frames": n,
        "fps": float(fps),
        "correlation": 0.0,
        "offset_frames": 0,
        "offset_ms": 0.0,
        "correlation_at_offset": 0.0,
        "flagged": [],
        "passed": False,
        "offset_sign": "positive: mouth later than audio",
    }
    if n == 0 or audio is None or np.size(audio) == 0:
        report["summary"] = "lip-sync check skipped: no frames or no sound to compare"
        return report
    db, _ = frame_loudness(
        np.asarray(audio, np.float32), int(sample_rate), n, fps, shift_s=0.0, window_s=max(0.04, 1.5 / fps)
    )
    ref = float(np.percentile(db, 95))
    env = np.clip((db - (ref - 40.0)) / 40.0, 0.0, 1.0)  # loudness above a 40 dB floor, 0..1
    report["correlation"] = round(_pearson(op, env), 4)
    best, best_r = 0, -2.0
    for lag in range(-MAX_LAG_FRAMES, MAX_LAG_FRAMES + 1):
        # lag > 0: opening at frame k + lag matches the sound at frame k
        if lag >= 0:
            a, b = op[lag:], env[: n - lag]
        else:
            a, b = op[: n + lag], env[-lag:]
        r = _pearson(a, b)
        if r > best_r + 1e-9 or (abs(r - best_r) <= 1e-9 and abs(lag) < abs(best)):
            best, best_r = lag, r
    report["offset_frames"] = int(best)
    report["offset_ms"] = round(1000.0 * best / fps, 1)
    report["correlation_at_offset"] = round(best_r, 4)
    scale = max(1.0, float(np.percentile(op, 95)))
    closed = op < 0.12 * scale
    wide = op > 0.4 * scale
    min_len = int(np.ceil(MIN_FLAG_S * fps))
    flagged = []
    for mask, reason in (
        (closed & (env > 0.6), "loud audio but the mouth stays closed"),
        (wide & (env < 0.15), "mouth open during silence"),
    ):
        for a, b in _runs(mask):
            if b - a >= min_len:
                flagged.append({"start_s": round(a / fps, 3), "end_s": round(b / fps, 3), "reason": reason})
    report["flagged"] = sorted(flagged, key=lambda f: f["start_s"])
    report["passed"] = bool(
        report["correlation_at_offset"] >= MIN_CORRELATION and abs(report["offset_frames"]) <= 1 and not flagged
    )
    report["summary"] = _summary(report)
    return report


def _summary(report: dict[str, Any]) -> str:
    """One line for the UI, e.g. ``lip-sync check passed: mouth follows the voice (r = 0.74), offset -40 ms``."""
    verdict = "passed" if report["passed"] else "needs a look"
    text = (
        f"lip-sync check {verdict}: mouth follows the voice (r = {report['correlation_at_offset']:.2f}), "
        f"offset {report['offset_ms']:+.0f} ms"
    )
    if report["flagged"]:
        text += f", {len(report['flagged'])} segment(s) flagged"
    return text
