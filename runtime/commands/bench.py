"""`bodypix bench`: the whole CPU/GPU pipeline on the built-in demo clip, per-stage milliseconds."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

from convert.errors import UserError
from runtime.commands.options import add_effects, add_segmentation, settings_from

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
            "second (wall clock, all stages, one frame at a time). No smoothing or feathering "
            "unless --smoothing/--feather are given."
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
    add_effects(parser, default_effect="blur")
    # `--backend cuda`: the CUDA kernels, timed with CUDA events (runtime/cuda/bench.py).
    add_segmentation(parser, extra_backends=("cuda",))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.backend == "cuda":
        from runtime.cuda.bench import run_cuda_bench

        return run_cuda_bench(args)
    from runtime.demo import DemoClip
    from runtime.processor import FrameProcessor

    if args.frames < 1:
        raise UserError(f"--frames {args.frames} must be at least 1.")
    width, height = args.size or DEFAULT_SIZE
    # BodyPix semantics by default (like the live pipeline's defaults); --smoothing/--feather add
    # the video refinements.
    settings = settings_from(args, video=True, video_defaults=(0.0, 0))
    clip = DemoClip(width, height)
    frames = [clip.frame(i * 7) for i in range(32)]  # decoded up front: not part of the timing
    processor = FrameProcessor(settings)
    try:
        for i in range(args.warmup):
            processor.process(frames[i % len(frames)])
        per_stage: dict[str, list[float]] = {k: [] for k in STAGES}
        start, cpu_start = time.perf_counter(), time.process_time()
        for i in range(args.frames):
            timings = processor.process(frames[i % len(frames)]).timings_ms
            for k in STAGES:
                per_stage[k].append(timings[k])
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu_start
        backend = processor.backend.name if processor.backend else "?"
        geometry = processor.geometry(height, width)
    finally:
        processor.close()
    report: dict[str, Any] = {
        "size": f"{width}x{height}",
        "effect": settings.effect,
        "variant": settings.variant,
        "internal_resolution": settings.internal_resolution,
        "model_input": f"{geometry.input_size[1]}x{geometry.input_size[0]}",
        "backend": backend,
        "frames": args.frames,
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
        f"(model input {report['model_input']}, {backend}, {args.frames} frames, "
        f"load {report['load_average_1m']} on {report['cpu_count']} CPUs)"
    )
    for k in STAGES:
        print(
            f"  {k:<11} {report['ms_mean'][k]:8.2f} ms mean  {report['ms_median'][k]:8.2f} median"
        )
    total = sum(report["ms_mean"].values())
    print(f"  {'total':<11} {total:8.2f} ms      {report['fps']:.1f} fps")
    print(f"  {'cpu time':<11} {report['cpu_ms_per_frame']:8.2f} ms per frame (all threads)")
    return 0
