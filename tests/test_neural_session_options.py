"""The ONNX Runtime session options the factory builds for TensorRT: CUDA behind TensorRT, one timing
cache per machine shared by every engine, one engine folder per model and profile."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from engines.runtime.session import CPU, CUDA, TIMING_DIR, TRT, EngineCache, SessionFactory, ShapeProfile


def _model(path: Path, factor: float) -> Path:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])
    k = helper.make_tensor("k", TensorProto.FLOAT, [1], [factor])
    graph = helper.make_graph([helper.make_node("Mul", ["x", "k"], ["y"])], "scale", [x], [y], [k])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


class Recorder:
    """Stands in for onnxruntime.InferenceSession and keeps the ``providers`` argument of each session."""

    def __init__(self):
        self.calls: list[list] = []

    def __call__(self, path, sess_options=None, providers=()):
        self.calls.append(list(providers))
        first = providers[0][0] if isinstance(providers[0], tuple) else providers[0]

        class _Session:
            def get_providers(self):
                return [first, CPU]

        return _Session()


@pytest.fixture()
def machine(tmp_path):
    recorder = Recorder()
    factory = SessionFactory(tmp_path / "engines", providers_fn=lambda: [TRT, CUDA, CPU], session_cls=recorder)
    return factory, recorder, tmp_path


def test_tensorrt_always_has_the_cuda_provider_behind_it(machine):
    factory, recorder, tmp = machine
    factory.create(_model(tmp / "a.onnx", 2.0))
    (trt, trt_opts), behind = recorder.calls[0]
    assert trt == TRT and behind == (CUDA, {})  # nodes TensorRT rejects run on the GPU, not the CPU
    assert trt_opts["trt_fp16_enable"] is True and trt_opts["trt_engine_cache_enable"] is True


def test_without_cuda_tensorrt_stands_alone_and_cuda_sessions_get_no_tensorrt_options(tmp_path):
    recorder = Recorder()
    factory = SessionFactory(tmp_path / "e", providers_fn=lambda: [TRT, CPU], session_cls=recorder)
    factory.create(_model(tmp_path / "a.onnx", 2.0))
    assert len(recorder.calls[0]) == 1 and recorder.calls[0][0][0] == TRT
    cuda_only = Recorder()
    SessionFactory(tmp_path / "f", providers_fn=lambda: [CUDA, CPU], session_cls=cuda_only).create(
        _model(tmp_path / "b.onnx", 3.0)
    )
    assert cuda_only.calls[0] == [CUDA]


def test_one_timing_cache_per_machine_is_shared_by_every_engine(machine):
    factory, recorder, tmp = machine
    profile = ShapeProfile(min={"x": (1, 3)}, opt={"x": (4, 3)}, max={"x": (8, 3)})
    factory.create(_model(tmp / "a.onnx", 2.0))
    factory.create(_model(tmp / "b.onnx", 3.0), profile=profile)
    first, second = (call[0][1] for call in recorder.calls)
    assert first["trt_engine_cache_path"] != second["trt_engine_cache_path"]  # one engine per model/profile
    assert first["trt_timing_cache_enable"] and second["trt_timing_cache_enable"]
    timing = Path(first["trt_timing_cache_path"])
    assert timing == Path(second["trt_timing_cache_path"]) and timing.is_dir()
    assert timing.parent == tmp / "engines" / TIMING_DIR
    assert second["trt_profile_opt_shapes"] == "x:4x3"
    # The timing cache is not an engine: listings show only the two engine folders.
    assert len(EngineCache(tmp / "engines").entries()) == 2
