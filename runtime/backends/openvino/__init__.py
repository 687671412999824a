"""The OpenVINO backend (CPU plugin): the fastest CPU runtime for the BodyPix ONNX where it installs."""

from runtime.backends.openvino.backend import OpenVinoBackend, openvino_unavailable_reason

__all__ = ["OpenVinoBackend", "openvino_unavailable_reason"]
