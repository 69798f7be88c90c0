"""Face-quality checks on a portrait test set the tests build from the demo portrait.

Good variants (original, mirrored, mildly rescaled, recompressed, EXIF-rotated) must never be
rejected; bad ones (tilted, blurred, dark, cut off, tiny, two faces, no face) must never pass as
"usable", and each bad one must fail for the reason it was made with.
"""

from __future__ import annotations

import io
import math

import cv2
import numpy as np
import pytest
from conftest import DEMO_PORTRAIT
from PIL import Image

from studio.portrait import checks as portrait
from studio.portrait import faces
from studio.portrait.checks import FAIL, REJECTED, USABLE, USABLE_WITH_WARNINGS, check_portrait, check_portrait_file


@pytest.fixture(scope="module")
def face(studio):
    return studio.face()


def demo() -> np.ndarray:
    return np.asarray(Image.open(DEMO_PORTRAIT).convert("RGB"))


def turned(img: np.ndarray, degrees: float) -> np.ndarray:
    """The photo turned counter-clockwise in the image plane (head roll)."""
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)


def scaled(img: np.ndarray, f: float) -> np.ndarray:
    return cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)


def jpeg_again(img: np.ndarray, quality: int = 60) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def _depth68() -> np.ndarray:
    """Generic depth of the 68 iBUG points in mm behind the nose tip (rounded head averages)."""
    z = np.zeros(68)
    t = (np.arange(17) - 8) / 8.0
    z[:17] = 22 + 75 * t**2  # jaw: chin near, ears far
    z[17:27] = [44, 38, 33, 30, 28, 28, 30, 33, 38, 44]  # brows
    z[27:31] = [24, 17, 10, 0]  # nose bridge to tip
    z[31:36] = [14, 11, 10, 11, 14]  # nostrils
    z[36:48] = [40, 34, 31, 28, 31, 34, 28, 31, 34, 40, 34, 31]  # eyes
    z[48:60] = [27, 21, 18, 17, 18, 21, 27, 22, 19, 18, 19, 22]  # outer lips
    z[60:68] = [25, 19, 18, 19, 25, 19, 18, 19]  # inner lips
    return z


