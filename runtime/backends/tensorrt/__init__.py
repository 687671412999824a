"""The TensorRT backend (NVIDIA GPUs, Jetson): engines from `convert build-engine`, run with pycuda.

Importing this package is cheap; TensorRT and pycuda load when a backend is created.
"""

from runtime.backends.tensorrt.selection import open_tensorrt_backend, usable_engine

__all__ = ["open_tensorrt_backend", "usable_engine"]
