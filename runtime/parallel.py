"""Several frames of a clip at once: the throughput shape of `bodypix render` and `bench`.

Segmentation up to BodyPix's mask (pre-process, network, crop and threshold) keeps no state,
so `workers` frames are segmented at once, each on its own thread with one inference thread
and no intra-op hand-offs; the video refinements (smoothing state) and compositing follow on
the calling thread in frame order. The frames and their pixels are exactly those of
`FrameProcessor.process` one after another (tests/runtime/test_parallel.py).

Only backends that run several frames at once take part (`concurrent_runs`: ONNX Runtime's
sessions do; a TensorRT execution context does not), else the frames go one at a time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from core.errors import UserError

if TYPE_CHECKING:
    from runtime.processor import U8, FrameProcessor, ProcessedFrame, SegmentationResult

Pending = tuple["U8", dict[str, float], "Future[SegmentationResult]"]


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

    def __enter__(self) -> ParallelFrames:
        import cv2

        if self.workers > 1:
            self._cv2_threads = cv2.getNumThreads()
            cv2.setNumThreads(1)
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="frame-worker")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
        if self._cv2_threads is not None:
            import cv2

            cv2.setNumThreads(self._cv2_threads)
            self._cv2_threads = None

    def process(self, frames: Iterable[U8]) -> Iterator[ProcessedFrame]:
        """The processed frames, in order; at most workers + 1 are in flight."""
        from runtime.processor import ProcessedFrame

        processor = self.processor
        source = iter(frames)
        first = next(source, None)
        if first is None:
            return
        yield processor.process(first)  # the backend exists from here on
        pool = self._pool
        if pool is None or not runs_concurrently(processor):
            for frame in source:
                yield processor.process(frame)
            return
        pending: deque[Pending] = deque()

        def finish(item: Pending) -> ProcessedFrame:
            frame, timings, future = item
            result = future.result()
            processor.refine(frame, result, timings)
            t0 = processor.clock()
            image = processor.composite(frame, result)
            timings["composite"] = (processor.clock() - t0) * 1e3
            return ProcessedFrame(image=image, result=result, timings_ms=timings)

        for frame in source:
            timings: dict[str, float] = {}
            future = pool.submit(processor.segment, frame, None, timings, False)
            pending.append((frame, timings, future))
            if len(pending) > self.workers:
                yield finish(pending.popleft())
        while pending:
            yield finish(pending.popleft())
