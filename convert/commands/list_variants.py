"""`convert list`: every variant, its download size, and what is cached."""

from __future__ import annotations

import argparse
from typing import Any

from convert.commands.common import add_models_dir


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("list", help="list the BodyPix variants and what is cached")
    add_models_dir(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from convert.fetch import verify_cached
    from core.catalog import DEFAULT_VARIANT, VARIANTS, default_models_dir

    models_dir = args.models_dir or default_models_dir()
    print(f"models directory: {models_dir}")
    print(
        f"{'variant':<32} {'arch':<11} {'mult':>4} {'stride':>6} {'quant':>5} {'download':>9}  cached"
    )
    for name, v in VARIANTS.items():
        model = verify_cached(name, models_dir)
        if model is None:
            size = f"~{v.approx_download_bytes / 1e6:.1f} MB"
            cached = "-"
        else:
            total = sum(p.stat().st_size for p in model.source_files())
            size = f"{total / 1e6:.1f} MB"
            onnx_dir = models_dir / name / "onnx"
            onnx = sorted(p.name for p in onnx_dir.glob("*.onnx")) if onnx_dir.is_dir() else []
            cached = "model" + (f" + {len(onnx)} onnx" if onnx else "")
        mark = " (default)" if name == DEFAULT_VARIANT else ""
        print(
            f"{name:<32} {v.architecture:<11} {v.multiplier:>4g} {v.stride:>6} "
            f"{v.quant_bytes:>5} {size:>9}  {cached}{mark}"
        )
    return 0
