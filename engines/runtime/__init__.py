"""One ONNX Runtime session factory for every ONNX model, with a keyed TensorRT engine cache."""

from engines.runtime.session import (  # noqa: F401
    PROVIDER_ORDER,
    EngineCache,
    EngineKey,
    Session,
    SessionFactory,
    ShapeProfile,
    file_sha256,
    gpu_identity,
)
