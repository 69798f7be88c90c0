"""The procedural talking-head engine: lips, teeth, blinks, head motion, emotion, rigs, self-check."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from engines.animate.base import AnimationSettings, EmotionSpan
from engines.animate.procedural import LIP_LEAD_S, ProceduralAnimator, ProceduralTrack
from engines.animate.procedural_rig import frame_portrait
from engines.animate.sync_check import interior_mask, measure_mouth_opening, sync_report, teeth_mask, teeth_pixels
from engines.timing import PhonemeTiming

ROOT = Path(__file__).resolve().parent.parent
FPS = 25
QUIET = dict(head_motion=0.0, blink_rate=0.0)  # isolate the mouth and face from life motion


@pytest.fixture(scope="module")
def portrait():
    img = cv2.cvtColor(cv2.imread(str(ROOT / "assets" / "portrait.png")), cv2.COLOR_BGR2RGB)
    from engines.face.dlib68 import Dlib68

    return img, Dlib68().detect(img)[0].landmarks


@pytest.fixture(scope="module")
def animator():
    return ProceduralAnimator()


@pytest.fixture(scope="module")
def rig(portrait, animator):
    img, lm = portrait
    return animator.prepare(img, lm, 512, 512, AnimationSettings())


def _phonemes(spec: list[tuple[str, float]]) -> list[PhonemeTiming]:
    out, t = [], 0.0
    for sym, dur in spec:
        out.append(PhonemeTiming(sym, t, t + dur))
        t += dur
    return out


def _quiet_track(animator, phonemes=None, *, duration=None, audio=None, sample_rate=None, fps=FPS, **settings):
    """The track of ``phonemes`` (or ``audio``) with no emotion, head motion or blinks (``QUIET``, then
    ``settings``); ``duration`` defaults to the end of the last phoneme."""
    return animator.track(
        duration=phonemes[-1].end if duration is None else duration,
        fps=fps,
        phonemes=phonemes,
        audio=audio,
        sample_rate=sample_rate,
        emotions=[],
        settings=AnimationSettings(**{**QUIET, **settings}),
    )


def _frame_at(t: float) -> int:
    """Frame on screen while the sound at ``t`` seconds is heard (frame k shows [k / FPS, (k + 1) / FPS))."""
    return int(np.floor((t - LIP_LEAD_S) * FPS))


def _render(animator, rig, track, k: int) -> np.ndarray:
    return next(iter(animator.frames(rig, track, k, k + 1)))


# "mama, papa, baba": bilabial closures between open vowels
MAMA = _phonemes(
    [
        ("^", 0.3),
        ("m", 0.12),
        ("ˈ", 0.04),
        ("ɑ", 0.22),
        ("m", 0.12),
        ("ɑ", 0.22),
        (" ", 0.04),
        ("p", 0.1),
        ("ˈ", 0.04),
        ("a", 0.22),
        ("p", 0.1),
        ("a", 0.22),
        (" ", 0.04),
        ("b", 0.1),
        ("ˈ", 0.04),
        ("a", 0.22),
        ("b", 0.1),
        ("a", 0.22),
        ("$", 0.4),
    ]
)


def _centre(phonemes, index: int) -> float:
    p = phonemes[index]
    return 0.5 * (p.start + p.end)


def test_lips_close_on_m_b_p_and_open_on_a(animator, rig):
    track = _quiet_track(animator, MAMA)
    mouth_w = rig.mouth_width
    closed = [i for i, p in enumerate(MAMA) if p.phoneme in "mpb"]
    opened = [i for i, p in enumerate(MAMA) if p.phoneme in "ɑa"]
    for i in closed:
        k = _frame_at(_centre(MAMA, i))
        assert measure_mouth_opening(rig, _render(animator, rig, track, k)) <= 1.0, MAMA[i].phoneme
    for i in opened:
        k = _frame_at(_centre(MAMA, i))
        assert measure_mouth_opening(rig, _render(animator, rig, track, k)) >= 0.08 * mouth_w, MAMA[i].phoneme


def test_rest_frame_is_the_photo_itself_with_its_own_smile_and_teeth(portrait, animator, rig):
    img, lm = portrait
    photo, _ = frame_portrait(img, lm, 512, 512, AnimationSettings().crop_expand)
    assert np.array_equal(rig.base, photo)  # nothing repainted: not the lips, not the teeth
    rest = animator.render_controls(rig, {})
    assert np.abs(rest.astype(np.int16) - photo.astype(np.int16)).max() <= 1
    assert teeth_pixels(rig, rest) > 60  # the demo photo smiles with its teeth, and keeps them
    assert measure_mouth_opening(rig, rest) > 1.0  # (m, b, p close them: test_lips_close_on_m_b_p_and_open_on_a)


def _luma(pixels: np.ndarray) -> np.ndarray:
    return pixels.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def test_open_vowel_drops_the_jaw_below_the_photos_own_teeth(portrait, animator, rig):
    img, lm = portrait
    photo, _ = frame_portrait(img, lm, 512, 512, AnimationSettings().crop_expand)
    photo_teeth, pbox = teeth_mask(rig, photo)
    lit = _luma(photo[pbox[1] : pbox[3], pbox[0] : pbox[2]][photo_teeth]).mean()
    frame = animator.render_controls(rig, {"jaw": 0.9})
    inside, box = interior_mask(rig, frame)
    teeth, _ = teeth_mask(rig, frame)
    assert measure_mouth_opening(rig, frame) >= 0.15 * rig.mouth_width
    # the photo's own upper teeth stay, lit as photographed, and ride the upper jaw: above the opening
    assert teeth.sum() >= 0.7 * photo_teeth.sum()
    patch = frame[box[1] : box[3], box[0] : box[2]]
    assert _luma(patch[teeth]).mean() > lit - 15
    rows = np.arange(inside.shape[0])[:, None]
    dark = inside & ~teeth
    assert (rows * teeth).sum() / teeth.sum() < (rows * dark).sum() / dark.sum()
    # below them a dark cavity, not a white grin
    assert np.median(_luma(patch[dark])) < 0.45 * lit


@pytest.fixture(scope="module")
def closed_lips(animator):
    from engines.face.dlib68 import Dlib68

    img = cv2.cvtColor(
        cv2.imread(str(ROOT / "tests" / "data" / "portraits" / "biden_closed_lips.jpg")), cv2.COLOR_BGR2RGB
    )
    return animator.prepare(img, Dlib68().detect(img)[0].landmarks, 512, 512, AnimationSettings())


def test_closed_lip_photo_shows_teeth_only_when_wide_open_and_they_are_not_a_flat_band(animator, closed_lips):
    rig = closed_lips
    assert not rig.lips_parted
    ajar = animator.render_controls(rig, {"jaw": 0.3})
    a_in, _ = interior_mask(rig, ajar)
    assert a_in.sum() > 0 and teeth_pixels(rig, ajar) <= 0.1 * a_in.sum()
    wide = animator.render_controls(rig, {"jaw": 1.0})
    inside, box = interior_mask(rig, wide)
    teeth, _ = teeth_mask(rig, wide)
    assert teeth.sum() > 20
    rows = np.flatnonzero(teeth.any(axis=1))
    assert rows.mean() < np.flatnonzero(inside.any(axis=1)).mean()  # upper teeth, at the top of the opening
    shades = _luma(wide[box[1] : box[3], box[0] : box[2]][teeth])
    assert shades.std() > 4.0  # shaded and grained like the photo, not one flat colour


def _corner_lift(frame: np.ndarray) -> float:
    """How far the mouth corners sit above the middle of the lips, in mouth widths (dlib landmarks)."""
    from engines.face.dlib68 import Dlib68

    lm = Dlib68().detect(frame)[0].landmarks.astype(np.float64)
    middle = 0.5 * (lm[62, 1] + lm[66, 1])
    return float((middle - 0.5 * (lm[48, 1] + lm[54, 1])) / np.hypot(*(lm[54] - lm[48])))


def test_emotions_start_from_the_photos_own_expression(animator, rig, closed_lips):
    happy = {"smile": 1.0, "width": 0.15}
    assert rig.photo_smile > 0.5 and closed_lips.photo_smile < 0.2
    smiling_rest = _corner_lift(animator.render_controls(rig, {}))
    level_rest = _corner_lift(animator.render_controls(closed_lips, {}))
    # a smiling photo made happy smiles only a little more: no doubled grin
    more = _corner_lift(animator.render_controls(rig, happy)) - smiling_rest
    assert more < 0.5 * (_corner_lift(animator.render_controls(closed_lips, happy)) - level_rest)
    # made sad, its smile fades
    assert _corner_lift(animator.render_controls(rig, {"corners_down": 0.9})) < smiling_rest - 0.04


def _eye_darkness(rig, frame) -> int:
    """Dark (iris, pupil) pixels inside the two eye openings."""
    total = 0
    for eye in (rig.landmarks[36:42], rig.landmarks[42:48]):
        x0, y0 = np.floor(eye.min(0)).astype(int)
        x1, y1 = np.ceil(eye.max(0)).astype(int)
        patch = frame[y0 : y1 + 1, x0 : x1 + 1].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        total += int((patch < 90).sum())
    return total


def test_blinks_close_the_eyes_every_few_seconds(animator, rig):
    settings = AnimationSettings(head_motion=0.0, seed=3)
    track = animator.track(
        duration=20.0, fps=FPS, phonemes=None, audio=None, sample_rate=None, emotions=[], settings=settings
    )
    blink = track.channel("blink")
    shut = np.flatnonzero(blink >= 0.999)
    groups = np.split(shut, np.flatnonzero(np.diff(shut) > 4) + 1)
    assert 3 <= len(groups) <= 9  # about one every 3-5 s
    for g in groups:  # 100-150 ms: at most 4 frames with the lids past half-way
        assert np.sum(blink[max(0, g[0] - 4) : g[-1] + 5] > 0.5) <= 4
    open_eyes = _eye_darkness(rig, _render(animator, rig, track, int(np.argmin(blink))))
    closed_eyes = _eye_darkness(rig, _render(animator, rig, track, int(shut[0])))
    assert closed_eyes < 0.5 * open_eyes


def test_same_seed_renders_identical_frames_and_another_seed_moves_the_head_differently(animator, rig):
    def frames(seed):
        s = AnimationSettings(seed=seed)
        track = animator.track(
            duration=3.0,
            fps=FPS,
            phonemes=MAMA,
            audio=None,
            sample_rate=None,
            emotions=[EmotionSpan(0, 3, "happy")],
            settings=s,
        )
        return track, [_render(animator, rig, track, k) for k in (10, 40, 70)]

    t0, f0 = frames(7)
    t1, f1 = frames(7)
    t2, f2 = frames(8)
    assert all(np.array_equal(a, b) for a, b in zip(f0, f1))
    head = [t0.names.index(n) for n in ("head_roll", "head_tx", "head_ty", "head_yaw")]
    assert np.abs(t0.controls[:, head] - t2.controls[:, head]).max() > 1e-3
    assert any(not np.array_equal(a, b) for a, b in zip(f0, f2))


def _brow_row(rig, frame) -> float:
    """Vertical position (pixels) of the darkest row in the brow band above the eyes."""
    lm = rig.landmarks
    s = rig.eye_distance
    x0, x1 = int(lm[18, 0]), int(lm[25, 0])
    y0, y1 = int(lm[17:27, 1].min() - 0.3 * s), int(lm[36:48, 1].min() - 0.05 * s)
    band = frame[y0:y1, x0:x1].astype(np.float32).mean(axis=(1, 2))
    return y0 + float(np.argmin(band))


def test_emotion_tags_move_the_brows_and_mouth_corners(animator, rig):
    def still(emotion):
        spans = [EmotionSpan(0.0, 3.0, emotion)] if emotion else []
        track = animator.track(
            duration=3.0,
            fps=FPS,
            phonemes=None,
            audio=None,
            sample_rate=None,
            emotions=spans,
            settings=AnimationSettings(**QUIET),
        )
        return track, _render(animator, rig, track, 40)

    t_neutral, neutral = still(None)
    t_surprised, surprised = still("surprised")
    t_angry, angry = still("angry")
    assert _brow_row(rig, surprised) < _brow_row(rig, neutral) - 2  # brows up
    assert _brow_row(rig, angry) > _brow_row(rig, neutral)  # brows down
    t_happy, _ = still("happy")
    t_sad, _ = still("sad")
    assert t_happy.channel("smile")[40] > 0.5 and t_sad.channel("corners_down")[40] > 0.5
    assert np.abs(t_neutral.controls[40]).max() == 0.0


def test_emotions_blend_in_smoothly_and_scale_with_strength(animator):
    def smile(strength, expr):
        track = animator.track(
            duration=4.0,
            fps=FPS,
            phonemes=None,
            audio=None,
            sample_rate=None,
            emotions=[EmotionSpan(1.0, 3.0, "happy", strength)],
            settings=AnimationSettings(expression_strength=expr, **QUIET),
        )
        return track.channel("smile")

    full, half, none = smile(1.0, 1.0), smile(0.5, 1.0), smile(1.0, 0.0)
    assert np.allclose(half, 0.5 * full, atol=1e-5)
    assert np.abs(none).max() == 0.0
    assert np.abs(np.diff(full)).max() < 0.25  # no jump from one frame to the next
    assert full[50] > 0.9 and full[5] < 0.05 and full[95] < 0.05


def _loudness_audio(sr=16000, seconds=6.0, seed=0):
    """Alternating speech-like bursts and silences, 0.4-0.7 s each."""
    rng = np.random.default_rng(seed)
    audio = np.zeros(int(sr * seconds), np.float32)
    t = 0.3
    while t < seconds - 0.8:
        d = rng.uniform(0.4, 0.7)
        n0, n1 = int(t * sr), int((t + d) * sr)
        tt = np.arange(n1 - n0) / sr
        voice = np.sin(2 * np.pi * 180 * tt) + 0.5 * np.sin(2 * np.pi * 540 * tt) + 0.3 * rng.standard_normal(len(tt))
        audio[n0:n1] = 0.3 * voice * np.hanning(len(tt)) ** 0.3
        t += d + rng.uniform(0.35, 0.6)
    return audio, sr


def test_audio_without_phonemes_opens_the_mouth_with_loudness(animator, rig):
    audio, sr = _loudness_audio()
    track = _quiet_track(animator, duration=len(audio) / sr, audio=audio, sample_rate=sr)
    openings = np.array([measure_mouth_opening(rig, f) for f in animator.frames(rig, track, 0, track.n_frames)])
    report = sync_report(openings, audio, sr, FPS)
    assert report["correlation"] > 0.6
    assert abs(report["offset_frames"]) <= 1
    assert openings.max() > 0.08 * rig.mouth_width


def test_rig_survives_an_npz_round_trip_and_renders_identical_frames(animator, rig):
    buf = io.BytesIO()
    np.savez(buf, **rig.to_arrays())
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as data:
        again = ProceduralAnimator.rig_from_arrays(dict(data))
    track = animator.track(
        duration=2.0,
        fps=FPS,
        phonemes=MAMA,
        audio=None,
        sample_rate=None,
        emotions=[EmotionSpan(0, 2, "surprised")],
        settings=AnimationSettings(seed=2),
    )
    for k in (5, 14, 30):
        assert np.array_equal(_render(animator, rig, track, k), _render(ProceduralAnimator(), again, track, k))


def test_frames_have_the_requested_size_and_count(animator, rig):
    track = animator.track(
        duration=1.23, fps=FPS, phonemes=None, audio=None, sample_rate=None, emotions=[], settings=AnimationSettings()
    )
    assert track.n_frames == round(1.23 * FPS)
    frames = list(animator.frames(rig, track, 3, 9))
    assert len(frames) == 6
    assert all(f.shape == (512, 512, 3) and f.dtype == np.uint8 for f in frames)


def test_wide_output_puts_the_portrait_on_a_blurred_darker_copy(portrait, animator):
    img, lm = portrait
    wide = animator.prepare(img, lm, 1280, 720, AnimationSettings())
    base = wide.base
    assert base.shape == (720, 1280, 3)
    edge = base[:, :150].astype(np.float32)
    centre = base[:, 565:715].astype(np.float32)
    assert edge.mean() > 20  # not black bars
    assert edge.mean() < 0.8 * img.astype(np.float32).mean()  # darkened
    sharpness = lambda a: float(np.abs(np.diff(a, axis=0)).mean())  # noqa: E731
    assert sharpness(edge) < 0.5 * sharpness(centre)  # blurred
    lm_out = wide.landmarks
    assert 500 < lm_out[:, 0].mean() < 780  # face in the middle
    frame = animator.render_controls(wide, {"jaw": 0.8, "head_roll": 0.03})
    assert frame.shape == (720, 1280, 3) and measure_mouth_opening(wide, frame) > 0.08 * wide.mouth_width


def test_crop_off_the_photo_is_filled_without_black_bars(portrait, animator):
    img, lm = portrait
    # the face near the top-left corner of a cut-out photo, framed loosely
    x0, y0 = 150, 60
    cut = np.ascontiguousarray(img[y0 : y0 + 200, x0 : x0 + 200])
    r = animator.prepare(cut, lm - np.array([x0, y0], np.float32), 512, 512, AnimationSettings(crop_expand=3.0))
    luma = r.base.astype(np.float32).mean(axis=2)
    assert luma.max(axis=1).min() > 30 and luma.max(axis=0).min() > 30  # no all-black row or column
    for strip in (luma[:40], luma[:250, :40]):  # beyond the photo's top and left edges
        assert strip.mean() > 40 and (strip < 3).mean() < 0.01
    assert luma[:40].std() < 0.5 * luma[200:400, 200:400].std() + 20


def test_controls_take_effect(animator):
    def track(**kw):
        return animator.track(
            duration=MAMA[-1].end,
            fps=FPS,
            phonemes=MAMA,
            audio=None,
            sample_rate=None,
            emotions=[],
            settings=AnimationSettings(**kw),
        )

    base = track()
    jaw = base.channel("jaw")
    assert np.allclose(track(lip_amplitude=0.5).channel("jaw"), 0.5 * jaw, atol=1e-5)
    still = track(head_motion=0.0)
    assert np.abs(still.controls[:, [still.names.index(n) for n in ("head_roll", "head_tx", "head_yaw")]]).max() == 0
    assert track(blink_rate=0.0).channel("blink").max() == 0.0
    late = track(av_offset_ms=80.0).channel("jaw")  # +80 ms = two frames later
    assert np.corrcoef(late[2:], jaw[:-2])[0, 1] > 0.99
    smooth = track(smoothing=1.0).channel("jaw")
    sharp = track(smoothing=0.0).channel("jaw")
    assert np.abs(np.diff(smooth)).sum() < np.abs(np.diff(sharp)).sum()


def test_a_larger_lip_amplitude_opens_the_mouth_wider_in_the_frames(animator, rig):
    """Measured in the pixels, not the track: the mouth is found by dlib on the rest frame (not the
    animator's own landmarks) and the dark mouth interior is counted on an open vowel."""
    from engines.face.dlib68 import Dlib68

    lips = Dlib68().detect(animator.render_controls(rig, {}))[0].landmarks[48:68]
    (x0, y0), (x1, y1) = lips.min(0), lips.max(0)
    h = y1 - y0
    k = _frame_at(_centre(MAMA, 3))  # the first "ɑ"

    def dark_mouth_pixels(amplitude: float) -> int:
        track = _quiet_track(animator, MAMA, lip_amplitude=amplitude)
        grey = cv2.cvtColor(_render(animator, rig, track, k), cv2.COLOR_RGB2GRAY)
        return int((grey[int(y0 - h) : int(y1 + 2 * h), int(x0) : int(x1)] < 70).sum())

    small, natural, large = (dark_mouth_pixels(a) for a in (0.5, 1.0, 1.5))
    assert natural > 1.2 * small and large > 1.2 * natural, (small, natural, large)


def test_crop_expand_frames_the_face_larger_or_smaller(portrait, animator):
    img, lm = portrait
    tight = animator.prepare(img, lm, 128, 128, AnimationSettings(crop_expand=1.4))
    loose = animator.prepare(img, lm, 128, 128, AnimationSettings(crop_expand=2.8))
    assert tight.eye_distance > 1.8 * loose.eye_distance


def test_framing_never_enlarges_the_face_beyond_the_photos_pixels(portrait, animator):
    img, lm = portrait
    photo_eyes = float(np.hypot(*(lm[36:42].mean(0) - lm[42:48].mean(0))))
    for w, h in ((512, 512), (1280, 720), (1080, 1080)):
        rig = animator.prepare(img, lm, w, h, AnimationSettings(crop_expand=1.2))
        assert rig.eye_distance <= photo_eyes * 1.001


def test_stress_marks_and_length_marks_attach_to_their_vowels():
    from engines.animate.visemes import clean_phonemes, stressed_times

    segs = clean_phonemes(_phonemes([("h", 0.05), ("ˈ", 0.05), ("ɛ", 0.1), ("ː", 0.04), ("l", 0.05), (" ", 0.03)]))
    assert [s.phoneme for s in segs] == ["h", "ɛ", "l", " "]
    vowel = segs[1]
    assert vowel.stress == 2 and vowel.start == pytest.approx(0.05) and vowel.end == pytest.approx(0.24)
    assert stressed_times(segs) == [pytest.approx(0.05)]


def test_stressed_syllables_bring_nods(animator):
    words = []
    for _ in range(8):
        words += [("b", 0.08), ("ˈ", 0.04), ("a", 0.25), ("d", 0.08), (" ", 0.15)]
    stressed = _phonemes(words)
    flat = _phonemes([(p, d) for p, d in words if p != "ˈ"])
    args = dict(fps=FPS, audio=None, sample_rate=None, emotions=[], settings=AnimationSettings(seed=5))
    ty_stressed = animator.track(duration=stressed[-1].end, phonemes=stressed, **args).channel("head_ty")
    ty_flat = animator.track(duration=stressed[-1].end, phonemes=flat, **args).channel("head_ty")
    assert np.abs(ty_stressed - ty_flat).max() > 0.02


def test_sync_report_finds_the_offset_and_flags_a_closed_mouth_over_loud_audio():
    audio, sr = _loudness_audio(seconds=8.0, seed=1)
    from engines.animate.visemes import frame_loudness

    n = 8 * FPS
    db, _ = frame_loudness(audio, sr, n, FPS)
    env = np.clip((db - db.max() + 40) / 40, 0, 1)
    late = np.r_[np.zeros(2), env[:-2]] * 20  # the mouth two frames after the sound
    report = sync_report(late, audio, sr, FPS)
    assert report["offset_frames"] == 2 and report["correlation_at_offset"] > 0.95
    assert report["flagged"] == []
    broken = late.copy()
    loud = np.flatnonzero(env > 0.8)
    broken[loud[0] : loud[0] + 15] = 0.0
    flagged = sync_report(broken, audio, sr, FPS)["flagged"]
    assert any(f["reason"].startswith("loud audio") and f["end_s"] - f["start_s"] >= 0.3 for f in flagged)


def test_track_round_trips_through_arrays(animator):
    track = animator.track(
        duration=1.0, fps=FPS, phonemes=MAMA, audio=None, sample_rate=None, emotions=[], settings=AnimationSettings()
    )
    again = ProceduralTrack.from_arrays(track.to_arrays())
    assert again.names == track.names and np.array_equal(again.controls, track.controls)


def test_rejects_landmarks_that_are_not_68_points(portrait, animator):
    img, lm = portrait
    with pytest.raises(ValueError):
        animator.prepare(img, lm[:5], 512, 512, AnimationSettings())


def test_every_control_has_a_slider_description_matching_the_settings():
    from dataclasses import fields

    from engines.animate.base import CONTROLS

    defaults = {f.name: f.default for f in fields(AnimationSettings)}
    names = [c.name for c in CONTROLS]
    assert set(names) == set(defaults) - {"seed"} and len(names) == len(set(names))
    for c in CONTROLS:
        assert c.minimum <= c.default <= c.maximum and c.step > 0
        assert c.default == defaults[c.name]
        assert c.label and c.help and "\n" not in c.help and len(c.help) < 100
    wild = AnimationSettings(lip_amplitude=50.0, blink_rate=-3.0, smoothing=float("nan"), seed=9).clamped()
    assert wild.lip_amplitude == 2.0 and wild.blink_rate == 0.0 and wild.smoothing == 0.5 and wild.seed == 9


def test_motion_scale_scales_mouth_expression_and_head_together(animator):
    def track(scale):
        return animator.track(
            duration=MAMA[-1].end,
            fps=FPS,
            phonemes=MAMA,
            audio=None,
            sample_rate=None,
            emotions=[EmotionSpan(0.0, 3.0, "surprised")],
            settings=AnimationSettings(motion_scale=scale, blink_rate=0.0, seed=4),
        )

    full, half, still = track(1.0), track(0.5), track(0.0)
    for name in ("jaw", "brow_up", "head_tx", "head_roll"):
        assert np.abs(full.channel(name)).max() > 1e-3, name
        assert np.allclose(half.channel(name), 0.5 * full.channel(name), atol=1e-4), name
        assert np.abs(still.channel(name)).max() == 0.0, name


def test_a_cached_rig_from_an_older_engine_is_refused(rig):
    from engines.animate.procedural_rig import RIG_VERSION

    old = rig.to_arrays()
    old["version"] = np.asarray(RIG_VERSION - 1)
    with pytest.raises(ValueError):
        ProceduralAnimator.rig_from_arrays(old)


def test_sync_report_says_in_one_line_whether_the_lips_follow_the_voice():
    audio, sr = _loudness_audio(seconds=6.0, seed=2)
    from engines.animate.visemes import frame_loudness

    n = 6 * FPS
    db, _ = frame_loudness(audio, sr, n, FPS)
    good = sync_report(np.clip((db - db.max() + 40) / 40, 0, 1) * 20, audio, sr, FPS)
    assert good["passed"] and "passed" in good["summary"] and "\n" not in good["summary"]
    rng = np.random.default_rng(0)
    bad = sync_report(rng.uniform(0, 20, n), audio, sr, FPS)
    assert not bad["passed"] and "needs a look" in bad["summary"]


def test_silence_returns_the_mouth_to_rest(animator, rig):
    speech = _phonemes([("^", 0.2), ("b", 0.1), ("ˈ", 0.04), ("ɑ", 0.3), ("$", 1.2)])
    track = _quiet_track(animator, speech)
    talking = _frame_at(_centre(speech, 3))
    assert measure_mouth_opening(rig, _render(animator, rig, track, talking)) > 0.1 * rig.mouth_width
    late = track.n_frames - 3  # 1 s into the final pause
    assert np.abs(track.controls[late, :4]).max() < 1e-3
    assert np.array_equal(_render(animator, rig, track, late), animator.render_controls(rig, {}))


def test_mouth_shows_the_sound_heard_while_its_frame_is_on_screen():
    animator = ProceduralAnimator()
    fps = 200  # 5 ms frames, to see any lead or lag
    speech = _phonemes([("^", 0.5), ("ɑ", 0.3), ("$", 0.7)])
    jaw = _quiet_track(animator, speech, duration=1.5, fps=fps).channel("jaw").astype(np.float64)
    times = (np.arange(len(jaw)) + 0.5) / fps  # the middle of each frame's time on screen
    centre = float((jaw * times).sum() / jaw.sum())
    assert abs(_centre(speech, 1) - LIP_LEAD_S - centre) <= 0.01


def test_blinks_come_every_3_to_5_seconds_on_average_and_sometimes_twice():
    settings = AnimationSettings(seed=11)
    from engines.animate.motion import blink_curve

    blink = blink_curve(300 * FPS, FPS, settings)
    shut = np.flatnonzero(blink >= 0.999) / FPS
    starts = shut[np.r_[True, np.diff(shut) > 0.2]]
    gaps = np.diff(starts)
    doubles = int((gaps < 0.45).sum())
    singles = gaps[gaps >= 0.45]
    assert 3.0 <= singles.mean() <= 5.5 and singles.min() >= 2.0
    assert 0 < doubles < 0.35 * len(starts)
    lids = blink_curve(300 * FPS, FPS, replace(settings, blink_rate=2.0))
    assert (
        np.flatnonzero(np.diff((lids > 0.5).astype(int)) == 1).size
        > 1.6 * np.flatnonzero(np.diff((blink > 0.5).astype(int)) == 1).size
    )


def test_chunk_edges_put_the_head_at_rest_and_never_cut_a_blink(animator):
    names = ProceduralTrack(fps=FPS, controls=np.zeros((1, 1), np.float32)).names
    controls = np.zeros((100, len(names)), np.float32)
    head = [i for i, n in enumerate(names) if n.startswith("head_")]
    controls[:, head] = 0.3
    blink = names.index("blink")
    controls[8:14, blink] = 1.0  # a blink the chunk start at frame 10 would cut
    track = ProceduralTrack(fps=FPS, controls=controls)
    animator.settle_edges(track, 10, 60, FPS)
    assert np.abs(track.controls[[10, 59]][:, head]).max() < 1e-6  # at rest on both edge frames
    assert np.allclose(track.controls[35, head], 0.0, atol=1e-6)  # a constant offset is not motion
    assert not track.controls[10:14, blink].any()  # the cut blink is gone, not half shown
    assert track.controls[8:10, blink].all()  # frames outside the chunk are left alone


def test_a_broad_smile_keeps_its_teeth_at_rest_and_closes_them_for_m_b_p(animator):
    from engines.face.dlib68 import Dlib68

    img = cv2.cvtColor(
        cv2.imread(str(ROOT / "tests" / "data" / "portraits" / "obama_smile_teeth.jpg")), cv2.COLOR_BGR2RGB
    )
    rig = animator.prepare(img, Dlib68().detect(img)[0].landmarks, 384, 384, AnimationSettings())
    assert rig.lips_parted
    rest = animator.render_controls(rig, {})
    shown = teeth_pixels(rig, rest)
    assert shown > 100
    pressed = animator.render_controls(rig, {"lip_press": 1.0})
    assert teeth_pixels(rig, pressed) < 0.1 * shown and measure_mouth_opening(rig, pressed) <= 1.0
    opened = animator.render_controls(rig, {"jaw": 0.9})
    assert teeth_pixels(rig, opened) > 0.7 * shown  # the jaw drops below the photo's own teeth
    assert measure_mouth_opening(rig, opened) > measure_mouth_opening(rig, rest) + 0.08 * rig.mouth_width


def _tone(spec: list[tuple[float, float]], sr: int = 16000) -> np.ndarray:
    """A 200 Hz voice whose loudness follows ``spec`` ((seconds, amplitude) pieces)."""
    out = [a * np.sin(2 * np.pi * 200 * np.arange(int(d * sr)) / sr) for d, a in spec]
    return np.concatenate(out).astype(np.float32)


def test_m_b_p_shut_the_lips_on_their_quietest_frame(animator):
    """A b whose closure is silent for one frame (then bursts loud) shuts the lips on that silent frame,
    not while the voice still sounds."""
    speech = _phonemes([("^", 0.4), ("ɑ", 0.2), ("b", 0.12), ("ɑ", 0.2), ("$", 0.4)])
    # loud vowels; inside the b (0.6-0.72 s) silence only from 0.64 to 0.68 s (frame 16 on screen)
    audio = _tone([(0.4, 0.0), (0.24, 0.5), (0.04, 0.0), (0.24, 0.5), (0.4, 0.0)])
    track = _quiet_track(animator, speech, duration=1.32, audio=audio, sample_rate=16000)
    press = track.channel("lip_press")
    assert press[16] == pytest.approx(1.0)
    assert press[15] < 0.5 and press[17] < 0.5  # loud frames either side stay open
    assert track.channel("jaw")[16] == pytest.approx(0.0, abs=1e-6)


def test_lips_relax_between_words_but_not_before_after_or_in_long_pauses():
    from engines.animate.visemes import relax_between_words

    level = np.zeros(100)
    level[10:20] = level[23:33] = 0.9  # a short gap between two words (3 frames)
    level[60:70] = 0.9  # after a 1.1 s pause
    relax = relax_between_words(level, FPS)
    assert relax[21] > 0.4  # the short gap: lips come together
    assert relax[:8].max() == 0 and relax[36:57].max() == 0 and relax[72:].max() == 0
    assert relax[10:20].max() < 0.1  # not while the voice is loud


def test_a_smile_keeps_its_teeth_before_speech_and_closes_them_between_words(animator):
    """On a smiling photo the first frame is the photo (teeth showing); a quiet moment between two words
    brings the lips together, and the mouth opens again on the next vowel."""
    img = cv2.cvtColor(
        cv2.imread(str(ROOT / "tests" / "data" / "portraits" / "obama_smile_teeth.jpg")), cv2.COLOR_BGR2RGB
    )
    from engines.face.dlib68 import Dlib68

    smile = animator.prepare(img, Dlib68().detect(img)[0].landmarks, 256, 256, AnimationSettings())
    speech = _phonemes([("^", 0.4), ("ɑ", 0.4), (" ", 0.12), ("ɑ", 0.4), ("$", 0.4)])
    audio = _tone([(0.4, 0.0), (0.4, 0.5), (0.12, 0.0), (0.4, 0.5), (0.4, 0.0)])
    track = _quiet_track(animator, speech, duration=1.72, audio=audio, sample_rate=16000)
    frames = list(animator.frames(smile, track))
    teeth = [teeth_pixels(smile, f) for f in frames]
    assert teeth[0] == pytest.approx(teeth_pixels(smile, smile.base), rel=0.05)  # rest: the photo's smile
    pause = 21  # 0.84-0.88 s: silence between the two vowels
    assert track.channel("lip_press")[pause] > 0.4
    assert teeth[pause] < 0.6 * teeth[0]
    assert measure_mouth_opening(smile, frames[28]) > measure_mouth_opening(smile, frames[pause])


def test_head_motion_keeps_the_face_as_sharp_as_the_photo(animator, rig):
    # the head's and the face's motion are one resampling of the photo: a turned head is not softer
    # (measured the way the portrait check measures a photo's sharpness)
    from studio.portrait.checks import sharpness

    rest = sharpness(animator.render_controls(rig, {}), rig.landmarks)
    for controls in ({"head_roll": 0.02}, {"head_tx": 0.03, "head_pitch": 0.1}, {"head_yaw": 0.04, "smile": 0.5}):
        assert sharpness(animator.render_controls(rig, controls), rig.landmarks) > 0.9 * rest, controls


def test_the_open_mouth_moves_with_the_head(animator, rig):
    # the painted inside of the mouth sits in the lip gap wherever head motion has taken the face
    x0, y0, x1, y1 = (int(v) for v in rig.mouth_box)
    head = {"head_tx": 0.12, "head_ty": 0.08}
    open_, moved = animator.render_controls(rig, {"jaw": 1.0}), animator.render_controls(rig, {"jaw": 1.0, **head})
    rest, rest_moved = animator.render_controls(rig, {}), animator.render_controls(rig, head)

    def grey(f):
        return cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)[y0:y1, x0:x1].astype(np.float32)

    # how far the head took the skin around the mouth: where the middle of the rest patch went
    m = 12
    scores = cv2.matchTemplate(grey(rest_moved), grey(rest)[m:-m, m:-m], cv2.TM_SQDIFF)
    dy, dx = np.array(np.unravel_index(np.argmin(scores), scores.shape)) - m
    assert np.hypot(dx, dy) >= 4
    back = cv2.warpAffine(moved, np.float32([[1, 0, -dx], [0, 1, -dy]]), moved.shape[1::-1], flags=cv2.INTER_CUBIC)
    # the dark inside of the mouth, around where it opens (not the clothes below the chin)
    ys, xs = np.nonzero(np.abs(grey(open_) - grey(rest)) > 40)
    win = np.s_[max(0, ys.min() - 6) : ys.max() + 6, max(0, xs.min() - 6) : xs.max() + 6]
    dark, dark_back = grey(open_)[win] < 90, grey(back)[win] < 90
    assert dark.sum() > 50
    assert (dark ^ dark_back).sum() < 0.1 * dark.sum()


