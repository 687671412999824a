"""The `bodypix` command line: subcommands registered from one module each."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from core import commandline

COMMAND_MODULES: tuple[str, ...] = (
    "runtime.commands.prepare",
    "runtime.commands.run",
    "runtime.commands.segment",
    "runtime.commands.render",
    "runtime.commands.bench",
    "runtime.commands.flicker",
    "runtime.commands.compare",
)


def build_parser(extra_modules: Sequence[str] = ()) -> argparse.ArgumentParser:
    return commandline.build_parser(
        "bodypix",
        "Real-time BodyPix person segmentation: blur, replace or mask the background.",
        (*COMMAND_MODULES, *extra_modules),
    )


def main(argv: Sequence[str] | None = None, extra_modules: Sequence[str] = ()) -> int:
    return commandline.run(
        build_parser(extra_modules), argv, "%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


if __name__ == "__main__":
    sys.exit(main())
