"""`bodypix render INPUT -o OUTPUT --effect ...`: apply an effect to a picture, a video or a camera."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from core.atomic import atomic_path
from core.errors import UserError
from runtime.commands.options import add_effects, add_segmentation, settings_from

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".mpg", ".mpeg"})
# Container -> FourCC OpenCV's bundled FFmpeg can always write.
_FOURCC = {".avi": "MJPG", ".mkv": "MJPG"}
_DEFAULT_FOURCC = "mp4v"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "render",
        help="blur, replace or mask the background of a picture, video file or camera",
        description=(
            "Apply an effect to INPUT: a picture, a video file (same frame rate, no audio, "
            "progress bar) or a camera index such as 0 (until Ctrl-C or --frames). Video gets "
            "temporal smoothing 0.5 and 3 px feathered edges unless --smoothing/--feather say "
            "otherwise; pictures get neither."
        ),
    )
    parser.add_argument("input", help="picture, video file or camera index")
    parser.add_argument(
        "-o", "--output", type=Path, required=True, help="picture or video to write"
    )
    parser.add_argument("--frames", type=int, default=None, help="stop after N frames (video)")
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="video file: frames segmented at once, each on one core (default 0: one per CPU; "
        "a camera is always read one frame at a time)",
    )
    add_effects(parser, default_effect=None)
    add_segmentation(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    source = str(args.input)
    if source.isdigit():
        return _render_video(args, int(source), camera=True)
    path = Path(source)
    if not path.exists():
        raise UserError(f"Input {path} does not exist: give a picture, a video or a camera index.")
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return _render_video(args, path, camera=False)
    return _render_image(args, path)


def _check_background(args: argparse.Namespace) -> None:
    if args.effect == "replace" and not args.background:
        raise UserError("--effect replace needs a background: add --background PICTURE_OR_VIDEO.")


def _render_image(args: argparse.Namespace, path: Path) -> int:
    from runtime.images import load_image, write_image
    from runtime.processor import FrameProcessor

    _check_background(args)
    if args.output.suffix.lower() in VIDEO_SUFFIXES:
        raise UserError(f"{args.output} is a video name but {path} is a picture: use .png or .jpg.")
    settings = settings_from(args, video=False)
    frame = load_image(path)
    processor = FrameProcessor(settings)
    try:
        out = processor.process(frame).image
    finally:
        processor.close()
    write_image(args.output, out)
    print(f"{args.output}: {out.shape[1]}x{out.shape[0]}, effect {settings.effect}")
    return 0


def _render_video(args: argparse.Namespace, source: Path | int, camera: bool) -> int:
    import cv2
    from tqdm import tqdm

    from runtime.parallel import ParallelFrames
    from runtime.processor import FrameProcessor

    _check_background(args)
    suffix = args.output.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise UserError(f"{args.output} must be a video name for a video input: use .mp4 or .avi.")
    out_dir = args.output.parent if str(args.output.parent) else Path(".")
    if not out_dir.is_dir():
        raise UserError(f"Output folder {out_dir} does not exist: create it first.")
    capture = cv2.VideoCapture(source if camera else str(source))
    if not capture.isOpened():
        what = f"camera {source}" if camera else f"video {source}"
        raise UserError(f"Cannot open {what}: check that it exists and is not in use.")
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    if not 0 < fps <= 240:
        fps = 30.0
    total = None if camera else int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    if args.frames is not None:
        total = min(total, args.frames) if total else args.frames
    if args.workers < 0:
        raise UserError(f"--workers {args.workers} must be 0 (one per CPU) or more.")
    workers = 1 if camera else args.workers or os.cpu_count() or 1
    settings = settings_from(args, video=True)
    if workers > 1:  # each worker is one core's worth
        settings = settings.model_copy(update={"threads": 1})
    processor = FrameProcessor(settings)
    writer: Any = None
    count = 0
    stopped = False

    def decoded() -> Iterator[np.ndarray]:
        read = 0
        while args.frames is None or read < args.frames:
            ok, frame = capture.read()
            if not ok:
                return
            read += 1
            yield np.asarray(frame, dtype=np.uint8)

    try:
        # The temporary file keeps the suffix: OpenCV picks the container by it.
        with (
            atomic_path(args.output, suffix=suffix) as tmp,
            ParallelFrames(processor, workers) as parallel,
        ):
            try:
                with tqdm(total=total, unit="frame", desc=str(args.output), disable=None) as bar:
                    for done in parallel.process(decoded()):
                        image = done.image
                        if writer is None:
                            fourcc = cv2.VideoWriter.fourcc(*_FOURCC.get(suffix, _DEFAULT_FOURCC))
                            size = (image.shape[1], image.shape[0])
                            writer = cv2.VideoWriter(str(tmp), fourcc, fps, size)
                            if not writer.isOpened():
                                raise UserError(
                                    f"Cannot write video {args.output}: use .mp4 or .avi."
                                )
                        writer.write(image)
                        count += 1
                        bar.update(1)
            except KeyboardInterrupt:
                if not count:
                    raise
                stopped = True  # Ctrl-C ends a camera recording: keep what was written
            if count == 0:
                raise UserError(f"{source} has no readable frames: give a video OpenCV can decode.")
            writer.release()
            writer = None
    finally:
        if writer is not None:
            writer.release()
        capture.release()
        processor.close()
    if stopped:
        print(f"{args.output}: stopped after {count} frames")
        return 0
    print(f"{args.output}: {count} frames at {fps:g} fps")
    return 0
