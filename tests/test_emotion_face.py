"""The face keeps its emotion across sentence chunks, at the strength the script asks for."""

from __future__ import annotations

import numpy as np
import pytest

from engines.animate.base import AnimationSettings, EmotionSpan
from engines.animate.motion import emotion_controls, emotion_presets
from engines.animate.procedural import ProceduralAnimator

FPS = 25
CTX = FPS  # the render computes motion one second beyond each chunk's edges


@pytest.fixture(scope="module")
def animator():
    return ProceduralAnimator()


def chunk(animator, frames: int, prev: str, cur: str, nxt: str, seed: int = 0, strength: float = 1.0):
    """One sentence chunk's controls as a render makes them: motion with a second of context on both
    sides, emotions of the neighbours in the context, edges settled (frames ``CTX..CTX+frames``)."""
    body = (CTX + frames) / FPS
    spans = [
        EmotionSpan(0.0, CTX / FPS, prev, strength),
        EmotionSpan(CTX / FPS, body, cur, strength),
        EmotionSpan(body, body + 2.0, nxt, strength),
    ]
    track = animator.track(
        duration=(frames + 2 * CTX) / FPS,
        fps=FPS,
        phonemes=None,
        audio=None,
        sample_rate=None,
        emotions=spans,
        settings=AnimationSettings(seed=seed),
    )
    animator.settle_edges(track, CTX, CTX + frames, FPS)
    return track, track.controls[CTX : CTX + frames]


def test_sad_head_stays_lowered_across_sentence_chunks(animator):
    track, first = chunk(animator, 75, "sad", "sad", "sad", seed=1)
    _, second = chunk(animator, 60, "sad", "sad", "sad", seed=2)
    pitch, ty = track.names.index("head_pitch"), track.names.index("head_ty")
    pose = emotion_presets()["sad"]["controls"]
    # at the chunk edges the head sits in the sad pose, not back at the photo's
    for frames in (first, second):
        assert frames[0, pitch] == pytest.approx(pose["head_pitch"], abs=0.02)
        assert frames[-1, pitch] == pytest.approx(pose["head_pitch"], abs=0.02)
        assert frames[:, pitch].mean() > 0.6 * pose["head_pitch"]
        assert frames[:, ty].mean() > 0.6 * pose["head_ty"]
    # and the chunks join without a jump
    assert np.abs(first[-1] - second[0])[[pitch, ty]].max() < 0.02


def test_brows_lids_and_mouth_corners_persist_and_change_only_at_an_emotion_change(animator):
    track, sad = chunk(animator, 75, "sad", "sad", "happy")
    _, happy = chunk(animator, 75, "sad", "happy", "happy")
    names = track.names
    corners, brows, smile = names.index("corners_down"), names.index("brow_sad"), names.index("smile")
    # the whole sad sentence keeps the sad brows and corners until the ramp at its very end
    assert sad[: 75 - 12, corners].min() > 0.8 and sad[: 75 - 12, brows].min() > 0.8
    assert happy[12:, smile].min() > 0.9 and happy[12:, corners].max() < 0.05
    # the change to happy is one smooth ramp across the chunk edge, no jump
    joined = np.concatenate([sad[:, smile], happy[:, smile]])
    assert np.abs(np.diff(joined)).max() < 0.2
    for name in ("head_roll", "head_pitch", "head_ty"):  # the edge step is one more frame of the same ramp
        i = names.index(name)
        ramp_step = max(np.abs(np.diff(sad[-4:, i])).max(), np.abs(np.diff(happy[:4, i])).max())
        assert abs(sad[-1, i] - happy[0, i]) <= ramp_step + 0.005, name


def test_strength_scales_the_face_from_the_same_number_as_the_voice():
    settings = AnimationSettings()
    spans = lambda k: [EmotionSpan(0.0, 4.0, "happy", k)]  # noqa: E731
    half = emotion_controls(spans(0.5), 100, FPS, settings)
    full = emotion_controls(spans(1.0), 100, FPS, settings)
    strong = emotion_controls(spans(1.5), 100, FPS, settings)
    none = emotion_controls(spans(0.0), 100, FPS, settings)
    assert np.allclose(half, 0.5 * full, atol=1e-6) and np.allclose(strong, 1.5 * full, atol=1e-6)
    assert np.abs(none).max() == 0.0
    over = emotion_controls(spans(5.0), 100, FPS, settings)  # beyond the range: held at the strongest
    assert np.allclose(over, 2.0 * full, atol=1e-6)
