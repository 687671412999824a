"""`bodypix bench`: the whole CPU/GPU pipeline on the built-in demo clip, per-stage milliseconds."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from core.errors import UserError
from runtime.commands.options import add_effects, add_segmentation, settings_from

if TYPE_CHECKING:
    from runtime.processor import U8, FrameProcessor, SegmentationResult
    from runtime.settings import Settings

STAGES = ("preprocess", "inference", "mask", "composite")
DEFAULT_SIZE = (640, 480)


def size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WxH, e.g. 640x480") from None
    if not (16 <= w <= 7680 and 16 <= h <= 4320):
        raise argparse.ArgumentTypeError(f"{text!r} is outside 16x16 - 7680x4320")
    return w, h


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="time the pipeline on the built-in demo clip",
        description=(
            "Run pre-process, inference, mask and composite on the built-in demo clip (a real "
            "photo moving across the frame) and print milliseconds per stage and frames per "
            "second (wall clock, all stages, one frame at a time; --overlap segments the next "
            "frame on a second thread while this one is composited, as the live pipeline's "
            "threads do). No smoothing or feathering unless --smoothing/--feather are given."
        ),
    )
    parser.add_argument(
        "--size",
        type=size,
        default=None,
        metavar="WxH",
        help="frame size (default 640x480; --backend cuda: 1280x720 and 1920x1080)",
    )
    parser.add_argument("--frames", type=int, default=200, help="timed frames (default 200)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed frames first")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--cpu-stages",
        action="store_true",
        help="stage milliseconds of process CPU time (all threads) instead of wall clock "
        "(one frame at a time only)",
    )
    parser.add_argument(
        "--overlap",
        action="store_true",
        help="segment frame n+1 while compositing frame n (two threads, like the live pipeline)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="frames segmented at once, each on its own thread with one inference thread, "
        "then refined and composited in order (as `render` does a video file; default 1)",
    )
    add_effects(parser, default_effect="blur")
    # `--backend cuda`: the CUDA kernels, timed with CUDA events (runtime/cuda/bench.py).
    add_segmentation(parser, extra_backends=("cuda",))
    parser.set_defaults(func=run)


class FrameRunner:
    """Segments and composites frames of one settings in one of three shapes:

    - one frame at a time (the default);
    - `overlap`: frame n+1 is segmented on a second thread while frame n is composited, the
      shape of the live camera pipeline (its segment and composite threads);
    - `workers` > 1: that many frames segmented at once, each on its own thread with one
      inference thread, refined and composited in order (`runtime.parallel`, the shape of
      `bodypix render` on a video file).

    Every frame gets every stage in each shape; `run` returns their stage milliseconds.
    """

    def __init__(self, settings: Settings, overlap: bool = False, workers: int = 1) -> None:
        from runtime.parallel import ParallelFrames
        from runtime.processor import FrameProcessor

        if workers < 1:
            raise UserError(f"--workers {workers} must be at least 1.")
        if workers > 1 and overlap:
            raise UserError(
                "--overlap and --workers both decide how frames share the cores: give one."
            )
        if workers > 1:
            settings = settings.model_copy(update={"threads": 1})
        self.overlap = overlap
        self.workers = workers
        self.processor = FrameProcessor(settings)
        self._parallel: ParallelFrames | None = None
        if workers > 1:
            self._parallel = ParallelFrames(self.processor, workers).__enter__()

    def run(self, frames: Sequence[U8], count: int, first: int = 0) -> list[dict[str, float]]:
        """Segment and composite `count` frames (frames[first], ... cycling)."""
        from runtime.parallel import runs_concurrently

        pick = [frames[(first + i) % len(frames)] for i in range(count)]
        if self._parallel is not None:
            done = [frame.timings_ms for frame in self._parallel.process(pick)]
            if not runs_concurrently(self.processor):
                name = self.processor.backend.name if self.processor.backend else "this"
                raise UserError(
                    f"--workers {self.workers} needs a backend that runs several frames at "
                    f"once and the {name} backend runs one at a time: use --backend "
                    "openvino, --backend onnxruntime or leave --workers out."
                )
            return done
        if self.overlap:
            return _overlapped(self.processor, pick)
        return [self.processor.process(frame).timings_ms for frame in pick]

    def close(self) -> None:
        if self._parallel is not None:
            self._parallel.__exit__(None, None, None)
            self._parallel = None
        self.processor.close()


def _overlapped(processor: FrameProcessor, pick: Sequence[U8]) -> list[dict[str, float]]:
    def segment(frame: U8) -> tuple[SegmentationResult, dict[str, float]]:
        timings: dict[str, float] = {}
        return processor.segment(frame, timings=timings), timings

    out = []
    with ThreadPoolExecutor(1, thread_name_prefix="bench-segment") as pool:
        ahead = pool.submit(segment, pick[0])
        for i, frame in enumerate(pick):
            result, timings = ahead.result()
            if i + 1 < len(pick):
                ahead = pool.submit(segment, pick[i + 1])
            t0 = processor.clock()
            processor.composite(frame, result)
            timings["composite"] = (processor.clock() - t0) * 1e3
            out.append(timings)
    return out


def run(args: argparse.Namespace) -> int:
    if args.backend == "cuda":
        from runtime.cuda.bench import run_cuda_bench

        return run_cuda_bench(args)
    from runtime.demo import DemoClip

    if args.frames < 1:
        raise UserError(f"--frames {args.frames} must be at least 1.")
    if args.cpu_stages and (args.overlap or args.workers > 1):
        raise UserError(
            "--cpu-stages times each stage with the process's CPU clock, which counts every "
            "thread of --overlap or --workers at once: give one of the two."
        )
    width, height = args.size or DEFAULT_SIZE
    # BodyPix semantics by default (like the live pipeline's defaults); --smoothing/--feather add
    # the video refinements.
    settings = settings_from(args, video=True, video_defaults=(0.0, 0))
    clip = DemoClip(width, height)
    frames = [clip.frame(i * 7) for i in range(32)]  # decoded up front: not part of the timing
    runner = FrameRunner(settings, overlap=args.overlap, workers=args.workers)
    if args.cpu_stages:
        runner.processor.clock = time.process_time
    try:
        runner.run(frames, args.warmup)
        per_stage: dict[str, list[float]] = {k: [] for k in STAGES}
        start, cpu_start = time.perf_counter(), time.process_time()
        for timings in runner.run(frames, args.frames):
            for k in STAGES:
                per_stage[k].append(timings[k])
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu_start
        processor = runner.processor
        backend = processor.backend.name if processor.backend else "?"
        geometry = processor.geometry(height, width)
    finally:
        runner.close()
    report: dict[str, Any] = {
        "size": f"{width}x{height}",
        "effect": settings.effect,
        "variant": settings.variant,
        "internal_resolution": settings.internal_resolution,
        "model_input": f"{geometry.input_size[1]}x{geometry.input_size[0]}",
        "backend": backend,
        "frames": args.frames,
        "overlap": args.overlap,
        "workers": args.workers,
        "stage_clock": "process CPU" if args.cpu_stages else "wall",
        "ms_mean": {k: round(statistics.fmean(v), 3) for k, v in per_stage.items()},
        "ms_median": {k: round(statistics.median(v), 3) for k, v in per_stage.items()},
        "fps": round(args.frames / elapsed, 1),
        # CPU time of this process per frame (all its threads): what the frame costs the
        # machine, less sensitive than wall time to other programs' load.
        "cpu_ms_per_frame": round(cpu / args.frames * 1e3, 2),
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    if args.json:
        print(json.dumps(report))
        return 0
    print(
        f"{report['size']} {settings.effect} {settings.variant} {settings.internal_resolution} "
        f"(model input {report['model_input']}, {backend}, {args.frames} frames"
        f"{', overlapped' if args.overlap else ''}"
        f"{f', {args.workers} frames at once' if args.workers > 1 else ''}, "
        f"load {report['load_average_1m']} on {report['cpu_count']} CPUs)"
    )
    unit = "CPU ms" if args.cpu_stages else "ms"
    for k in STAGES:
        print(
            f"  {k:<11} {report['ms_mean'][k]:8.2f} {unit} mean  "
            f"{report['ms_median'][k]:8.2f} median"
        )
    total = sum(report["ms_mean"].values())
    # Overlapped, the stages of two frames run at once: the fps is more than 1000 / total.
    print(f"  {'total':<11} {total:8.2f} ms      {report['fps']:.1f} fps")
    print(f"  {'cpu time':<11} {report['cpu_ms_per_frame']:8.2f} ms per frame (all threads)")
    return 0
