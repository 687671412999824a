"""Runtime stage: camera -> pre-process -> segment -> mask -> composite -> outputs.

Heavy pieces (ONNX Runtime, TensorRT, pycuda) are imported lazily by the backends.
"""
