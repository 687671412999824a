"""`convert fetch VARIANT`: download and verify a variant's model files."""

from __future__ import annotations

import argparse
from typing import Any

from convert.commands.common import add_mirror, add_models_dir, add_variant


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "fetch", help="download a variant's model JSON and weight shards (verified, cached)"
    )
    add_variant(parser)
    add_mirror(parser)
    add_models_dir(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from convert.fetch import fetch_variant

    path = fetch_variant(
        args.variant, mirror=args.mirror, models_dir=args.models_dir, progress=not args.quiet
    )
    print(path)
    return 0
