"""ONNX export of the UNet and VAE decoder: dynamic batch, ONNX Runtime matches PyTorch, cached by key."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from engines.animate.neural import export
from engines.runtime.session import CPU, TRT
from tests.neural_fixtures import cpu_factory, gpu_factory, scratch, tiny_nets


@lru_cache(maxsize=1)
def exported():
    nets = tiny_nets()
    calls = []

    def make():
        calls.append(1)
        return nets

    out = export.ensure_exported(scratch() / "export-test", make, spec_digest=nets.spec.digest(), weights="w1")
    return out, calls


def _inputs(batch: int, seed: int = 0):
    spec = tiny_nets().spec
    rng = np.random.default_rng(seed)
    lat = rng.standard_normal((batch, 8, spec.latent_size, spec.latent_size)).astype(np.float32)
    aud = rng.standard_normal((batch, spec.audio_tokens, spec.audio_dim)).astype(np.float32)
    return lat, aud


def test_export_writes_both_graphs_with_a_dynamic_batch_axis():
    import onnx

    models, _ = exported()
    for path, names in ((models.unet, ["latents", "audio"]), (models.vae_decoder, ["latents"])):
        graph = onnx.load(str(path), load_external_data=False).graph
        assert [i.name for i in graph.input] == names
        for value in (*graph.input, *graph.output):
            assert value.type.tensor_type.shape.dim[0].dim_param == "batch"


@pytest.mark.parametrize("batch", [1, 3])
def test_onnx_runtime_on_the_cpu_matches_pytorch(batch):
    models, _ = exported()
    factory = cpu_factory()
    unet, vae = factory.create(models.unet), factory.create(models.vae_decoder)
    lat, aud = _inputs(batch, seed=batch)
    predicted = unet.run(["predicted"], {"latents": lat, "audio": aud})[0]
    image = vae.run(["image"], {"latents": predicted})[0]
    reference = tiny_nets().generate(lat, aud)
    assert unet.provider == CPU
    assert image.shape == reference.shape == (batch, 3, tiny_nets().spec.image_size, tiny_nets().spec.image_size)
    np.testing.assert_allclose(image, reference, atol=2e-4)


def test_export_is_cached_by_key_and_redone_for_other_weights():
    models, calls = exported()
    nets = tiny_nets()
    again = export.ensure_exported(
        scratch() / "export-test",
        lambda: pytest.fail("re-exported a cached model"),
        spec_digest=nets.spec.digest(),
        weights="w1",
    )
    assert again.unet == models.unet and len(calls) == 1
    assert export.graph_metadata(models.unet)["studio.weights"] == "w1"
    other = export.ensure_exported(
        scratch() / "export-test", lambda: nets, spec_digest=nets.spec.digest(), weights="w2"
    )
    assert other.folder != models.folder
    assert export.graph_metadata(other.unet)["studio.weights"] == "w2"
    assert export.export_key(nets.spec.digest(), "w1") != export.export_key(nets.spec.digest(), "w2")


def test_an_unfinished_export_is_not_trusted(tmp_path):
    nets = tiny_nets()
    key = export.export_key(nets.spec.digest(), "w1")
    folder = tmp_path / f"musetalk-{key}"
    folder.mkdir()
    (folder / "export.json").write_text(
        '{"key": "' + key + '", "unet": "unet.onnx", "vae_decoder": "vae_decoder.onnx", "weights": "w1"}'
    )
    assert export.cached_export(tmp_path, "musetalk", key) is None  # graphs missing: export again


def test_weights_digest_follows_file_content_and_is_remembered(tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"one")
    b.write_bytes(b"two")
    memo = tmp_path / "memo.json"
    first = export.weights_digest([a, b], memo)
    assert memo.exists() and export.weights_digest([a, b], memo) == first
    b.write_bytes(b"three")
    assert export.weights_digest([a, b], memo) != first


def test_tensorrt_gets_fp16_min_opt_max_batch_profiles_and_a_keyed_engine_cache(tmp_path):
    models, _ = exported()
    spec = tiny_nets().spec
    factory, pretender = gpu_factory(tmp_path / "engines")
    profile = export.unet_profile(spec, 1, 16, 32)
    session = factory.create(models.unet, profile=profile)
    assert session.provider == TRT
    name, opts = pretender.created[0]
    size = spec.latent_size
    assert name == TRT and opts["trt_fp16_enable"] is True
    assert opts["trt_profile_min_shapes"] == f"audio:1x{spec.audio_tokens}x{spec.audio_dim},latents:1x8x{size}x{size}"
    assert opts["trt_profile_opt_shapes"] == f"audio:16x{spec.audio_tokens}x{spec.audio_dim},latents:16x8x{size}x{size}"
    assert opts["trt_profile_max_shapes"] == f"audio:32x{spec.audio_tokens}x{spec.audio_dim},latents:32x8x{size}x{size}"
    key = factory.engine_key(models.unet, profile)
    assert opts["trt_engine_cache_path"] == str(factory.cache.folder(key))
    assert key.precision == "fp16" and key.profile == profile.describe()
    from engines.files import file_sha256

    assert key.model_sha256 == file_sha256(models.unet)
    # The preview profile (batch 1 only) is a different engine, in its own folder.
    assert factory.engine_key(models.unet, export.unet_profile(spec, 1, 1, 1)).digest() != key.digest()
    rows = factory.cache.entries()
    assert len(rows) == 1 and rows[0]["key"]["profile"] == profile.describe()


def test_graphs_over_the_protobuf_limit_keep_their_weights_in_one_data_file(tmp_path, monkeypatch):
    monkeypatch.setattr(export, "_PROTO_LIMIT", 0)  # the real UNet (3.4 GB in float32) takes this path
    nets = tiny_nets()
    big = export.ensure_exported(tmp_path, lambda: nets, spec_digest=nets.spec.digest(), weights="big")
    data = big.unet.with_name("unet.onnx.data")
    assert data.is_file() and data.stat().st_size > big.unet.stat().st_size
    assert export.graph_metadata(big.unet)["studio.weights"] == "big"
    lat, aud = _inputs(2, seed=5)
    session = cpu_factory().create(big.unet)
    small = cpu_factory().create(exported()[0].unet)
    np.testing.assert_allclose(
        session.run(None, {"latents": lat, "audio": aud})[0],
        small.run(None, {"latents": lat, "audio": aud})[0],
        atol=1e-5,
    )


@lru_cache(maxsize=1)
def exported_fp16():
    nets = tiny_nets()
    return export.ensure_exported(
        scratch() / "export-fp16", lambda: nets, spec_digest=nets.spec.digest(), weights="w1", precision="fp16"
    )


def test_gpu_export_is_one_fp16_onnx_file_with_float32_inputs_and_outputs():
    import onnx

    models = exported_fp16()
    assert sorted(p.name for p in models.folder.iterdir()) == ["export.json", "unet.onnx", "vae_decoder.onnx"]
    graph = onnx.load(str(models.unet), load_external_data=False).graph
    kinds = {onnx.TensorProto.DataType.Name(t.data_type) for t in graph.initializer}
    assert kinds == {"FLOAT16"}  # every weight is half: the released UNet's 3.4 GB become 1.7 GB
    assert all(t.data_location != onnx.TensorProto.EXTERNAL for t in graph.initializer)
    for value in (*graph.input, *graph.output):
        assert value.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert export.graph_metadata(models.unet)["studio.precision"] == "fp16"
    # another precision is another export (and another TensorRT engine), never the same folder
    assert models.folder != exported()[0].folder


def test_fp16_unet_computes_what_pytorch_does_within_half_precision():
    models = exported_fp16()
    unet = cpu_factory().create(models.unet)
    lat, aud = _inputs(2, seed=5)
    predicted = unet.run(["predicted"], {"latents": lat, "audio": aud})[0]
    import torch

    with torch.no_grad():
        reference = tiny_nets().unet_step()(torch.from_numpy(lat), torch.from_numpy(aud)).numpy()
    assert predicted.dtype == np.float32
    np.testing.assert_allclose(predicted, reference, atol=5e-3 * max(1.0, float(np.abs(reference).max())))


def test_the_engine_exports_fp16_for_a_gpu_and_fp32_for_the_cpu(tmp_path):
    from tests.neural_fixtures import tiny_engine

    gpu, _ = gpu_factory(tmp_path / "engines")
    assert tiny_engine(factory=gpu).precision == "fp16"
    assert tiny_engine(factory=cpu_factory()).precision == "fp32"
