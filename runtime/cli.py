"""The `bodypix` command line: subcommands registered from one module each."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from convert.errors import UserError

# Each module defines `register(subparsers)`, which adds its parser and sets `func(args) -> int`.
COMMAND_MODULES: tuple[str, ...] = (
    "runtime.commands.prepare",
    "runtime.commands.run",
    "runtime.commands.segment",
    "runtime.commands.render",
    "runtime.commands.bench",
)


def build_parser(extra_modules: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bodypix",
        description="Real-time BodyPix person segmentation: blur, replace or mask the background.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in (*COMMAND_MODULES, *extra_modules):
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None, extra_modules: Sequence[str] = ()) -> int:
    args = build_parser(extra_modules).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"bodypix: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("bodypix: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
