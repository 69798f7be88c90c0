"""The PyTorch path (the GPU tier without ONNX Runtime GPU): same frames as the ONNX path, GPU-side paste."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from engines.animate.base import AnimationSettings
from engines.animate.neural import musetalk
from engines.animate.neural.engine import NeuralLipSync
from engines.animate.neural.torch_path import GpuCompositor, TorchLipSync
from tests.neural_fixtures import portrait, speech_like, tiny_engine, tiny_nets

W, H = 96, 96


def _inputs(batch: int, seed: int = 0):
    spec = tiny_nets().spec
    rng = np.random.default_rng(seed)
    lat = rng.standard_normal((1, 8, spec.latent_size, spec.latent_size)).astype(np.float32)
    aud = rng.standard_normal((batch, spec.audio_tokens, spec.audio_dim)).astype(np.float32)
    return lat, aud


@lru_cache(maxsize=1)
def onnx_engine_run():
    """The ONNX Runtime (CPU) engine on the tiny weights: rig, track and 6 frames."""
    engine = tiny_engine()
    image, landmarks = portrait()
    rig = engine.prepare(image, landmarks, W, H, AnimationSettings())
    track = engine.track(duration=0.24, fps=25, audio=speech_like(0.24), sample_rate=16_000)
    return engine, rig, track, list(engine.frames(rig, track, 0, 6))


@pytest.mark.parametrize("batch", [1, 3])
def test_torch_path_matches_the_pytorch_reference(batch):
    runner = TorchLipSync(musetalk.build_random(musetalk.tiny_spec(), seed=0), device="cpu")
    assert runner.provider == "PyTorch CPU FLOAT32" and not runner.cuda_graphs
    lat, aud = _inputs(batch, seed=batch)
    out = runner.generate(lat, aud)
    reference = tiny_nets().generate(np.repeat(lat, batch, axis=0), aud)
    assert out.shape == (batch, tiny_nets().spec.image_size, tiny_nets().spec.image_size, 3)
    np.testing.assert_allclose(out, np.transpose(reference, (0, 2, 3, 1)) * 255.0, atol=0.05)


def test_fused_qkv_projections_give_the_same_result():
    fused = TorchLipSync(musetalk.build_random(musetalk.tiny_spec(), seed=0), device="cpu", fuse_qkv=True)
    plain = TorchLipSync(
        musetalk.build_random(musetalk.tiny_spec(), seed=0), device="cpu", fuse_qkv=False, channels_last=False
    )
    lat, aud = _inputs(2)
    np.testing.assert_allclose(fused.generate(lat, aud), plain.generate(lat, aud), atol=0.05)


def test_gpu_side_paste_matches_the_numpy_paste():
    engine, rig, _, _ = onnx_engine_run()
    import torch

    rng = np.random.default_rng(3)
    size = rig.crop.shape[0]
    crops = rng.uniform(0, 1, (2, 3, size, size)).astype(np.float32)
    gpu = GpuCompositor(rig, "cpu").rgb(torch.from_numpy(crops)).numpy()
    for i in range(2):
        cpu = NeuralLipSync.compose(rig, np.transpose(crops[i], (1, 2, 0)) * 255.0)
        diff = np.abs(gpu[i].astype(int) - cpu.astype(int))
        assert diff.max() <= 3 and diff.mean() < 0.2
    # Nothing outside the face box changes.
    f = rig.face
    keep = np.ones((H, W), bool)
    keep[max(f.y, 0) : f.y + f.h, max(f.x, 0) : f.x + f.w] = False
    assert np.array_equal(gpu[0][keep], rig.background[keep])


def test_engine_on_the_torch_path_draws_the_same_frames_as_on_onnx_runtime():
    engine, rig, track, frames = onnx_engine_run()
    other = NeuralLipSync(cache_dir=engine.cache_dir, torch_cuda=False)
    other.use(
        musetalk.build_random(musetalk.tiny_spec(), seed=0),
        TorchLipSync(musetalk.build_random(musetalk.tiny_spec(), seed=0), device="cpu"),
        engine.model_digest,
    )
    mine = list(other.frames(rig, track, 0, 6))
    assert len(mine) == 6
    for a, b in zip(frames, mine):
        diff = np.abs(a.astype(int) - b.astype(int))
        assert diff.max() <= 3 and diff.mean() < 0.2


def test_yuv420_conversion_round_trips_through_the_encoder_format():
    import torch

    av = pytest.importorskip("av")
    yy, xx = np.mgrid[0:64, 0:96]
    frame = np.stack([xx * 2.5, yy * 3.5, 255 - xx * 2.0], axis=-1).clip(0, 255).astype(np.uint8)
    yuv = GpuCompositor.yuv420(torch.from_numpy(frame)[None])[0].numpy()
    assert yuv.shape == (96, 96)  # 64 rows of Y, then 16 + 16 rows of quarter-size U and V
    back = av.VideoFrame.from_ndarray(yuv, format="yuv420p").to_ndarray(format="rgb24")
    assert np.abs(back.astype(int) - frame.astype(int)).mean() < 3.0


@pytest.mark.gpu
def test_cuda_fp16_with_graphs_matches_float32_and_replays_per_batch_size():
    import torch

    assert torch.cuda.is_available()
    runner = TorchLipSync(musetalk.build_random(musetalk.tiny_spec(), seed=0), device="cuda", cuda_graphs=True)
    assert runner.cuda_graphs and "CUDA FLOAT16" in runner.provider
    for batch in (1, 4, 1):
        lat, aud = _inputs(batch, seed=batch)
        reference = np.transpose(tiny_nets().generate(np.repeat(lat, batch, axis=0), aud), (0, 2, 3, 1)) * 255.0
        out = runner.generate(lat, aud)
        assert np.abs(out - reference).mean() < 2.0  # FP16 on the 0..255 scale
    assert sorted(runner._graphs) == [1, 4]


def test_without_onnx_runtime_gpu_the_engine_picks_the_pytorch_cuda_tier_and_says_so(monkeypatch):
    """The tier choice, checked on the CPU: PyTorch 'CUDA' is simulated by running the same class on the CPU."""
    from engines.animate.neural import torch_path
    from tests.neural_fixtures import cpu_factory

    real = torch_path.TorchLipSync
    monkeypatch.setattr(torch_path, "TorchLipSync", lambda nets, device=None, **kw: real(nets, device="cpu", **kw))
    engine = tiny_engine(factory=cpu_factory(), allow_cpu=False, torch_cuda=True)
    monkeypatch.setattr(engine, "_torch_cuda_available", lambda: True)
    image, landmarks = portrait()
    rig = engine.prepare(image, landmarks, W, H, AnimationSettings())
    track = engine.track(duration=0.12, fps=25, audio=speech_like(0.12), sample_rate=16_000)
    frames = list(engine.frames(rig, track, 0, 3))
    assert engine.provider.startswith("PyTorch") and len(frames) == 3 and frames[0].shape == (H, W, 3)
    assert any("no TensorRT or CUDA provider" in n and "PyTorch CUDA (FP16)" in n for n in engine.notices)


@pytest.mark.gpu
def test_engine_runs_on_pytorch_cuda_when_onnx_runtime_has_no_gpu_provider():
    from tests.neural_fixtures import cpu_factory

    engine = NeuralLipSync(random_spec=musetalk.tiny_spec(), factory=cpu_factory(), allow_cpu=False)
    image, landmarks = portrait()
    rig = engine.prepare(image, landmarks, W, H, AnimationSettings())
    track = engine.track(duration=1.0, fps=25, audio=speech_like(1.0), sample_rate=16_000)
    frames = list(engine.frames(rig, track, 0, 25))
    assert engine.provider == "PyTorch CUDA FLOAT16" and len(frames) == 25
    assert any("PyTorch CUDA" in n for n in engine.notices)
