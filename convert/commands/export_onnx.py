"""`convert export-onnx VARIANT`: export a variant to ONNX (fetching it first if needed)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from convert.commands.common import add_mirror, add_models_dir, add_variant
from convert.metadata import PRECISIONS


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "export-onnx",
        help="convert a variant to ONNX: input `image` [1,H,W,3] RGB 0..255, outputs "
        "`segments` and `part_heatmaps` logits",
    )
    add_variant(parser)
    parser.add_argument(
        "--height", type=int, default=None, help="input height, (H-1) %% stride == 0"
    )
    parser.add_argument("--width", type=int, default=None, help="input width, (W-1) %% stride == 0")
    parser.add_argument("--dynamic", action="store_true", help="symbolic height and width")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="fp16: FP16 weights and activations, float32 input and outputs (for TensorRT "
        "versions that build FP16 engines only from an FP16 network; default fp32)",
    )
    parser.add_argument("-o", "--output", type=Path, default=None, help="ONNX file to write")
    add_mirror(parser)
    add_models_dir(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from convert.fetch import fetch_variant
    from convert.onnx_export import (
        export_onnx,
        require_conversion_stack,
        require_fp16_converter,
        resolve_size,
    )
    from core.catalog import get_variant

    # Fail fast, before any download: bad size, missing conversion stack.
    resolve_size(get_variant(args.variant), args.height, args.width, args.dynamic)
    require_conversion_stack()
    if args.precision == "fp16":
        require_fp16_converter()
    fetch_variant(
        args.variant, mirror=args.mirror, models_dir=args.models_dir, progress=not args.quiet
    )
    started = time.monotonic()
    path = export_onnx(
        args.variant,
        height=args.height,
        width=args.width,
        dynamic=args.dynamic,
        output=args.output,
        models_dir=args.models_dir,
        progress=not args.quiet,
        precision=args.precision,
    )
    seconds = time.monotonic() - started
    size = path.stat().st_size / 1e6
    print(f"{path}  ({args.precision}, {size:.2f} MB, exported in {seconds:.1f} s)")
    return 0
