"""Conversion stage: official BodyPix TF.js graph models -> ONNX -> TensorRT engines.

Importing this package is cheap: TensorFlow, tf2onnx and TensorRT are imported lazily by the
modules that need them. What the runtime and the panel share with it (errors, catalog, input
sizes, command line, atomic writes) lives in `core`; the runtime imports this package only
inside the functions that produce or read a conversion's files.
"""
