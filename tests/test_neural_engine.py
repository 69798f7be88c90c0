"""The neural animator: fallback chain with notices, cached avatar preparation, frames, blending."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from engines.animate.base import AnimationSettings, EmotionSpan, Notices
from engines.animate.neural.engine import NeuralLipSync, NeuralRig, NeuralTrack
from engines.animate.procedural import ProceduralAnimator
from engines.runtime.session import CPU, CUDA, TRT
from tests.neural_fixtures import cpu_factory, gpu_factory, portrait, speech_like, tiny_engine

W, H, FPS = 96, 96, 25


def _run(engine, seconds=0.4, start=0, stop=None, rig=None, notices=None):
    image, landmarks = portrait()
    rig = rig or engine.prepare(image, landmarks, W, H, AnimationSettings(), notices=notices)
    audio = speech_like(seconds)
    track = engine.track(
        duration=seconds,
        fps=FPS,
        phonemes=None,
        audio=audio,
        sample_rate=16_000,
        emotions=(),
        settings=AnimationSettings(),
        notices=notices,
    )
    n = int(round(seconds * FPS))
    return rig, track, list(engine.frames(rig, track, start, n if stop is None else stop, notices=notices))


@lru_cache(maxsize=1)
def cpu_run():
    engine = tiny_engine()
    rig, track, frames = _run(engine)
    return engine, rig, track, frames


# ------------------------------------------------------------------------- fallback chain


def test_without_weights_it_animates_procedurally_and_says_what_to_download(tmp_path):
    engine = NeuralLipSync(
        models_dir=tmp_path / "models",
        cache_dir=tmp_path,
        factory=cpu_factory(tmp_path / "e"),
        allow_cpu=True,
        torch_cuda=False,
    )
    rig, track, frames = _run(engine, seconds=0.2)
    assert engine.provider == "procedural"
    assert not isinstance(rig, NeuralRig) and not isinstance(track, NeuralTrack)
    assert len(frames) == 5 and frames[0].shape == (H, W, 3) and frames[0].dtype == np.uint8
    notice = " ".join(engine.notices)
    assert "not downloaded (musetalk-1.5, sd-vae-ft-mse, whisper-tiny)" in notice
    assert "Models & Engines" in notice and "procedural animation instead" in notice


def test_without_a_gpu_it_falls_back_to_the_procedural_engine_with_a_notice():
    engine = tiny_engine(factory=cpu_factory(), allow_cpu=False)
    notices = Notices()
    _, _, frames = _run(engine, seconds=0.2, notices=notices)
    assert engine.provider == "procedural" and len(frames) == 5
    assert any("no NVIDIA GPU" in n and "procedural animation instead" in n for n in engine.notices)
    # every render that starts with the engine is told, not only the first
    later = Notices()
    _run(engine, seconds=0.2, notices=later)
    assert list(later) == list(notices)


def test_when_tensorrt_fails_it_runs_on_cuda_and_says_so(tmp_path):
    factory, pretender = gpu_factory(tmp_path / "engines", broken=[TRT])
    engine = tiny_engine(factory=factory, allow_cpu=False)
    rig, track, frames = _run(engine, seconds=0.2)
    assert engine.provider == CUDA
    assert isinstance(rig, NeuralRig) and len(frames) == 5
    assert any("TensorRT unavailable" in n and "continuing on CUDA" in n for n in engine.notices)
    # TensorRT was asked first, with the export profile (batch 1..32, best 16) and FP16.
    trt = [opts for name, opts in pretender.created if name == TRT]
    assert trt and trt[0]["trt_fp16_enable"] is True and trt[0]["trt_profile_opt_shapes"].startswith("audio:16x")


def test_when_tensorrt_and_cuda_fail_it_falls_back_to_procedural_not_to_a_slow_cpu(tmp_path):
    factory, _ = gpu_factory(tmp_path / "engines", broken=[TRT, CUDA])
    engine = tiny_engine(factory=factory, allow_cpu=False)
    _, _, frames = _run(engine, seconds=0.2)
    assert engine.provider == "procedural" and len(frames) == 5
    text = " ".join(engine.notices)
    assert "ONNX Runtime could not use the GPU" in text and "procedural animation instead" in text


def test_a_gpu_failure_while_rendering_finishes_the_clip_procedurally(tmp_path):
    factory, _ = gpu_factory(tmp_path / "engines", run_fails=[TRT, CUDA])
    engine = tiny_engine(factory=factory, allow_cpu=False)
    notices = Notices()
    rig, track, frames = _run(engine, seconds=0.2, notices=notices)
    assert len(frames) == 5 and frames[-1].shape == (H, W, 3)
    text = " ".join(notices)
    assert "out of memory" in text and "procedural animation" in text
    assert engine.provider == "procedural"
    # a later render hears that the engine is off, not about this clip's frames
    later = Notices()
    _run(engine, seconds=0.2, notices=later)
    assert any("earlier render" in n and "procedural animation instead" in n for n in later)
    assert not any("at frame" in n for n in later)


def test_preview_mode_uses_a_batch_one_profile(tmp_path):
    factory, pretender = gpu_factory(tmp_path / "engines")
    engine = tiny_engine(factory=factory, allow_cpu=False, mode="preview")
    result = engine.build()
    assert result["provider"] == TRT and result["batch"] == (1, 1, 1)
    opts = [o for name, o in pretender.created if name == TRT][0]
    assert opts["trt_profile_min_shapes"] == opts["trt_profile_max_shapes"]
    assert opts["trt_profile_max_shapes"].startswith("audio:1x")


def test_procedural_track_is_used_when_no_audio_is_given():
    engine, rig, _, _ = cpu_run()
    notices = Notices()
    track = engine.track(duration=0.2, fps=FPS, phonemes=None, audio=None, sample_rate=None, notices=notices)
    frames = list(engine.frames(rig, track, 0, 5, notices=notices))
    assert len(frames) == 5
    assert any("needs the speech audio" in n for n in notices)
    # the notice belongs to that render: neither the engine nor the next render keeps it
    assert not any("needs the speech audio" in n for n in engine.notices)
    image, landmarks = portrait()
    later = Notices()
    engine.prepare(image, landmarks, W, H, AnimationSettings(), notices=later)
    assert not any("needs the speech audio" in n for n in later)


# ------------------------------------------------------------------------- frames


def test_hybrid_frames_are_the_procedural_head_with_only_the_lower_face_generated():
    engine, rig, track, frames = cpu_run()
    assert engine.provider == CPU and isinstance(rig, NeuralRig)
    assert len(frames) == 10 and all(f.shape == (H, W, 3) and f.dtype == np.uint8 for f in frames)
    heads = list(ProceduralAnimator().frames(rig.procedural, track.head, 0, 10))
    eyes_down_to = int(rig.frame_landmarks[[36, 45, 27], 1].max()) + 2  # eyes, brows, forehead, hair
    for frame, head in zip(frames, heads):
        assert np.array_equal(frame[:eyes_down_to], head[:eyes_down_to])  # the procedural head, untouched
        lower = np.any(frame != head, axis=2)
        assert lower.any() and lower[eyes_down_to:].sum() == lower.sum()
    # The procedural head moves (sway, breathing), and the audio changes the generated mouth.
    assert any(not np.array_equal(h, heads[0]) for h in heads[1:])
    assert np.abs(frames[2].astype(int) - frames[7].astype(int)).max() > 0


def test_choosing_the_neural_engine_keeps_blinks_and_emotion_of_the_procedural_head():
    engine, rig, _, _ = cpu_run()
    seconds = 0.6
    happy = engine.track(
        duration=seconds,
        fps=FPS,
        phonemes=None,
        audio=speech_like(seconds),
        sample_rate=16_000,
        emotions=[EmotionSpan(0.0, seconds, "surprised")],
        settings=AnimationSettings(blink_rate=3.0),
    )
    calm = engine.track(duration=seconds, fps=FPS, phonemes=None, audio=speech_like(seconds), sample_rate=16_000)
    n = int(seconds * FPS)
    top = int(rig.frame_landmarks[[36, 45, 27], 1].max()) + 2
    a = [f[:top] for f in engine.frames(rig, happy, 0, n)]
    b = [f[:top] for f in engine.frames(rig, calm, 0, n)]
    assert any(np.abs(x.astype(int) - y.astype(int)).max() > 20 for x, y in zip(a, b))  # brows, lids moved


def test_the_generated_mouth_follows_the_moved_head():
    import cv2

    engine, rig, _, _ = cpu_run()
    crop = engine._runner.generate(rig.latents[None], engine._silence_tokens())[0]
    nod = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 3.0]])  # the whole head 2 px right, 3 px down
    moved_head = cv2.warpAffine(rig.background, nod, (W, H), borderMode=cv2.BORDER_REPLICATE)
    at_rest = NeuralLipSync.compose(rig, crop)
    moved = NeuralLipSync.compose(rig, crop, moved_head)
    expected = cv2.warpAffine(at_rest, nod, (W, H), borderMode=cv2.BORDER_REPLICATE)
    f = rig.face
    inner = (slice(f.y + f.h // 2, f.y + f.h - 4), slice(f.x + 4, f.x + f.w - 4))  # lower face
    follows = np.abs(moved[inner].astype(int) - expected[inner].astype(int)).mean()
    stays = np.abs(moved[inner].astype(int) - at_rest[inner].astype(int)).mean()
    assert follows < 0.35 * stays


def test_lip_amplitude_is_switched_off_for_the_network_with_a_notice():
    engine, rig, _, _ = cpu_run()
    notices = Notices()
    args = dict(duration=0.2, fps=FPS, phonemes=None, audio=speech_like(0.2), sample_rate=16_000)
    low = engine.track(**args, settings=AnimationSettings(lip_amplitude=0.3), notices=notices)
    assert any("lip amplitude has no effect on the neural lip-sync" in n for n in notices)
    normal = engine.track(**args, settings=AnimationSettings())
    # the same mouth: no cross-fade towards the still photo
    assert all(np.array_equal(x, y) for x, y in zip(engine.frames(rig, low, 0, 5), engine.frames(rig, normal, 0, 5)))
    quiet = Notices()
    engine.track(**args, settings=AnimationSettings(), notices=quiet)
    assert not quiet


def test_frames_are_the_same_however_the_clip_is_chunked():
    engine, rig, track, frames = cpu_run()
    chunked = list(engine.frames(rig, track, 0, 3)) + list(engine.frames(rig, track, 3, 10))
    assert all(np.array_equal(a, b) for a, b in zip(frames, chunked))


def test_mouth_opening_is_measured_in_neural_frames_and_grows_with_a_dark_open_mouth():
    import cv2

    engine, rig, track, frames = cpu_run()
    assert all(np.isfinite(engine.mouth_opening(rig, f)) and engine.mouth_opening(rig, f) >= 0 for f in frames)
    still = engine.mouth_opening(rig, rig.background)
    lm = rig.frame_landmarks
    centre = tuple(int(round(v)) for v in 0.5 * (lm[62] + lm[66]))
    width = float(lm[54, 0] - lm[48, 0])
    open_mouth = rig.background.copy()
    cv2.ellipse(open_mouth, centre, (int(0.3 * width), int(0.25 * width)), 0, 0, 360, (40, 15, 15), -1)
    assert engine.mouth_opening(rig, open_mouth) > still + 0.2 * width
    # frames drawn procedurally (no audio) are measured with the procedural engine's rig
    procedural_track = engine.track(duration=0.2, fps=FPS, phonemes=None, audio=None, sample_rate=None)
    frame = next(iter(engine.frames(rig, procedural_track, 0, 1)))
    assert engine.mouth_opening(rig, frame) == ProceduralAnimator().mouth_opening(rig.procedural, frame)


# ------------------------------------------------------------------------- avatar preparation cache


def test_avatar_preparation_is_cached_and_reused_across_renders(monkeypatch):
    engine, rig, _, _ = cpu_run()
    image, landmarks = portrait()
    path = engine.rig_path(rig.key)
    assert path.exists()
    fresh = tiny_engine()  # a new process would start like this
    assert fresh.ready()

    def no_work(*a, **k):
        raise AssertionError("prepared again although the cache matched")

    monkeypatch.setattr(fresh, "_prepare", no_work)
    again = fresh.prepare(image, landmarks, W, H, AnimationSettings())
    assert again.key == rig.key and np.array_equal(again.latents, rig.latents)
    assert np.array_equal(again.mask, rig.mask) and again.face == rig.face


@pytest.mark.parametrize("change", ["landmarks", "size", "framing", "pixels", "weights"])
def test_avatar_cache_key_changes_with_what_the_preparation_depends_on(change):
    engine, rig, _, _ = cpu_run()
    image, landmarks = portrait()
    settings = AnimationSettings()
    w, h = W, H
    if change == "landmarks":
        landmarks = landmarks + np.float32(1.0)
    elif change == "size":
        w = 128
    elif change == "framing":
        settings = AnimationSettings(crop_expand=2.2)
    elif change == "pixels":
        image = image.copy()
        image[0, 0] ^= 1
    else:
        engine = tiny_engine(random_spec=None, seed=0)
        engine._digest = "other-weights"
    assert engine.rig_key(image, landmarks, w, h, settings) != rig.key


def test_a_damaged_avatar_cache_is_prepared_again():
    engine, rig, _, _ = cpu_run()
    image, landmarks = portrait()
    path = engine.rig_path(rig.key)
    path.write_bytes(b"not an npz")
    again = engine.prepare(image, landmarks, W, H, AnimationSettings())
    assert np.array_equal(again.latents, rig.latents)
    assert np.load(path, allow_pickle=False)["latents"].shape == rig.latents.shape


def test_a_rig_saved_by_another_model_or_the_procedural_engine_is_refused():
    engine, rig, _, _ = cpu_run()
    arrays = engine.rig_to_arrays(rig)
    assert isinstance(engine.rig_from_arrays(arrays), NeuralRig)
    arrays["model"] = np.array("another-model")
    with pytest.raises(ValueError, match="another lip-sync model"):
        engine.rig_from_arrays(arrays)
    image, landmarks = portrait()
    procedural = ProceduralAnimator().prepare(image, landmarks, W, H, AnimationSettings())
    with pytest.raises(ValueError, match="procedural"):
        engine.rig_from_arrays(procedural.to_arrays())


def test_rigs_saved_while_falling_back_still_load(tmp_path):
    engine = tiny_engine(factory=cpu_factory(), allow_cpu=False)
    image, landmarks = portrait()
    procedural = ProceduralAnimator().prepare(image, landmarks, W, H, AnimationSettings())
    back = engine.rig_from_arrays(procedural.to_arrays())
    assert type(back) is type(procedural)
