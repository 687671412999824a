"""Command-line options shared by `bodypix segment`, `render` and `bench`, mapped onto Settings."""

from __future__ import annotations

import argparse
from typing import Any

from pydantic import ValidationError

from core.catalog import DEFAULT_VARIANT
from core.errors import UserError
from runtime.geometry import INTERNAL_RESOLUTION_PERCENTAGES
from runtime.settings import Settings


def internal_resolution(text: str) -> str | float:
    """low/medium/high/full or a number 0.1-2.0."""
    if text in INTERNAL_RESOLUTION_PERCENTAGES:
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not low, medium, high, full or a number 0.1-2.0"
        ) from None


def rgba(text: str) -> tuple[int, int, int, int]:
    """R,G,B,A with 0-255 components."""
    parts = text.split(",")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4 or not all(0 <= v <= 255 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r} is not R,G,B,A with values 0-255")
    return values[0], values[1], values[2], values[3]


def add_segmentation(parser: argparse.ArgumentParser, extra_backends: tuple[str, ...] = ()) -> None:
    group = parser.add_argument_group("segmentation")
    group.add_argument(
        "--variant", default=DEFAULT_VARIANT, help=f"model variant (default {DEFAULT_VARIANT})"
    )
    group.add_argument(
        "--internal-resolution",
        type=internal_resolution,
        default="medium",
        metavar="R",
        help="low, medium, high, full or 0.1-2.0 (default medium)",
    )
    group.add_argument(
        "--threshold", type=float, default=0.7, help="segmentationThreshold (default 0.7)"
    )
    group.add_argument(
        "--backend",
        choices=["auto", "openvino", "onnxruntime", "tensorrt", *extra_backends],
        default="auto",
        help="backend",
    )
    group.add_argument("--threads", type=int, default=0, help="CPU threads (0 = all cores)")


FRAME_PATH_HELP = (
    "where pre-processing, mask and compositing run: cuda (CUDA kernels), cpu (NumPy/OpenCV) "
    "or auto (CUDA when a CUDA device is usable; the default)"
)


def add_frame_path(parser: argparse.ArgumentParser) -> None:
    """`--frame-path auto|cpu|cuda` (None when not given: the config file decides)."""
    parser.add_argument("--frame-path", choices=["auto", "cpu", "cuda"], help=FRAME_PATH_HELP)


def add_effects(parser: argparse.ArgumentParser, default_effect: str | None = "blur") -> None:
    group = parser.add_argument_group("effect")
    group.add_argument(
        "--effect",
        choices=["blur", "replace", "mask", "parts", "none"],
        default=default_effect,
        required=default_effect is None,
        help="what to do with the background",
    )
    group.add_argument("--background", default=None, help="picture or video for --effect replace")
    group.add_argument("--background-blur", type=int, default=3, help="blur px 1-20 (default 3)")
    group.add_argument(
        "--edge-blur", type=int, default=3, help="mask edge blur px 0-20 (default 3)"
    )
    group.add_argument("--mask-opacity", type=float, default=0.7, help="mask/parts opacity 0-1")
    group.add_argument("--mask-blur", type=int, default=0, help="mask blur px 0-20 (--effect mask)")
    group.add_argument(
        "--foreground-color", type=rgba, default=(0, 0, 0, 0), metavar="R,G,B,A", help="person"
    )
    group.add_argument(
        "--background-color", type=rgba, default=(0, 0, 0, 255), metavar="R,G,B,A", help="rest"
    )
    group.add_argument("--face-blur", action="store_true", help="blur faces (--effect parts)")
    group.add_argument("--flip", action="store_true", help="mirror the output horizontally")
    group.add_argument(
        "--smoothing", type=float, default=None, help="temporal mask smoothing 0-0.99 (video)"
    )
    group.add_argument("--feather", type=int, default=None, help="soft edge px 0-50 (video)")
    group.add_argument(
        "--smoothing-method",
        choices=["motion", "ema"],
        default="motion",
        help="motion: smooth where the frame is still (default); ema: moving average",
    )
    group.add_argument(
        "--edge-refine",
        choices=["off", "guided"],
        default="off",
        help="guided: the mask edge follows the frame's edges (guided filter)",
    )


def settings_from(
    args: argparse.Namespace,
    video: bool = False,
    video_defaults: tuple[float, int] = (0.5, 3),
    **overrides: Any,
) -> Settings:
    """Settings from the parsed options; a bad value is one clear UserError.

    Pictures never get smoothing or feathering; video gets --smoothing/--feather, else
    `video_defaults` (smoothing, feather px).
    """
    fields: dict[str, Any] = {
        "variant": args.variant,
        "internal_resolution": args.internal_resolution,
        "segmentation_threshold": args.threshold,
        "backend": args.backend,
        "threads": args.threads,
    }
    if getattr(args, "effect", None) is not None:
        smoothing = args.smoothing if args.smoothing is not None else video_defaults[0]
        feather = args.feather if args.feather is not None else video_defaults[1]
        fields.update(
            effect=args.effect,
            background=args.background,
            background_blur_amount=args.background_blur,
            edge_blur_amount=args.edge_blur,
            mask={
                "foreground_color": args.foreground_color,
                "background_color": args.background_color,
                "opacity": args.mask_opacity,
                "mask_blur_amount": args.mask_blur,
            },
            parts={"opacity": args.mask_opacity, "face_blur": args.face_blur},
            flip_horizontal=args.flip,
            smoothing=smoothing if video else 0.0,
            feather=feather if video else 0,
            smoothing_method=args.smoothing_method,
            edge_refine=args.edge_refine,
        )
    fields.update(overrides)
    try:
        return Settings(**fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "settings"
        raise UserError(f"Invalid option {where}: {err['msg']} (see --help).") from None
