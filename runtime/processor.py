"""One frame through the CPU path: pre-process -> segment -> mask -> composite.

`FrameProcessor` is what the live pipeline, `bodypix segment/render/bench` and the panel's
preview call. Frames are BGR uint8 (OpenCV convention); the model gets RGB.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from core.arrays import F32, I8, U8
from core.catalog import get_variant
from core.errors import UserError
from runtime.backends.base import SegmentationBackend
from runtime.effects import Compositor
from runtime.geometry import FrameGeometry, frame_geometry
from runtime.mask import MaskRefiner, part_ids, person_mask, person_scores, threshold
from runtime.meters import LatencyMeter
from runtime.processor_protocol import ProcessorDescription
from runtime.resample import preprocess, preprocess_planar
from runtime.settings import Settings

# Settings whose change needs a new backend (a new model file or session).
_BACKEND_FIELDS = ("variant", "backend", "threads")
# Makes the backend for a model input size (H, W); default runtime.backends.create_backend.
BackendFactory = Callable[[Settings, tuple[int, int]], SegmentationBackend]


@dataclass
class SegmentationResult:
    """The segmentation of one frame, at frame size.

    mask: float32 [h, w] in 0..1: BodyPix's thresholded person mask, then (video only)
    feathered edges and temporal smoothing. part_ids: int8 [h, w], 0-23 where a person is,
    -1 elsewhere, or None when parts were not asked for. segment_logits: the network's person
    logits at stride resolution; `scores` is the person probability at frame size before the
    threshold (what BodyPix's `segmentPersonActivation` thresholds), computed when first read.
    """

    mask: F32
    part_ids: I8 | None
    segment_logits: F32
    geometry: FrameGeometry
    known_scores: F32 | None = field(default=None, repr=False)

    @property
    def scores(self) -> F32:
        # Computed when first read unless the frame path had them (motion smoothing reads
        # them; otherwise the mask is thresholded without a score image).
        if self.known_scores is None:
            self.known_scores = person_scores(self.segment_logits, self.geometry)
        return self.known_scores


@dataclass
class ProcessedFrame:
    """A composited frame, its segmentation and per-stage milliseconds
    (keys: preprocess, inference, mask, composite)."""

    image: U8
    result: SegmentationResult
    timings_ms: dict[str, float] = field(default_factory=dict)


def check_frame(frame: np.ndarray) -> U8:
    """A frame must be BGR uint8 [h, w, 3] with pixels (images.to_bgr8 converts other kinds)."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3:
        raise UserError(
            f"Frame of type {getattr(frame, 'dtype', type(frame))} and shape "
            f"{getattr(frame, 'shape', '?')} is not BGR uint8: convert it with runtime.images.to_bgr8."
        )
    if frame.shape[2] != 3 or frame.shape[0] < 1 or frame.shape[1] < 1:
        raise UserError(f"Frame of shape {frame.shape} is not [h, w, 3] with pixels.")
    return frame


class FrameProcessor:
    """BodyPix segmentation and compositing of BGR frames, driven by one `Settings`: the CPU
    frame path of `runtime.processor_protocol.FrameProcessorProtocol`.

    `backend` may be given (the processor then never replaces or closes it); otherwise one is
    created on the first frame with `backend_factory` (default
    `runtime.backends.create_backend`) and recreated only when the variant, backend choice or
    thread count change, or when a fixed-size backend meets a frame size it was not built for.
    """

    def __init__(
        self,
        settings: Settings,
        backend: SegmentationBackend | None = None,
        backend_factory: BackendFactory | None = None,
    ) -> None:
        self.settings = settings
        self._backend = backend
        self._owns_backend = backend is None
        self._backend_factory = backend_factory
        self._stride = get_variant(settings.variant).stride
        self._compositor = Compositor(settings)
        self._refiner = MaskRefiner()
        self._stages = LatencyMeter()
        # What the stage timings read: wall seconds; `bench --cpu-stages` sets process CPU time.
        self.clock: Callable[[], float] = time.perf_counter

    @property
    def backend(self) -> SegmentationBackend | None:
        return self._backend

    def _backend_for(self, geometry: FrameGeometry) -> SegmentationBackend:
        backend = self._backend
        if backend is not None and backend.input_size not in (None, geometry.input_size):
            if not self._owns_backend:
                h, w = geometry.input_size
                raise UserError(
                    f"The {backend.name} backend was built for input {backend.input_size}, but "
                    f"this frame needs {h}x{w}: build it for that size or change the resolution."
                )
            backend.close()
            backend = self._backend = None
        if backend is None:
            if self._backend_factory is not None:
                backend = self._backend_factory(self.settings, geometry.input_size)
            else:
                from runtime.backends import create_backend

                backend = create_backend(self.settings, geometry.input_size)
            self._backend = backend
        return backend

    def geometry(self, height: int, width: int) -> FrameGeometry:
        return frame_geometry(height, width, self.settings.internal_resolution, self._stride)

    def _segment(
        self, frame: U8, timings: dict[str, float], parts: bool, refine: bool = True
    ) -> SegmentationResult:
        s = self.settings
        frame = check_frame(frame)
        geometry = self.geometry(frame.shape[0], frame.shape[1])
        backend = self._backend_for(geometry)
        t0 = self.clock()
        # ONNX Runtime's graph may take the normalised planar image (one pass less there).
        planar = getattr(backend, "planar_input", None)
        if planar is None:
            model_input = preprocess(frame, geometry)
        else:
            model_input = preprocess_planar(frame, geometry, *planar)
        t1 = self.clock()
        logits = backend.run(model_input, parts=parts)
        t2 = self.clock()
        # Motion smoothing reads the scores: then the mask is thresholded from them.
        scores = person_scores(logits.segments, geometry) if self._refiner.needs_scores(s) else None
        if scores is None:
            mask = person_mask(logits.segments, geometry, s.segmentation_threshold)
        else:
            mask = threshold(scores, s.segmentation_threshold)
        ids = None
        if parts:
            if logits.part_heatmaps is None:
                raise UserError(
                    f"The {backend.name} backend returned no part heatmaps: use a model file "
                    "exported with the part_heatmaps output (`python -m convert export-onnx`)."
                )
            ids = part_ids(logits.part_heatmaps, mask > 0, geometry)
        result = SegmentationResult(
            mask=mask,
            part_ids=ids,
            segment_logits=logits.segments,
            geometry=geometry,
            known_scores=scores,
        )
        if refine:
            result.mask = self._refiner.refine(frame, scores, mask, s)
        t3 = self.clock()
        timings["preprocess"] = (t1 - t0) * 1e3
        timings["inference"] = (t2 - t1) * 1e3
        timings["mask"] = (t3 - t2) * 1e3
        for stage, seconds in (("preprocess", t1 - t0), ("inference", t2 - t1), ("mask", t3 - t2)):
            self._stages.add(stage, seconds)
        return result

    def segment(
        self,
        frame_bgr: U8,
        parts: bool | None = None,
        timings: dict[str, float] | None = None,
        refine: bool = True,
    ) -> SegmentationResult:
        """Segment one frame; part ids when `parts` (None: when the effect needs them);
        milliseconds of preprocess, inference and mask into `timings` when given.

        `refine=False` stops at BodyPix's mask (and the scores smoothing will read): that part
        keeps no state, so several frames may be segmented at once on several threads once
        the backend exists (`runtime.parallel`); `refine` then finishes them in frame order.
        """
        want = self._compositor.needs_parts if parts is None else parts
        return self._segment(frame_bgr, {} if timings is None else timings, want, refine)

    def refine(
        self, frame_bgr: U8, result: SegmentationResult, timings: dict[str, float] | None = None
    ) -> None:
        """The video refinements (smoothing, edge refinement, feathering) of a result of
        `segment(..., refine=False)`, in place; frames must come in order (smoothing state).
        Its milliseconds are added to the "mask" stage of `timings`."""
        t0 = self.clock()
        result.mask = self._refiner.refine(
            frame_bgr, result.known_scores, result.mask, self.settings
        )
        if timings is not None:
            timings["mask"] = timings.get("mask", 0.0) + (self.clock() - t0) * 1e3

    def composite(self, frame_bgr: U8, result: SegmentationResult) -> U8:
        """Apply the effect to `frame_bgr` with `result` (which may come from an older frame of
        the same size: the live pipeline reuses the last mask when inference lags)."""
        frame = check_frame(frame_bgr)
        if frame.shape[:2] != result.mask.shape:
            raise UserError(
                f"Frame {frame.shape[1]}x{frame.shape[0]} does not match the mask "
                f"{result.mask.shape[1]}x{result.mask.shape[0]}: segment a frame of this size first."
            )
        started = time.perf_counter()
        out = self._compositor.composite(frame, result.mask, result.part_ids)
        self._stages.add("composite", time.perf_counter() - started)
        return out

    def process(self, frame_bgr: U8) -> ProcessedFrame:
        """Segment and composite one frame, timing each stage."""
        timings: dict[str, float] = {}
        result = self._segment(frame_bgr, timings, self._compositor.needs_parts)
        t0 = self.clock()
        image = self._compositor.composite(frame_bgr, result.mask, result.part_ids)
        timings["composite"] = (self.clock() - t0) * 1e3
        return ProcessedFrame(image=image, result=result, timings_ms=timings)

    def update_settings(self, settings: Settings) -> None:
        """Take new settings before the next frame; the backend is recreated only when needed."""
        old = self.settings
        self.settings = settings
        self._stride = get_variant(settings.variant).stride
        if self._owns_backend and any(
            getattr(old, name) != getattr(settings, name) for name in _BACKEND_FIELDS
        ):
            if self._backend is not None:
                self._backend.close()
            self._backend = None
        if (
            old.variant != settings.variant
            or old.internal_resolution != settings.internal_resolution
            or settings.smoothing == 0
            or old.smoothing_method != settings.smoothing_method
        ):
            self._refiner.reset()
        self._compositor.update_settings(settings)

    def reset_smoothing(self) -> None:
        """Forget the previous mask (a new scene or source)."""
        self._refiner.reset()

    def capture_frames(self, height: int, width: int, count: int) -> list[U8]:
        """Plain host arrays capture decodes into (the CPU path reads them where they are)."""
        return [np.empty((height, width, 3), np.uint8) for _ in range(count)]

    def describe(self) -> ProcessorDescription:
        """Backend and model file in use (the configured backend before the first frame)."""
        backend = self._backend
        if backend is None:
            return ProcessorDescription(self.settings.backend, None, "cpu")
        # Backends name their file differently (TensorRT: the engine, ONNX Runtime: the ONNX).
        path = getattr(backend, "engine_path", None) or getattr(backend, "path", None)
        return ProcessorDescription(
            backend=backend.name,
            model_file=str(path) if path else None,
            frame_path="cpu",
            # The threads the backend runs (the live pipeline resolves 0 = all cores its way).
            detail={"threads": getattr(backend, "threads", self.settings.threads)},
            fixed_size=backend.input_size is not None,
        )

    def stage_ms(self) -> Mapping[str, float]:
        """Mean ms of preprocess, inference, mask and composite over the last frames."""
        return self._stages.means()

    def close(self) -> None:
        if self._owns_backend and self._backend is not None:
            self._backend.close()
        self._backend = None
        self._compositor.close()
