"""TensorRT engines: build (`convert build-engine`), name, describe (JSON sidecar) and match them.

Only `builder` imports TensorRT, lazily; naming, sidecars and GPU identity are light modules the
runtime uses to find an engine for the current device without loading the conversion stack.
"""
