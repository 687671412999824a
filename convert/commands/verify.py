"""`convert verify VARIANT --onnx FILE`: compare an ONNX export with TensorFlow on real photos."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from convert.commands.common import add_mirror, add_models_dir, add_variant
from convert.verify import TOLERANCES


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="run the TF.js graph in TensorFlow and the ONNX file in ONNX Runtime on photos "
        "and compare their logits",
    )
    add_variant(parser)
    parser.add_argument(
        "--onnx", type=Path, default=None, help="ONNX file (default: the default export's path)"
    )
    parser.add_argument(
        "--image",
        type=Path,
        action="append",
        default=None,
        help="photo to test (repeatable; default scikit-image's astronaut and camera)",
    )
    fp32, fp16 = TOLERANCES["fp32"], TOLERANCES["fp16"]
    parser.add_argument(
        "--max-logit-diff",
        type=float,
        default=None,
        help="tolerance on max |logit difference| (default by the file's precision: "
        f"{fp32.max_logit_diff:g} for fp32, not checked for fp16)",
    )
    parser.add_argument(
        "--max-differing",
        type=float,
        default=None,
        help="tolerance on the share of pixels whose sigmoid > 0.7 decision differs "
        f"(default {fp32.max_differing:g} for fp32, {fp16.max_differing:g} for fp16)",
    )
    add_mirror(parser)
    add_models_dir(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from convert.fetch import fetch_variant
    from convert.onnx_export import default_onnx_path
    from convert.verify import format_results, load_image, onnx_file_precision, verify_onnx
    from core.catalog import get_variant
    from core.input_size import default_input_size

    v = get_variant(args.variant)
    onnx_path = args.onnx
    if onnx_path is None:
        onnx_path = default_onnx_path(v.name, *default_input_size(v.stride), False, args.models_dir)
    images = [(p.name, load_image(p)) for p in args.image] if args.image else None
    fetch_variant(v.name, mirror=args.mirror, models_dir=args.models_dir, progress=False)
    results = verify_onnx(v.name, onnx_path, images, models_dir=args.models_dir)
    precision = onnx_file_precision(onnx_path)
    default = TOLERANCES[precision]
    max_logit = args.max_logit_diff if args.max_logit_diff is not None else default.max_logit_diff
    max_differing = args.max_differing if args.max_differing is not None else default.max_differing
    print(f"{v.name}: {onnx_path} ({precision})")
    print(format_results(results))
    failed = [r.label for r in results if not r.passes(max_logit, max_differing)]
    if failed:
        logit = f"{max_logit:g}" if max_logit is not None else "not checked"
        print(
            f"FAILED: {', '.join(failed)} above tolerance (max logit diff {logit}, "
            f"differing pixels {max_differing:.2%})"
        )
        return 1
    print("OK: within tolerance")
    return 0
