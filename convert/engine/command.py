"""`convert build-engine [VARIANT | --onnx FILE]`: build the TensorRT engine for this GPU."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from convert.commands.common import add_models_dir
from convert.engine.naming import PRECISIONS
from core.catalog import DEFAULT_VARIANT


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "build-engine",
        help="build the TensorRT engine (FP16 where the GPU has it) for this GPU",
        description=(
            "Parse the ONNX file (exported first when a variant is given) with TensorRT and "
            "build an engine for this GPU and TensorRT version, with a JSON sidecar that "
            "describes it. Does nothing when a matching engine exists (--force rebuilds)."
        ),
    )
    parser.add_argument(
        "variant",
        nargs="?",
        default=None,
        help=f"variant name from `convert list` (default {DEFAULT_VARIANT} unless --onnx)",
    )
    parser.add_argument("--onnx", type=Path, default=None, help="build from this ONNX file")
    parser.add_argument(
        "--height",
        type=int,
        default=None,
        help="input height, (H-1) %% stride == 0 (for a dynamic ONNX: the optimal height)",
    )
    parser.add_argument("--width", type=int, default=None, help="input width, like --height")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=None,
        help="default fp16 where the GPU has fast FP16, else fp32",
    )
    parser.add_argument(
        "--workspace",
        type=int,
        default=None,
        metavar="MiB",
        help="most scratch memory TensorRT may use while building (default: its own)",
    )
    parser.add_argument(
        "--dla-core",
        type=int,
        default=None,
        metavar="N",
        help="run on DLA core N with GPU fallback (Jetson Xavier/Orin; default off)",
    )
    parser.add_argument(
        "--engine-dir",
        type=Path,
        default=None,
        help="where engines go (default {models-dir}/{variant}/engines)",
    )
    add_models_dir(parser)
    parser.add_argument("--force", action="store_true", help="rebuild even a matching engine")
    parser.add_argument("-q", "--quiet", action="store_true", help="no build progress")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from convert.engine.ensure import ensure_engine, resolve_target, validate_options

    validate_options(args.precision, args.workspace, args.dla_core)
    target = resolve_target(
        args.variant, args.onnx, args.height, args.width, args.engine_dir, args.models_dir
    )
    result = ensure_engine(
        target,
        precision=args.precision,
        workspace_mib=args.workspace,
        dla_core=args.dla_core,
        force=args.force,
        progress=not args.quiet,
    )
    sidecar = result.sidecar
    if result.built:
        print(
            f"{result.path}  ({sidecar.precision}, TensorRT {sidecar.tensorrt_version}, "
            f"{sidecar.gpu_name}; built in {sidecar.build_seconds:.0f} s)"
        )
    else:
        print(
            f"{result.path}  (up to date for {sidecar.gpu_name}, TensorRT "
            f"{sidecar.tensorrt_version}; --force rebuilds it)"
        )
    return 0
