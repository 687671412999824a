"""The processor slot: builds processors in the background, one build at a time, swaps them
in between frames, and falls back to the next frame path or backend when one fails to load.

Frame paths (`Settings.frame_path`): `cuda` runs pre-processing, mask and compositing as CUDA
kernels (`runtime.cuda`), `cpu` with NumPy/OpenCV (`runtime.processor`); `auto` is CUDA when
`runtime.cuda.cuda_unavailable_reason()` finds a usable device. A CUDA path that fails to start
falls back to the CPU path, with the reason in the status, as a backend does.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from runtime.backends import CPU_BACKENDS
from runtime.pipeline.common import close_quietly, log, one_line
from runtime.pipeline.status import PipelineCounters, ProcessorState
from runtime.processor_protocol import FramePath, FrameProcessorProtocol, ProcessorDescription
from runtime.settings import Settings

if TYPE_CHECKING:
    from runtime.backends.base import SegmentationBackend

# Settings that need a new processor (another model file, engine or frame path); the rest
# apply in place.
PROCESSOR_FIELDS = frozenset({"variant", "internal_resolution", "backend", "threads", "frame_path"})

ProcessorFactory = Callable[[Settings], FrameProcessorProtocol]
FrameSize = tuple[int, int]  # (height, width)
Attempt = tuple[FramePath, str]  # (frame path, backend)


def cuda_unavailable() -> str | None:
    """Why the CUDA frame path cannot run here, or None when it can."""
    from runtime.cuda import cuda_unavailable_reason

    try:
        return cuda_unavailable_reason()
    except Exception as exc:  # a broken driver must not stop the CPU path
        return one_line(exc)


def live_inference_threads(settings: Settings) -> int:
    """Inference threads of the live pipeline: `settings.threads`, or for 0 (all cores) all
    cores but one, which the compositing and capture threads use at the same time (on two
    cores, measured at 1280x720: 1 CPU ms less per frame than two threads that wait on each
    other, for 1 ms more latency)."""
    return settings.threads or max(1, (os.cpu_count() or 1) - 1)


def default_processor_factory(settings: Settings) -> FrameProcessorProtocol:
    """The processor for `settings.frame_path` ("cpu" or "cuda"; the slot resolves "auto")."""
    if settings.frame_path == "cuda":
        from runtime.cuda import open_cuda_processor

        cuda: FrameProcessorProtocol = open_cuda_processor(settings)
        return cuda
    from runtime.backends import create_backend
    from runtime.processor import FrameProcessor

    def backend(chosen: Settings, input_size: tuple[int, int]) -> SegmentationBackend:
        threads = live_inference_threads(chosen)
        return create_backend(chosen.model_copy(update={"threads": threads}), input_size)

    return FrameProcessor(settings, backend_factory=backend)


def backend_chain(backend: str) -> list[str]:
    """Backends to try in order: the configured one, then the CPU fallback."""
    return [backend] if backend == "onnxruntime" else [backend, "onnxruntime"]


def build_attempts(settings: Settings) -> tuple[list[Attempt], str | None]:
    """(frame path, backend) pairs to try in order, and why CUDA is left out when it was
    asked for explicitly (auto leaves it out silently where there is no CUDA)."""
    paths: list[FramePath] = ["cpu"]
    note = None
    if settings.frame_path != "cpu":
        reason = cuda_unavailable()
        if reason is None:
            paths = ["cuda", "cpu"]
        elif settings.frame_path == "cuda":
            note = f"CUDA frame path unavailable: {reason}; using the CPU path"
    return [(path, backend) for path in paths for backend in backend_chain(settings.backend)], note


@dataclass
class LoadedProcessor:
    """A processor with its model loaded, and what it was built for."""

    generation: int  # unique per processor: its masks and capture buffers carry it
    request: int  # the build request it answers
    processor: FrameProcessorProtocol
    description: ProcessorDescription
    built_for: Settings  # what the factory got (backend/frame path = the ones tried)
    frame_size: FrameSize  # the frame size it was warmed up with
    interim: bool = False  # serves while the processor asked for is still being built


@dataclass
class BuildRequest:
    settings: Settings
    generation: int
    frame_size: FrameSize
    skip: frozenset[Attempt] = field(default_factory=frozenset)  # failed at run time
    interim: bool = False  # first an ONNX Runtime processor (quick, any size) to serve meanwhile


class ProcessorSlot:
    """The processor in use, the one being built, and pending in-place settings.

    At most one build runs at a time (a model build takes seconds to minutes and hundreds of
    MB): a request made while one runs waits in a one-place queue, and a newer request
    replaces it there. `lock` is held around `segment()` and around swaps, so inference is
    between frames while a swap happens.
    """

    def __init__(
        self, factory: ProcessorFactory, counters: PipelineCounters, stop: threading.Event
    ) -> None:
        self._factory = factory
        self._counters = counters
        self._stop = stop
        self.lock = threading.Lock()
        self._state_lock = threading.Lock()
        self.current: LoadedProcessor | None = None
        self._pending: LoadedProcessor | None = None
        self._pending_update: Settings | None = None
        self._generation = 0  # of the newest build request
        self._failed_generation = -1
        self._processors = itertools.count(1)  # processor generations (0: none yet)
        self._queued: BuildRequest | None = None
        self._latest: BuildRequest | None = None
        self._builder: threading.Thread | None = None
        self.builds_started = 0
        self.swapped_at = 0.0  # monotonic time a processor was last swapped in
        self.frame_size: FrameSize | None = None  # of the newest captured frame

    @property
    def state(self) -> ProcessorState:
        if self._failed_generation == self._generation:
            return "failed"
        current = self.current
        if current is not None and current.request == self._generation and not current.interim:
            return "ready"
        return "loading"

    def request_build(
        self,
        settings: Settings,
        skip: Collection[Attempt] = (),
        frame_size: FrameSize | None = None,
        interim: bool = False,
    ) -> None:
        """Build a processor for `settings` in the background; replaces a queued request."""
        size = frame_size or self.frame_size or (settings.height, settings.width)
        with self._state_lock:
            self._generation += 1
            request = BuildRequest(settings, self._generation, size, frozenset(skip), interim)
            self._queued = self._latest = request
            if self._builder is None and not self._stop.is_set():
                self._builder = threading.Thread(
                    target=self._build_queued, name="pipeline-processor-build", daemon=True
                )
                self._builder.start()

    def building_for(self, frame_size: FrameSize) -> bool:
        """Whether the newest build request is for frames of this size."""
        latest = self._latest
        return latest is not None and latest.frame_size == frame_size

    def adapting_to(self, frame_size: FrameSize) -> bool:
        """Whether frames of this size wait for a processor being built for them (a fixed-size
        backend met a new camera size and nothing else could serve it)."""
        current = self.current
        cannot_serve = current is None or (
            current.description.fixed_size and current.frame_size != frame_size
        )
        return cannot_serve and self.state == "loading" and self.building_for(frame_size)

    def request_update(self, settings: Settings) -> None:
        """In-place settings for the processor, applied by `swap_between_frames`."""
        with self._state_lock:
            self._pending_update = settings

    def _build_queued(self) -> None:
        while True:
            with self._state_lock:
                request, self._queued = self._queued, None
                if request is None or self._stop.is_set():
                    self._builder = None
                    return
                self.builds_started += 1
            try:
                self._build(request)
            except Exception:  # a bug must not leave the slot without a builder
                log.exception("processor build failed")

    def _superseded(self, request: BuildRequest) -> bool:
        return request.generation != self._generation or self._stop.is_set()

    def _build(self, request: BuildRequest) -> None:
        attempts, note = build_attempts(request.settings)
        reasons = [note] if note else []
        if note:
            log.warning("%s", note)
        if request.interim and attempts[0][1] not in CPU_BACKENDS:
            self._build_interim(request, attempts[0][0])
        for frame_path, backend in attempts:
            if (frame_path, backend) in request.skip:
                continue
            if self._superseded(request):
                return
            attempt = request.settings.model_copy(
                update={"backend": backend, "frame_path": frame_path}
            )
            processor, failure = load_processor(self._factory, attempt, request.frame_size)
            if processor is None:
                reason = f"{_label(frame_path, backend)} failed to load: {failure}"
                log.warning("%s; trying the next backend", reason)
                reasons.append(reason)
                continue
            description = processor.describe()
            if (description.frame_path, description.backend) in request.skip:
                close_quietly(processor)  # "auto" picked the backend that just failed
                continue
            loaded = LoadedProcessor(
                next(self._processors),
                request.generation,
                processor,
                description,
                attempt,
                request.frame_size,
            )
            if self._offer(loaded, request) and reasons:
                using = f"{description.backend} on the {description.frame_path.upper()} path"
                self._counters.last_error = "; ".join(reasons) + f"; now using {using}"
            log.info(
                "segmentation backend ready: %s on the %s frame path (%s)",
                description.backend,
                description.frame_path,
                description.model_file or "no file",
            )
            return
        if not self._superseded(request):
            self._failed_generation = request.generation
            message = "; ".join(reasons) or "no backend left to try"
            self._counters.last_error = f"segmentation unavailable: {message}"
            log.error("segmentation unavailable: %s", message)

    def _build_interim(self, request: BuildRequest, frame_path: FramePath) -> None:
        """ONNX Runtime takes any frame size and loads in seconds: it serves while a
        fixed-size backend (a TensorRT engine) is built for the new size."""
        attempt = request.settings.model_copy(
            update={"backend": "onnxruntime", "frame_path": frame_path}
        )
        processor, failure = load_processor(self._factory, attempt, request.frame_size)
        if processor is None:
            log.warning("no interim onnxruntime processor: %s", failure)
            return
        loaded = LoadedProcessor(
            next(self._processors),
            request.generation,
            processor,
            processor.describe(),
            attempt,
            request.frame_size,
            interim=True,
        )
        if self._offer(loaded, request):
            log.info("onnxruntime serves while the %s backend is built", request.settings.backend)

    def _offer(self, loaded: LoadedProcessor, request: BuildRequest) -> bool:
        """Queue a built processor for the swap, unless a newer request superseded it."""
        replaced: LoadedProcessor | None = loaded
        with self._state_lock:
            if not self._superseded(request):
                replaced, self._pending = self._pending, loaded
        if replaced is not None:
            close_quietly(replaced.processor)
        return replaced is not loaded

    def swap_between_frames(self, current: Settings) -> LoadedProcessor | None:
        """Output thread: install a freshly built processor or pending in-place settings;
        returns the processor that was replaced (the caller closes it when nothing uses it)."""
        if self._pending is None and self._pending_update is None:
            return None
        with self.lock:  # inference is between frames while we hold this
            with self._state_lock:
                pending, self._pending = self._pending, None
                self._pending_update = None
            old = None
            if pending is not None:
                old, self.current = self.current, pending
                self.swapped_at = time.monotonic()
            loaded = self.current
            # The processor keeps the model it was built with (a new one is being built when
            # those fields changed); everything else follows the current settings.
            if loaded is not None:
                keep = {name: getattr(loaded.built_for, name) for name in PROCESSOR_FIELDS}
                wanted = current.model_copy(update=keep)
                if wanted != loaded.built_for:
                    try:
                        loaded.processor.update_settings(wanted)
                        loaded.built_for = wanted
                    except Exception as exc:
                        self._counters.last_error = f"settings not applied: {one_line(exc)}"
                        log.warning("settings not applied: %s", exc)
        return old

    def close(self) -> None:
        with self.lock:
            with self._state_lock:
                self._queued = None
                loaded = [self.current, self._pending]
                self.current = self._pending = None
            for item in loaded:
                if item is not None:
                    close_quietly(item.processor)


def _label(frame_path: FramePath, backend: str) -> str:
    if frame_path == "cuda":
        return f"CUDA frame path with the {backend} backend"
    return f"{backend} backend"


def load_processor(
    factory: ProcessorFactory, settings: Settings, frame_size: FrameSize
) -> tuple[FrameProcessorProtocol | None, str]:
    """A processor with its model loaded, or None and the reason in one line.

    The model is loaded here, in the builder thread, by segmenting a blank frame of the size
    the camera delivers: a lazy backend would otherwise fail, or take seconds (a TensorRT
    engine for a new size: minutes) to load, on the first live frame.
    """
    try:
        processor = factory(settings)
    except Exception as exc:
        return None, one_line(exc)
    try:
        processor.segment(np.zeros((*frame_size, 3), np.uint8))
        processor.reset_smoothing()  # the blank frame must not bleed into the first real mask
    except Exception as exc:
        close_quietly(processor)
        return None, one_line(exc)
    return processor, ""
