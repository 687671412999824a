"""Arguments several `convert` subcommands share."""

from __future__ import annotations

import argparse
from pathlib import Path

from core.catalog import DEFAULT_VARIANT, MIRROR_ENV, MODELS_DIR_ENV


def add_variant(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "variant",
        nargs="?",
        default=DEFAULT_VARIANT,
        help=f"variant name from `convert list` (default {DEFAULT_VARIANT})",
    )


def add_models_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=None,
        help=f"model cache (default ${MODELS_DIR_ENV} or ~/.cache/bodypix-appliance/models)",
    )


def add_mirror(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mirror",
        default=None,
        metavar="DIR|URL",
        help=f"copy of the models, one folder per variant (default ${MIRROR_ENV}, else the "
        "official URL)",
    )
