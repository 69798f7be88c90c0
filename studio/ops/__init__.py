"""Keeping the studio healthy: pre-flight checks, benchmarks and the compiled-engine cache.

``doctor`` says what the studio needs and found, ``benchmark`` times a real render by stage,
``engines`` lists, builds and clears the TensorRT/ONNX engine cache (used by the CLI and the UI).
"""
