"""The CUDA frame path: pre-process, mask and compositing kernels (.cu files beside the Python
that launches them with pycuda). `processor.CudaFrameProcessor` is the entry point; pycuda and
the GPU are only touched when it is created, so importing this package is free.
"""
