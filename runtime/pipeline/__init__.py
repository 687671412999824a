"""The live pipeline: capture, inference and output threads around one frame processor.

- Capture keeps only the newest frame (a slow consumer drops frames, never queues them) and
  reopens a lost camera with backoff while the outputs show a "camera unavailable" frame
  (`capture`, `mailbox`).
- Inference segments the newest frame; the output thread composites every new frame with the
  newest mask, waiting for the frame's own mask only while inference is working on that very
  frame, so the output stays at camera rate when inference is slower (`mask_worker`).
- Settings apply between frames; a change that needs another model (variant, internal
  resolution, backend, threads, frame path) builds the new processor in the background, one
  build at a time, and swaps it in without stopping the outputs. A frame path or backend that
  fails falls back to the next one (`processor_slot`).
- Outputs that fail are reopened after a pause, the others keep going (`outputs`); the status
  and its meters are in `status`.
"""

from runtime.pipeline.core import (
    INFERENCE_STALL_S,
    OUTPUT_FIELDS,
    OUTPUT_STALL_S,
    SOURCE_FIELDS,
    Pipeline,
)
from runtime.pipeline.mailbox import CapturedFrame, LatestFrame
from runtime.pipeline.mask_worker import MAX_SEGMENT_FAILURES, FrameMask
from runtime.pipeline.processor_slot import (
    PROCESSOR_FIELDS,
    LoadedProcessor,
    ProcessorFactory,
    ProcessorSlot,
    backend_chain,
    cuda_unavailable,
    default_processor_factory,
)
from runtime.pipeline.status import (
    CameraState,
    LatencyMeter,
    OutputStatus,
    PipelineStatus,
    RateMeter,
)

__all__ = [
    "INFERENCE_STALL_S",
    "MAX_SEGMENT_FAILURES",
    "OUTPUT_FIELDS",
    "OUTPUT_STALL_S",
    "PROCESSOR_FIELDS",
    "SOURCE_FIELDS",
    "CameraState",
    "CapturedFrame",
    "FrameMask",
    "LatencyMeter",
    "LatestFrame",
    "LoadedProcessor",
    "OutputStatus",
    "Pipeline",
    "PipelineStatus",
    "ProcessorFactory",
    "ProcessorSlot",
    "RateMeter",
    "backend_chain",
    "cuda_unavailable",
    "default_processor_factory",
]
