"""The processor slot: builds processors in the background, swaps them in between frames,
and falls back to the next backend when one fails to load."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from runtime.outputs.base import BGRFrame
from runtime.pipeline.common import close_quietly, log, one_line
from runtime.pipeline.status import PipelineCounters, ProcessorState
from runtime.settings import Settings

# Settings that need a new processor (another model file or engine); the rest apply in place.
PROCESSOR_FIELDS = frozenset({"variant", "internal_resolution", "backend", "threads"})


class ProcessorLike(Protocol):
    """What the pipeline needs from runtime.processor.FrameProcessor."""

    def segment(self, frame_bgr: BGRFrame) -> Any: ...
    def composite(self, frame_bgr: BGRFrame, result: Any) -> BGRFrame: ...
    def update_settings(self, settings: Settings) -> None: ...
    def close(self) -> None: ...


ProcessorFactory = Callable[[Settings], ProcessorLike]


def default_processor_factory(settings: Settings) -> ProcessorLike:
    from runtime.processor import FrameProcessor

    processor: ProcessorLike = FrameProcessor(settings)
    return processor


def backend_chain(backend: str) -> list[str]:
    """Backends to try in order: the configured one, then the CPU fallback."""
    return [backend] if backend == "onnxruntime" else [backend, "onnxruntime"]


@dataclass
class LoadedProcessor:
    """A processor with its model loaded, and what it was built for."""

    generation: int
    processor: ProcessorLike
    backend: str | None
    model_file: str | None
    built_for: Settings  # what the factory got (backend = the one tried, not "auto")


class ProcessorSlot:
    """The processor in use, the one being built, and pending in-place settings.

    `lock` is held around `segment()` and around swaps, so inference is between frames while
    a swap happens.
    """

    def __init__(
        self,
        factory: ProcessorFactory,
        counters: PipelineCounters,
        stop: threading.Event,
    ) -> None:
        self._factory = factory
        self._counters = counters
        self._stop = stop
        self.lock = threading.Lock()
        self._state_lock = threading.Lock()
        self.current: LoadedProcessor | None = None
        self._pending: LoadedProcessor | None = None
        self._pending_update: Settings | None = None
        self._generation = 0
        self.state: ProcessorState = "loading"

    def request_build(self, settings: Settings, skip: tuple[str, ...] = ()) -> None:
        """Build a processor for `settings` in the background (newer requests win)."""
        with self._state_lock:
            self._generation += 1
            generation = self._generation
            self.state = "loading"
        thread = threading.Thread(
            target=self._build,
            args=(settings, generation, skip),
            name="pipeline-processor-build",
            daemon=True,
        )
        thread.start()

    def request_update(self, settings: Settings) -> None:
        """In-place settings for the processor, applied by `swap_between_frames`."""
        with self._state_lock:
            self._pending_update = settings

    def _build(self, settings: Settings, generation: int, skip: tuple[str, ...]) -> None:
        reasons: list[str] = []
        for backend in backend_chain(settings.backend):
            if backend in skip or self._stop.is_set():
                continue
            attempt = settings.model_copy(update={"backend": backend})
            processor, failure = load_processor(self._factory, attempt)
            if processor is None:
                reason = f"{backend} backend failed to load: {failure}"
                log.warning("%s; trying the next backend", reason)
                reasons.append(reason)
                continue
            name, model_file = _describe_processor(processor, backend)
            if name in skip:  # "auto" picked the backend that just failed
                close_quietly(processor)
                continue
            loaded = LoadedProcessor(generation, processor, name, model_file, attempt)
            with self._state_lock:
                superseded = generation != self._generation or self._stop.is_set()
                if not superseded:
                    if self._pending is not None:
                        close_quietly(self._pending.processor)
                    self._pending = loaded
            if superseded:
                close_quietly(processor)
            elif reasons:
                self._counters.last_error = "; ".join(reasons) + f"; now using {name}"
            log.info("segmentation backend ready: %s (%s)", name, model_file or "no file")
            return
        if generation == self._generation and not self._stop.is_set():
            self.state = "failed"
            message = "; ".join(reasons) or "no backend left to try"
            self._counters.last_error = f"segmentation unavailable: {message}"
            log.error("segmentation unavailable: %s", message)

    def swap_between_frames(self, current: Settings) -> None:
        """Output thread: install a freshly built processor or pending in-place settings."""
        if self._pending is None and self._pending_update is None:
            return
        with self.lock:  # inference is between frames while we hold this
            with self._state_lock:
                pending, self._pending = self._pending, None
                self._pending_update = None
            old = None
            if pending is not None:
                old, self.current = self.current, pending
                self.state = "ready"
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
        if old is not None:
            close_quietly(old.processor)

    def close(self) -> None:
        with self.lock:
            for loaded in (self.current, self._pending):
                if loaded is not None:
                    close_quietly(loaded.processor)
            self.current = self._pending = None


def load_processor(
    factory: ProcessorFactory, settings: Settings
) -> tuple[ProcessorLike | None, str]:
    """A processor with its model loaded, or None and the reason in one line.

    The model is loaded here, in the builder thread, by segmenting a blank frame: a lazy
    backend would otherwise fail, or take seconds to load, on the first live frame.
    """
    try:
        processor = factory(settings)
    except Exception as exc:
        return None, one_line(exc)
    try:
        processor.segment(np.zeros((settings.height, settings.width, 3), np.uint8))
        reset = getattr(processor, "reset_smoothing", None)
        if reset is not None:
            reset()  # the blank frame must not bleed into the first real mask
    except Exception as exc:
        close_quietly(processor)
        return None, one_line(exc)
    return processor, ""


def _describe_processor(processor: object, requested: str) -> tuple[str, str | None]:
    """Backend name and model file, from whatever the processor exposes."""
    backend = getattr(processor, "backend", None)
    name = getattr(processor, "backend_name", None) or getattr(backend, "name", None) or requested
    model = None
    for owner in (processor, backend):
        for attr in ("engine_path", "model_path", "model_file", "onnx_path", "path"):
            value = getattr(owner, attr, None)
            if value:
                model = str(value)
                break
        if model:
            break
    return str(name), model
