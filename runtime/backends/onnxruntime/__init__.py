"""The ONNX Runtime backend (CPU execution provider): development machines, CI, PCs without GPU."""

from runtime.backends.onnxruntime.backend import OnnxRuntimeBackend, check_metadata

__all__ = ["OnnxRuntimeBackend", "check_metadata"]
