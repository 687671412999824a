"""The ONNX Runtime backend (CPU execution provider): development machines, CI, PCs without GPU."""

from runtime.backends.onnxruntime.backend import OnnxRuntimeBackend

__all__ = ["OnnxRuntimeBackend"]
