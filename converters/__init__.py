"""Conversion on the host: model zoo, optimization passes, the content-addressed cache, and the exports
(SavedModel, ONNX) that TensorRT-family runtimes need; imports neither devices/ nor harness/."""
