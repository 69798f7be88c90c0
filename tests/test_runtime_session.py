"""The ONNX Runtime session factory: provider order, fallback, engine-cache keys and rebuilds."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from engines.runtime import EngineCache, EngineKey, SessionFactory, ShapeProfile
from engines.runtime.session import CPU, CUDA, TRT


@pytest.fixture()
def double_model(tmp_path):
    """A real ONNX model: y = 2 * x, with a dynamic batch axis."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])
    two = helper.make_tensor("two", TensorProto.FLOAT, [1], [2.0])
    graph = helper.make_graph([helper.make_node("Mul", ["x", "two"], ["y"])], "double", [x], [y], [two])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "double.onnx"
    onnx.save(model, str(path))
    return path


class FakeSession:
    """Stands in for onnxruntime.InferenceSession on a machine without GPU providers.

    ``broken`` providers fail to load; ``run_fails`` providers load but fail at run time (like an
    out-of-memory error); ``dropped`` providers are silently replaced by CPU (missing libraries).
    """

    created: list[tuple[str, dict]] = []

    def __init__(self, broken=(), run_fails=(), dropped=()):
        self.broken, self.run_fails, self.dropped = set(broken), set(run_fails), set(dropped)

    def __call__(self, path, sess_options=None, providers=()):
        name, opts = providers[0] if isinstance(providers[0], tuple) else (providers[0], {})
        FakeSession.created.append((name, opts))
        if name in self.broken:
            raise RuntimeError(f"{name} failed to initialise")
        outer = self

        class _S:
            def get_providers(self_inner):
                return [CPU] if name in outer.dropped else [name, CPU]

            def run(self_inner, names, feeds):
                if name in outer.run_fails:
                    raise RuntimeError("CUDA error: out of memory")
                return [feeds["x"] * 2]

        return _S()


def factory(tmp_path, **fake):
    FakeSession.created = []
    return SessionFactory(tmp_path / "engines", providers_fn=lambda: [TRT, CUDA, CPU], session_cls=FakeSession(**fake))


def test_cpu_only_machine_runs_the_model_on_cpu(tmp_path, double_model):
    sess = SessionFactory(tmp_path / "engines").create(double_model)
    out = sess.run(None, {"x": np.ones((4, 3), np.float32)})[0]
    assert sess.provider == CPU
    np.testing.assert_allclose(out, 2.0)


def test_provider_order_is_tensorrt_then_cuda_then_cpu(tmp_path, double_model):
    f = factory(tmp_path)
    assert f.chain() == [TRT, CUDA, CPU]
    sess = f.create(double_model)
    assert sess.provider == TRT and sess.notices == []
    opts = FakeSession.created[0][1]
    assert opts["trt_fp16_enable"] is True and opts["trt_engine_cache_enable"] is True
    assert opts["trt_timing_cache_enable"] is True
    assert opts["trt_engine_cache_path"].startswith(str(tmp_path / "engines"))


def test_missing_tensorrt_falls_back_to_cuda_and_says_so(tmp_path, double_model):
    sess = factory(tmp_path, broken=[TRT]).create(double_model)
    assert sess.provider == CUDA
    assert any("TensorRT unavailable" in n and "continuing on CUDA" in n for n in sess.notices)


def test_silently_dropped_provider_is_noticed(tmp_path, double_model):
    sess = factory(tmp_path, dropped=[TRT, CUDA]).create(double_model)
    assert sess.provider == CPU
    assert "continuing on CPU" in sess.notices[-1]


def test_gpu_failure_at_run_time_continues_on_next_provider(tmp_path, double_model):
    sess = factory(tmp_path, run_fails=[TRT, CUDA]).create(double_model)
    out = sess.run(None, {"x": np.ones((1, 3), np.float32)})[0]
    np.testing.assert_allclose(out, 2.0)
    assert sess.provider == CPU
    assert any("out of memory" in n for n in sess.notices)