def test_the_jaw_turns_about_its_hinges_and_the_cheeks_follow(animator, rig, closed_lips):
    # motion measured by optical flow between the rest and the open frame, not read from the rig
    for r in (rig, closed_lips):
        lm = r.landmarks.astype(np.float64)
        rest = cv2.cvtColor(animator.render_controls(r, {}), cv2.COLOR_RGB2GRAY)
        open_ = cv2.cvtColor(animator.render_controls(r, {"jaw": 1.0}), cv2.COLOR_RGB2GRAY)
        flow = cv2.calcOpticalFlowFarneback(rest, open_, None, 0.5, 3, 9, 5, 5, 1.1, 0)
        mw, chin_v = lm[54, 0] - lm[48, 0], lm[8, 1] - lm[57, 1]

        def drop(p):
            return float(flow[int(p[1]), int(p[0]), 1])

        chin = drop(lm[8] - [0, 0.15 * chin_v])
        assert chin > 4.0
        for angle, corner, out in ((lm[3] + [0.15 * mw, 0], lm[48], -1), (lm[13] - [0.15 * mw, 0], lm[54], 1)):
            assert 0.1 * chin < drop(angle) < 0.6 * chin  # the jaw's angle, near the hinge, drops less
            assert 0.08 * chin < drop(corner + [out * 0.35 * mw, 0]) < 0.6 * chin  # the cheek beside the mouth
        assert abs(drop(lm[33] - [0, 0.1 * mw])) < 0.3  # the nose stays
        assert drop(lm[8] + [0, chin_v]) < 0.15 * chin  # the jaw slides over the neck


