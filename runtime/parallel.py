"""Several frames of a clip at once: the throughput shape of `bodypix render` and `bench`.

Segmentation up to BodyPix's mask (pre-process, network, crop and threshold) keeps no state,
so `workers` threads each take a frame and segment it at once, with one inference thread each
and no intra-op hand-offs. The video refinements (smoothing state) and compositing (a video
background advances per frame) then take turns in frame order on those same threads: while
one worker composites frame n, the others segment n+1, n+2. No third thread competes for the
cores (measured on two: a separate compositing thread gave 234 fps at 640x480 where this gives
about 295). The frames and their pixels are exactly those of `FrameProcessor.process` one
after another (tests/runtime/test_parallel.py).

Only backends that run several frames at once take part (`concurrent_runs`: ONNX Runtime's
sessions do; a TensorRT execution context does not), else the frames go one at a time.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from core.errors import UserError

if TYPE_CHECKING:
    from runtime.processor import U8, FrameProcessor, ProcessedFrame


def runs_concurrently(processor: FrameProcessor) -> bool:
    """Whether the processor's backend runs several frames at once."""
    return bool(getattr(processor.backend, "concurrent_runs", False))


class ParallelFrames:
    """`with ParallelFrames(processor, workers) as frames: for done in frames.process(clip)`.

    `processor` should be made with `threads=1` (each worker is one core's worth); OpenCV's
    own threads are set to one while the context is open and given back after it.
    """

    def __init__(self, processor: FrameProcessor, workers: int) -> None:
        if workers < 1:
            raise UserError(f"--workers {workers} must be at least 1.")
        self.processor = processor
        self.workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._cv2_threads: int | None = None
        self._turn = threading.Condition()
        self._next = 0  # the frame whose refine and composite may run now
        self._closing = False

    def __enter__(self) -> ParallelFrames:
        import cv2

        if self.workers > 1:
            self._cv2_threads = cv2.getNumThreads()
            cv2.setNumThreads(1)
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="frame-worker")
        return self

    def __exit__(self, *exc: object) -> None:
        with self._turn:  # workers waiting for a turn that will not come give up
            self._closing = True
            self._turn.notify_all()
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
        if self._cv2_threads is not None:
            import cv2

            cv2.setNumThreads(self._cv2_threads)
            self._cv2_threads = None

    def _wait_turn(self, index: int) -> None:
        while self._next != index:
            if self._closing:
                raise RuntimeError("frame workers stopped")
            self._turn.wait()

    def _frame(self, index: int, frame: U8) -> ProcessedFrame:
        """Worker: segment `frame` now, refine and composite it when its turn comes."""
        from runtime.processor import ProcessedFrame

        processor = self.processor
        timings: dict[str, float] = {}
        try:
            result = processor.segment(frame, None, timings, False)
        except BaseException:
            with self._turn:  # pass the turn on, or the next frames would wait forever
                self._wait_turn(index)
                self._next = index + 1
                self._turn.notify_all()
            raise
        with self._turn:
            self._wait_turn(index)
            try:
                processor.refine(frame, result, timings)
                t0 = processor.clock()
                image = processor.composite(frame, result)
                timings["composite"] = (processor.clock() - t0) * 1e3
            finally:
                self._next = index + 1
                self._turn.notify_all()
        return ProcessedFrame(image=image, result=result, timings_ms=timings)

    def process(self, frames: Iterable[U8]) -> Iterator[ProcessedFrame]:
        """The processed frames, in order; at most workers + 1 are in flight. One stream at a
        time per ParallelFrames."""
        processor = self.processor
        source = iter(frames)
        if processor.backend is None:  # the first frame makes it, alone
            first = next(source, None)
            if first is None:
                return
            yield processor.process(first)
        pool = self._pool
        if pool is None or not runs_concurrently(processor):
            for frame in source:
                yield processor.process(frame)
            return
        with self._turn:
            self._next = 0
        pending: deque[Future[ProcessedFrame]] = deque()
        for index, frame in enumerate(source):
            pending.append(pool.submit(self._frame, index, frame))
            if len(pending) > self.workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
