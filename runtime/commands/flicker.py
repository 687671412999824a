"""`bodypix flicker`: mask flicker on a still clip and motion lag on a moving one, per smoother.

The figures are defined in runtime/flicker.py. Rows: BodyPix unsmoothed, the exponential moving
average (`--smoothing-method ema`) and the motion-aware smoother (`motion`, the video default),
both at the same --smoothing strength.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import cv2
import numpy as np

from core.catalog import DEFAULT_VARIANT
from core.errors import UserError
from runtime.commands.options import internal_resolution

METHODS: tuple[tuple[str, str, str], ...] = (
    ("none", "ema", "BodyPix, no smoothing"),
    ("ema", "ema", "exponential moving average"),
    ("motion", "motion", "motion-aware + hysteresis"),
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "flicker",
        help="measure mask flicker and motion lag per smoothing method",
        description=(
            "Run the live CPU processor over two synthetic clips made from a real photo: the "
            "photo still with fresh sensor noise in every frame, and the photo moving sideways "
            "at a known speed. Print, per smoothing method: the share of pixels whose "
            "person/background decision flips between frames and the mean |alpha change| in "
            "the edge band (still clip), and the frames the mask edge trails the true motion "
            "(moving clip)."
        ),
    )
    parser.add_argument("--variant", default=DEFAULT_VARIANT, help="model variant")
    parser.add_argument(
        "--internal-resolution", type=internal_resolution, default="medium", metavar="R"
    )
    parser.add_argument("--threshold", type=float, default=0.7, help="segmentationThreshold")
    parser.add_argument("--smoothing", type=float, default=0.5, help="strength (default 0.5)")
    parser.add_argument("--frames", type=int, default=30, help="frames per clip (default 30)")
    parser.add_argument("--noise", type=float, default=2.5, help="sensor noise sigma (levels)")
    parser.add_argument("--speed", type=float, default=3.0, help="px per frame, moving clip")
    parser.add_argument("--edge-refine", choices=["off", "guided"], default="off")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from runtime import flicker as fl
    from runtime.processor import FrameProcessor
    from runtime.settings import Settings

    if args.frames < fl.SETTLE_FRAMES + 2:
        raise UserError(f"--frames {args.frames} is too few: use at least {fl.SETTLE_FRAMES + 2}.")
    if not 0 < args.smoothing < 1:
        raise UserError(f"--smoothing {args.smoothing} must be between 0 and 1 (exclusive).")
    photo = fl.load_photo()
    travel = args.frames * args.speed
    if args.speed <= 0 or travel > fl.max_travel(photo.shape[1]):
        raise UserError(
            f"--frames {args.frames} at --speed {args.speed} px/frame moves the photo "
            f"{travel:g} px: keep the speed above 0 and the product under "
            f"{fl.max_travel(photo.shape[1]):g} px (fewer frames or a lower speed)."
        )
    if args.noise < 0:
        raise UserError(f"--noise {args.noise} is negative: give a sigma in levels, e.g. 2.5.")
    base = Settings(
        effect="none",
        variant=args.variant,
        internal_resolution=args.internal_resolution,
        segmentation_threshold=args.threshold,
        backend="onnxruntime",
        edge_refine=args.edge_refine,
    )
    processor = FrameProcessor(base)
    rows = []
    try:
        person = np.asarray(
            cv2.GaussianBlur(processor.segment(photo, parts=False).mask, (0, 0), 1.0), np.float32
        )
        still = fl.still_clip(photo, args.frames, args.noise)
        clips = {
            "pan": fl.moving_clip(photo, args.frames, args.speed, args.noise),
            "walk": fl.person_clip(photo, person, args.frames, args.speed, args.noise),
        }
        for name, method, label in METHODS:
            strength = 0.0 if name == "none" else args.smoothing
            processor.update_settings(
                base.model_copy(update={"smoothing": strength, "smoothing_method": method})
            )

            def segment(frame: Any) -> Any:
                return processor.segment(frame, parts=False).mask

            f = fl.flicker(fl.run_clip(segment, processor.reset_smoothing, still))
            row: dict[str, Any] = {
                "method": name,
                "label": label,
                "smoothing": strength,
                "flips_pct": round(100 * f.flips, 4),
                "edge_change": round(f.edge_change, 5),
            }
            for clip_name, clip in clips.items():
                masks = fl.run_clip(segment, processor.reset_smoothing, clip)
                row[f"lag_{clip_name}"] = round(fl.motion_lag(masks, args.speed), 3)
            rows.append(row)
    finally:
        processor.close()
    none = rows[0]
    for row in rows:
        row["flips_vs_none"] = (
            round(row["flips_pct"] / none["flips_pct"], 3) if none["flips_pct"] else None
        )
        row["added_lag"] = round(
            max(row[f"lag_{c}"] - none[f"lag_{c}"] for c in ("pan", "walk")), 3
        )
    return {
        "photo": str(fl.PHOTO.name),
        "size": f"{photo.shape[1]}x{photo.shape[0]}",
        "variant": args.variant,
        "internal_resolution": args.internal_resolution,
        "frames": args.frames,
        "noise_sigma": args.noise,
        "speed_px_per_frame": args.speed,
        "edge_refine": args.edge_refine,
        "rows": rows,
    }


def run(args: argparse.Namespace) -> int:
    report = measure(args)
    if args.json:
        print(json.dumps(report))
        return 0
    print(
        f"{report['size']} {report['photo']}, {report['variant']} {report['internal_resolution']}, "
        f"{report['frames']} frames per clip, noise sigma {report['noise_sigma']}, "
        f"moving {report['speed_px_per_frame']} px/frame, edge refine {report['edge_refine']}"
    )
    print(
        f"  {'method':<8} {'strength':>8} {'flips %':>9} {'x none':>7} {'edge |da|':>10} "
        f"{'lag pan':>8} {'lag walk':>9} {'added':>6}"
    )
    for r in report["rows"]:
        ratio = "-" if r["flips_vs_none"] is None else f"{r['flips_vs_none']:.2f}"
        print(
            f"  {r['method']:<8} {r['smoothing']:>8.2f} {r['flips_pct']:>9.4f} {ratio:>7} "
            f"{r['edge_change']:>10.5f} {r['lag_pan']:>8.2f} {r['lag_walk']:>9.2f} "
            f"{r['added_lag']:>6.2f}"
        )
    print(
        "  flips: share of pixels changing side per frame (still clip); edge |da|: mean alpha "
        "change within 8 px of the edge; lag: frames behind the true motion (pan: the whole "
        "photo moves; walk: the person moves over a still background); added: worst lag "
        "minus unsmoothed"
    )
    return 0