def turn_head(img: np.ndarray, lm: np.ndarray, yaw_deg: float) -> np.ndarray:
    """The face turned ``yaw_deg`` about a vertical axis toward the image's right (2.5D: each
    landmark moves by its generic depth, the photo is warped piecewise-affinely, the background
    and hair outline stay)."""
    lm = np.asarray(lm, np.float64)
    k = np.linalg.norm(lm[45] - lm[36]) / 90.0  # pixels per mm
    xc, th = lm[27, 0], math.radians(yaw_deg)  # turning about the nose bridge column
    lift = lm[8, 1] - lm[27, 1]
    forehead = np.array(
        [lm[19] + (0, -0.5 * lift), lm[24] + (0, -0.5 * lift), (lm[19] + lm[24]) / 2 + (0, -0.55 * lift)]
    )
    src = np.vstack([lm, forehead])
    z = np.concatenate([_depth68(), [50, 50, 45]])
    dst = src.copy()
    dst[:, 0] = xc + (src[:, 0] - xc) * math.cos(th) - z * k * math.sin(th)
    h, w = img.shape[:2]
    c, r = lm.mean(0), 1.25 * np.ptp(lm, axis=0).max()
    ring = c + r * np.array([[math.cos(a), math.sin(a)] for a in np.linspace(0, 2 * math.pi, 16, endpoint=False)])
    edges = np.array(
        [[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1], [w / 2, 0], [w - 1, h / 2], [w / 2, h - 1], [0, h / 2]]
    )
    src, dst = np.vstack([src, ring, edges]), np.clip(np.vstack([dst, ring, edges]), 0, [w - 1, h - 1])
    sub = cv2.Subdiv2D((-1, -1, w + 2, h + 2))
    for x, y in dst:
        sub.insert((float(x), float(y)))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    mapx, mapy, filled = xs.copy(), ys.copy(), np.zeros((h, w), bool)
    for tri in sub.getTriangleList().reshape(-1, 3, 2):
        idx = [int(np.argmin(((dst - p) ** 2).sum(1))) for p in tri]
        if len(set(idx)) < 3:
            continue
        a = cv2.getAffineTransform(dst[idx].astype(np.float32), src[idx].astype(np.float32))
        m = np.zeros((h, w), np.uint8)
        cv2.fillConvexPoly(m, np.round(dst[idx]).astype(np.int32), 1)
        sel = m.astype(bool) & ~filled
        mapx[sel] = a[0, 0] * xs[sel] + a[0, 1] * ys[sel] + a[0, 2]
        mapy[sel] = a[1, 0] * xs[sel] + a[1, 1] * ys[sel] + a[1, 2]
        filled |= sel
    return cv2.remap(img, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def statuses(report) -> dict[str, str]:
    return {c.name: c.status for c in report.checks}


BIG = 2.0  # crops are cut from a 2x copy, so the crop's own resolution is not what fails it

GOOD = {
    "original": lambda: demo(),
    "mirrored": lambda: np.ascontiguousarray(demo()[:, ::-1]),
    "upscaled_1.5x": lambda: scaled(demo(), 1.5),
    "downscaled_0.85x": lambda: scaled(demo(), 0.85),
    "jpeg_recompressed": lambda: jpeg_again(demo(), 60),
    "slightly_tilted_10deg": lambda: turned(demo(), 10),
}

# name -> (image maker, the check that must fail)
BAD = {
    "tilted_40deg": (lambda: turned(demo(), 40), "head_pose"),
    "tilted_other_way_40deg": (lambda: turned(demo(), -40), "head_pose"),
    "on_its_side": (lambda: np.ascontiguousarray(np.rot90(demo())), "head_pose"),
    "blurred": (lambda: cv2.GaussianBlur(scaled(demo(), BIG), (0, 0), 5), None),  # sharpness, or no face at all
    "darkened": (lambda: (demo() * 0.2).astype(np.uint8), "exposure"),
    "forehead_cut_off": (lambda: scaled(demo(), BIG)[180:], "framing"),
    "cheek_cut_off": (lambda: scaled(demo(), BIG)[:, 380:], "framing"),
    "shrunk": (lambda: scaled(demo(), 0.45), "face_size"),
    "two_faces_side_by_side": (lambda: np.concatenate([demo(), demo()[:, ::-1]], axis=1), "faces"),
    "no_face_gradient": (
        lambda: np.tile(np.linspace(0, 255, 640, dtype=np.float32)[None, :, None], (480, 1, 3)).astype(np.uint8),
        "faces",
    ),
    "no_face_background": (lambda: scaled(demo()[300:, 300:], 2.4), "faces"),
}


@pytest.mark.parametrize("name", list(GOOD))
def test_good_variants_are_never_rejected(face, name):
    report = check_portrait(GOOD[name](), face)
    assert report.verdict in (USABLE, USABLE_WITH_WARNINGS), report.summary()
    assert report.faces_found == 1


@pytest.mark.parametrize("name", list(BAD))
def test_bad_variants_are_rejected_for_the_right_reason(face, name):
    make, failing = BAD[name]
    report = check_portrait(make(), face)
    assert report.verdict == REJECTED, (name, statuses(report))
    st = statuses(report)
    if failing is not None:
        assert st[failing] == "fail", st
    else:
        assert st["sharpness"] == "fail" or st["faces"] == "fail", st
    failed = [c for c in report.checks if c.status == "fail"]
    assert all(c.advice for c in failed), "every failed check says what to change"
    assert report.summary().startswith("The portrait is rejected: ")


def test_demo_portrait_is_usable_and_reports_every_check(face):
    report = check_portrait_file(DEMO_PORTRAIT, face)
    assert report.verdict == USABLE
    names = [c.name for c in report.checks]
    assert names == [
        "resolution",
        "faces",
        "face_size",
        "output_sharpness",
        "framing",
        "head_pose",
        "sharpness",
        "exposure",
        "contrast",
        "lighting",
        "landmark_fit",
    ]
    for c in report.checks:
        assert c.status == "ok" and c.threshold and c.message
    pose = report.checks[names.index("head_pose")].value
    assert max(abs(v) for v in pose.values()) < 10
    # The HOG detector also fires weakly on the mission patch: that is not a second face.
    assert report.faces_found == 1


def test_rejects_portrait_turned_more_than_30_degrees(face):
    report = check_portrait(turned(demo(), 40), face)
    pose = next(c for c in report.checks if c.name == "head_pose")
    # The demo head is tilted about +3 degrees; turning the photo 40 degrees counter-clockwise
    # leaves about -37.
    assert pose.status == "fail" and -42 < pose.value["roll"] < -32, pose.value
    assert "tilted to the side by" in pose.message and "straight into the camera" in pose.advice


def test_head_turned_sideways_warns_then_is_rejected(face):
    lm = check_portrait(demo(), face).face.landmarks
    report = check_portrait(turn_head(demo(), lm, 25), face)
    pose = next(c for c in report.checks if c.name == "head_pose")
    # The demo head is already turned about 5 degrees; 25 more is past the 15-degree warning.
    assert report.verdict == USABLE_WITH_WARNINGS and pose.status == "warn", pose
    assert 18 < pose.value["yaw"] < 30 and "turned sideways" in pose.message
    assert check_portrait(turn_head(demo(), lm, 40), face).verdict == REJECTED
    assert check_portrait(turn_head(demo(), lm, -40), face).verdict == REJECTED


def test_warns_between_15_and_30_degrees(face):
    report = check_portrait(turned(demo(), 22), face)
    assert report.verdict == USABLE_WITH_WARNINGS
    assert statuses(report)["head_pose"] == "warn"


def test_says_how_many_faces_were_found(face):
    three = np.concatenate([demo(), demo()[:, ::-1], demo()], axis=1)
    report = check_portrait(three, face)
    faces = next(c for c in report.checks if c.name == "faces")
    assert report.verdict == REJECTED and faces.value == 3 and faces.message == "3 faces found"
    assert "one person" in faces.advice


def test_mildly_dark_photo_warns_but_is_kept(face):
    report = check_portrait((demo() * 0.4).astype(np.uint8), face)
    assert report.verdict == USABLE_WITH_WARNINGS
    assert statuses(report)["exposure"] == "warn"


def test_harsh_side_light_is_flagged(face):
    img = demo().astype(np.float32)
    cx = check_portrait(demo(), face).face.landmarks[27:31, 0].mean()
    x = np.arange(img.shape[1], dtype=np.float32)
    light = 0.35 + 0.65 / (1 + np.exp(-(x - cx) / 8.0))  # one half of the face in shadow
    report = check_portrait((img * light[None, :, None]).astype(np.uint8), face)
    assert statuses(report)["lighting"] in ("warn", "fail")
    assert report.verdict != USABLE


def test_covered_mouth_is_flagged(face):
    img = demo().copy()
    pts = check_portrait(img, face).face.landmarks
    x0, y0 = pts[48:60].min(0) - 6
    x1, y1 = pts[48:60].max(0) + 6
    img[int(y0) : int(y1), int(x0) : int(x1)] = (200, 170, 150)  # a flat, skin-coloured patch: a hand
    report = check_portrait(img, face)
    fit = next(c for c in report.checks if c.name == "landmark_fit")
    assert fit.status in ("warn", "fail") and "mouth" in fit.message, fit
    assert report.verdict != USABLE


def test_head_pose_recovers_known_angles():
    """Project the generic 3D face with a known rotation: solvePnP must give the angles back."""
    model = portrait._MODEL_3D
    idx = list(model)
    obj = np.array([model[i] for i in idx], dtype=np.float64)
    for yaw, pitch, roll in [(0, 0, 0), (20, 0, 0), (-35, 0, 0), (0, 18, 0), (0, 0, 25), (12, -10, 8)]:
        # The same convention head_pose reports: R = Rz(roll) Ry(-yaw) Rx(-pitch).
        a, b, c = math.radians(-pitch), math.radians(-yaw), math.radians(roll)
        rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
        ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
        rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
        cam = (rz @ ry @ rx @ obj.T).T + (0, 0, 1500.0)
        f, w, h = 2.4 * 1000, 1000, 1000
        px = cam[:, :2] / cam[:, 2:] * f + (w / 2, h / 2)
        lm = np.zeros((68, 2))
        lm[idx] = px
        pose = portrait.head_pose(lm, (w, h))
        assert abs(pose["yaw"] - yaw) < 1.5 and abs(pose["pitch"] - pitch) < 1.5 and abs(pose["roll"] - roll) < 1.5, (
            (yaw, pitch, roll),
            pose,
        )


def test_primary_face_refuses_no_face_and_two_faces(face):
    from studio.errors import RejectedError

    with pytest.raises(RejectedError, match="no face"):
        faces.primary_face(BAD["no_face_gradient"][0](), face)
    with pytest.raises(RejectedError, match="2 faces"):
        faces.primary_face(BAD["two_faces_side_by_side"][0](), face)
    assert faces.primary_face(demo(), face).landmarks.shape == (68, 2)


def test_report_json_has_value_threshold_and_advice(face):
    d = check_portrait(BAD["darkened"][0](), face).to_dict()
    exposure = next(c for c in d["checks"] if c["name"] == "exposure")
    assert exposure["status"] == "fail" and exposure["value"]["brightness"] < 40
    assert "reject below 40" in exposure["threshold"] and "brighter" in exposure["advice"]
    assert d["verdict"] == "rejected" and len(d["face"]["landmarks"]) == 68


def test_annotated_photo_marks_the_face(face):
    img = demo()
    report = check_portrait(img, face)
    out = portrait.draw_report(img, report)
    assert out.shape == (768, 768, 3)  # small photos are shown larger, so the marks stay visible
    plain = cv2.resize(img, (768, 768), interpolation=cv2.INTER_CUBIC)
    x0, y0, x1, y1 = (round(v * 1.5) for v in report.face.box)
    changed = np.any(out != plain, axis=2)
    # The drawing is on the face box and the landmarks, not elsewhere.
    assert changed.sum() > 500
    assert changed[y0 - 4 : y1 + 5, x0 - 4 : x1 + 5].sum() > 0.9 * changed.sum()


def test_a_photo_too_blurred_or_dark_to_find_a_face_says_so(face):
    very_blurred = cv2.GaussianBlur(demo(), (0, 0), 12)
    very_dark = (demo() * 0.05).astype(np.uint8)
    for image, why, advice in ((very_blurred, "very blurred", "sharp"), (very_dark, "very dark", "brighter")):
        report = check_portrait(image, face)
        faces = next(c for c in report.checks if c.name == "faces")
        assert report.verdict == REJECTED and faces.status == FAIL
        assert why in faces.message and advice in faces.advice  # the photo's problem, not a generic hint
    generic = check_portrait(BAD["no_face_gradient"][0](), face)
    assert "very" not in next(c for c in generic.checks if c.name == "faces").message
