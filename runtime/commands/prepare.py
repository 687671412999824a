"""`bodypix prepare-model`: make the configured model ready before the appliance starts.

Run by bodypix-build-engine.service at boot and by the installer. Fetches the configured variant
(official URL or mirror), exports its ONNX, and builds the TensorRT engine when this machine has
TensorRT (`convert build-engine` is itself a no-op when a matching engine exists). Everything is
skipped that is already current, so a normal boot costs seconds; TensorFlow and TensorRT load
only when there is work for them.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.catalog import MIRROR_ENV, MODELS_DIR_ENV, get_variant
from core.errors import UserError
from runtime.backends import CPU_BACKENDS
from runtime.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class PrepareResult:
    variant: str
    onnx: Path  # the dynamic-size ONNX the ONNX Runtime backend loads
    onnx_exported: bool
    engine: Path | None  # the TensorRT engine the runtime will pick, where TensorRT is
    engine_built: bool
    message: str


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "prepare-model",
        help="fetch the configured model, export its ONNX and build the TensorRT engine",
        description=(
            "Make the configured BodyPix variant ready: fetch it, export the ONNX file and, "
            "where TensorRT is installed, build the engine for this GPU. Does nothing for "
            "files that are already current."
        ),
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="config file (default $BODYPIX_CONFIG, else /etc/bodypix-appliance/config.toml "
        "when it exists)",
    )
    parser.add_argument("--variant", help="override the configured variant")
    parser.add_argument("--mirror", help="model mirror: a directory or URL (else the environment)")
    parser.add_argument(
        "--models-dir", type=Path, help=f"models, ONNX and engines (default ${MODELS_DIR_ENV})"
    )
    parser.add_argument(
        "--no-engine", action="store_true", help="prepare the ONNX only, even where TensorRT is"
    )
    parser.add_argument("--force", action="store_true", help="rebuild the engine")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.models_dir is not None:
        # The engine build runs in a child process and the runtime reads the same variable.
        os.environ[MODELS_DIR_ENV] = str(args.models_dir)
    from runtime.config import load_settings

    settings = load_settings(args.config)
    result = prepare_model(
        settings,
        variant=args.variant,
        mirror=args.mirror,
        build_engine=not args.no_engine,
        force=args.force,
    )
    print(result.message)
    return 0


def model_input_size(settings: Settings) -> tuple[int, int]:
    """The ONNX input size the runtime loads for the configured frame size and resolution."""
    from runtime.geometry import input_size_for

    stride = get_variant(settings.variant).stride
    return input_size_for(settings.height, settings.width, settings.internal_resolution, stride)


def _tensorrt_available() -> bool:
    from convert.engine.tensorrt_support import tensorrt_available

    return tensorrt_available()


def prepare_model(
    settings: Settings,
    variant: str | None = None,
    mirror: str | None = None,
    build_engine: bool = True,
    force: bool = False,
) -> PrepareResult:
    """Fetch, export and (where TensorRT is) build; skip whatever is already current.

    Uses the runtime's own lookups (runtime.models.find_onnx, usable_engine), so what is
    prepared here is exactly what `bodypix serve` loads.
    """
    from convert.onnx_export import default_onnx_path, onnx_is_current
    from runtime.models import find_onnx

    v = get_variant(variant or settings.variant)
    dynamic = default_onnx_path(v.name, None, None, True, None)
    exported = not (dynamic.is_file() and onnx_is_current(dynamic, v, None, None))
    if exported:
        from convert.fetch import fetch_variant

        # Fetched here rather than inside the export so that --mirror counts and progress shows.
        fetch_variant(v.name, mirror=mirror, progress=sys.stderr.isatty())
    started = time.monotonic()
    onnx_path = find_onnx(v.name)
    if exported:
        log.info("exported %s in %.0f s", onnx_path, time.monotonic() - started)
    lines = [f"{v.name}: ONNX {'exported' if exported else 'up to date'}: {onnx_path}"]

    engine: Path | None = None
    built = False
    if not build_engine or settings.backend in CPU_BACKENDS:
        lines.append(f"TensorRT engine: not wanted ({settings.backend} backend configured)")
    elif not _tensorrt_available():
        lines.append(
            "TensorRT engine: TensorRT is not installed on this machine, so the ONNX is "
            "prepared for the CPU backends (OpenVINO, ONNX Runtime)"
        )
    else:
        from runtime.backends.tensorrt import usable_engine

        height, width = model_input_size(settings.model_copy(update={"variant": v.name}))
        engine = None if force else usable_engine(v.name, (height, width))
        if engine is None:
            _build_engine(v.name, height, width, mirror, force)
            built = True
            engine = usable_engine(v.name, (height, width))
            if engine is None:
                raise UserError(
                    f"`convert build-engine` finished but no engine for {v.name} at "
                    f"{height}x{width} matches this GPU and TensorRT: check `nvidia-smi` and the "
                    "build messages above, then run `bodypix prepare-model --force`."
                )
        state = "built" if built else "up to date"
        lines.append(f"TensorRT engine {height}x{width}: {state}: {engine}")
    return PrepareResult(v.name, onnx_path, exported, engine, built, "\n".join(lines))


def _build_engine(variant: str, height: int, width: int, mirror: str | None, force: bool) -> None:
    """Runs `convert build-engine` in a child process: TensorRT's memory goes with it."""
    # `-m convert`, never a bare `convert` from PATH: ImageMagick installs one too.
    cmd = [sys.executable, "-m", "convert", "build-engine", variant]
    cmd += ["--height", str(height), "--width", str(width)]
    if force:
        cmd.append("--force")
    env = {**os.environ, MIRROR_ENV: mirror} if mirror else None
    log.info("running %s", " ".join(cmd))
    done = subprocess.run(cmd, check=False, env=env)
    if done.returncode != 0:
        raise UserError(
            f"Building the TensorRT engine for {variant} failed (exit {done.returncode}, see the "
            "messages above): fix the cause and run `bodypix prepare-model --force`; the "
            "appliance uses ONNX Runtime meanwhile."
        )
