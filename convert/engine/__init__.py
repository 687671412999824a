"""TensorRT engines: build (`convert build-engine`), name, describe (JSON sidecar) and match them.

Only `builder` and `tensorrt_api` import TensorRT, lazily; `plan` decides per TensorRT version
how an engine is built (pure, tested without TensorRT); naming, sidecars and GPU identity are
light modules the runtime uses to find an engine for the current device without loading the
conversion stack.
"""
