"""Conversion stage: official BodyPix TF.js graph models -> ONNX -> TensorRT engines.

Importing this package is cheap: TensorFlow, tf2onnx and TensorRT are imported lazily by the
modules that need them, so the runtime can use the catalog without the conversion stack.
"""
