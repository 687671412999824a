"""The `convert` command line: subcommands registered from one module each.

Call it as `python -m convert` or by its path in the virtual environment (`.venv/bin/convert`):
ImageMagick installs a `convert` of its own.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from core import commandline

COMMAND_MODULES: tuple[str, ...] = (
    "convert.commands.list_variants",
    "convert.commands.fetch",
    "convert.commands.export_onnx",
    "convert.commands.verify",
    "convert.engine.command",
)


def build_parser() -> argparse.ArgumentParser:
    return commandline.build_parser(
        "convert",
        "BodyPix model conversion: fetch official TF.js models, export them to ONNX, verify the "
        "export against TensorFlow, build TensorRT engines.",
        COMMAND_MODULES,
    )


def main(argv: Sequence[str] | None = None) -> int:
    return commandline.run(build_parser(), argv, "%(levelname)s %(name)s: %(message)s")


if __name__ == "__main__":
    sys.exit(main())
