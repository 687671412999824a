"""`bodypix segment IMAGE -o MASK.png`: BodyPix's segmentPerson / segmentPersonParts on a picture."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from runtime.commands.options import add_segmentation, settings_from


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "segment",
        help="write the person mask (or part ids) of a picture",
        description=(
            "Segment the people in a picture as BodyPix does. Writes a PNG: 255 where a person "
            "is and 0 elsewhere, or with --parts the body part id + 1 (1-24) and 0 elsewhere."
        ),
    )
    parser.add_argument("image", type=Path, help="picture (PNG, JPEG, ...; gray/RGBA/16-bit ok)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="mask PNG to write")
    parser.add_argument("--parts", action="store_true", help="write body part ids instead")
    add_segmentation(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from runtime.images import load_image, write_image
    from runtime.processor import FrameProcessor

    settings = settings_from(args, effect="none")
    frame = load_image(args.image)
    processor = FrameProcessor(settings)
    try:
        result = processor.segment(frame, parts=args.parts)
    finally:
        processor.close()
    if args.parts and result.part_ids is not None:
        out = (result.part_ids.astype(np.int16) + 1).astype(np.uint8)
    else:
        out = np.where(result.mask > 0.5, 255, 0).astype(np.uint8)
    write_image(args.output, out)
    person = float((result.mask > 0.5).mean()) * 100
    print(f"{args.output}: {frame.shape[1]}x{frame.shape[0]}, person {person:.1f} % of pixels")
    return 0
