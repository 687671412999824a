"""The frame shared by the `convert` and `bodypix` command lines.

Subcommands are registered from one module each: a module defines `register(subparsers)`, which
adds its parser and sets `func(args) -> int`, and imports its heavy dependencies in `func`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from core.errors import UserError


def build_parser(prog: str, description: str, modules: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in modules:
        importlib.import_module(name).register(subparsers)
    return parser


def run(parser: argparse.ArgumentParser, argv: Sequence[str] | None, log_format: str) -> int:
    """Parse, run the subcommand, and turn a UserError into one line and a non-zero exit."""
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format=log_format)
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130
