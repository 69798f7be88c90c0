"""One ONNX Runtime session factory for every ONNX model, with a keyed TensorRT engine cache."""

from engines.runtime.session import (  # noqa: F401
    PROVIDER_ORDER,
    EngineCache,
    EngineKey,
    Session,
    SessionFactory,
    ShapeProfile,
    gpu_identity,
    file_sha256,
)