def test_profile_shapes_reach_tensorrt(tmp_path, double_model):
    profile = ShapeProfile(min={"x": (1, 3)}, opt={"x": (8, 3)}, max={"x": (32, 3)})
    factory(tmp_path).create(double_model, profile=profile)
    opts = FakeSession.created[0][1]
    assert opts["trt_profile_min_shapes"] == "x:1x3"
    assert opts["trt_profile_opt_shapes"] == "x:8x3"
    assert opts["trt_profile_max_shapes"] == "x:32x3"


KEY = EngineKey(
    model_sha256="a" * 64,
    gpu_name="NVIDIA GeForce RTX 4090",
    compute_capability="8.9",
    tensorrt_version="10.13",
    ort_version="1.31.1",
    precision="fp16",
    profile="static",
)


@pytest.mark.parametrize(
    "field,value",
    [
        ("model_sha256", "b" * 64),
        ("gpu_name", "NVIDIA H100"),
        ("compute_capability", "9.0"),
        ("tensorrt_version", "10.14"),
        ("ort_version", "1.32.0"),
        ("precision", "fp32"),
        ("profile", "min[x:1x3]"),
    ],
)
def test_engine_cache_folder_changes_with_every_key_part(field, value):
    assert EngineCache("/c").folder(replace(KEY, **{field: value})) != EngineCache("/c").folder(KEY)


def test_engine_key_depends_on_model_content(tmp_path, double_model):
    f = SessionFactory(tmp_path / "engines")
    k1 = f.engine_key(double_model, None)
    other = tmp_path / "other.onnx"
    other.write_bytes(double_model.read_bytes() + b"\0")
    assert f.engine_key(other, None).model_sha256 != k1.model_sha256
    assert f.engine_key(double_model, ShapeProfile({"x": (1, 3)}, {"x": (2, 3)}, {"x": (4, 3)})) != k1


def test_stale_cache_folder_is_wiped_and_rebuilt(tmp_path):
    cache = EngineCache(tmp_path)
    folder, trusted = cache.prepare(KEY)
    assert not trusted
    (folder / "engine.plan").write_bytes(b"old engine")
    (folder / "manifest.json").write_text(json.dumps({"key": {"model_sha256": "something else"}}))
    folder2, trusted2 = cache.prepare(KEY)
    assert folder2 == folder and not trusted2
    assert not (folder / "engine.plan").exists()


def test_committed_cache_is_trusted_and_listed(tmp_path, double_model):
    cache = EngineCache(tmp_path)
    folder, _ = cache.prepare(KEY)
    (folder / "engine.plan").write_bytes(b"x" * 100)
    cache.commit(KEY, double_model)
    assert cache.prepare(KEY) == (folder, True)
    (row,) = cache.entries()
    assert row["bytes"] >= 100 and row["key"]["gpu_name"] == KEY.gpu_name
    assert cache.clear() == 1 and cache.entries() == []


def test_engine_that_fails_to_load_is_rebuilt_once(tmp_path, double_model):
    calls = {"n": 0}

    class FlakyTRT(FakeSession):
        def __call__(self, path, sess_options=None, providers=()):
            name = providers[0][0] if isinstance(providers[0], tuple) else providers[0]
            if name == TRT:
                calls["n"] += 1
                if calls["n"] == 1:
                    raise RuntimeError("deserialize engine failed")
            return super().__call__(path, sess_options, providers)

    f = SessionFactory(tmp_path / "engines", providers_fn=lambda: [TRT, CUDA, CPU], session_cls=FlakyTRT())
    key = f.engine_key(double_model, None)
    folder, _ = f.cache.prepare(key)
    (folder / "corrupt.engine").write_bytes(b"garbage")
    sess = f.create(double_model)
    assert sess.provider == TRT and calls["n"] == 2
    assert not (folder / "corrupt.engine").exists()
    assert f.cache.prepare(key)[1] is True