def test_lips_pressed_shut_stay_shut_while_the_head_moves(animator, rig):
    # the teeth the press hides must not show through as bright dots along the lip line when the head
    # motion is composed with it (the press's own field jumps at the lip line)
    still = teeth_pixels(rig, animator.render_controls(rig, {"lip_press": 1.0}))
    assert still < 0.2 * teeth_pixels(rig, animator.render_controls(rig, {}))
    for head in ({"head_tx": 0.013}, {"head_roll": 0.02, "head_ty": 0.011}, {"head_yaw": 0.03, "head_pitch": 0.07}):
        assert teeth_pixels(rig, animator.render_controls(rig, {"lip_press": 1.0, **head})) <= 1.5 * still + 3, head


def test_a_closed_eye_is_a_nearly_straight_lash_line_not_the_open_lid_pulled_into_a_u(animator, rig, closed_lips):
    for r in (rig, closed_lips):
        grey = cv2.cvtColor(animator.render_controls(r, {"blink": 1.0}), cv2.COLOR_RGB2GRAY).astype(np.float64)
        bends = []
        for eye in (r.landmarks[36:42], r.landmarks[42:48]):
            eh = float(eye[[4, 5], 1].mean() - eye[[1, 2], 1].mean())
            xs = np.arange(int(np.ceil(eye[0, 0])), int(eye[3, 0]) + 1)
            y0, y1 = int(eye[:, 1].min() - eh), int(eye[:, 1].max() + eh)
            lash = np.array([y0 + np.argmin(grey[y0:y1, x]) for x in xs])  # the darkest row per column
            bends.append(np.abs(lash - np.polyval(np.polyfit(xs, lash, 1), xs)).max() / eh)
        assert np.mean(bends) < 0.55, bends
