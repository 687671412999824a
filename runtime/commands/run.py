"""`bodypix run`: the live pipeline from the command line (what the systemd service runs).

SIGTERM/SIGINT stop it within 2 s; SIGHUP re-reads the config file (and the environment),
keeping the command-line flags on top, and applies the result between frames.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from core.errors import UserError

log = logging.getLogger("bodypix.run")
STOP_TIMEOUT_S = 2.0


def register(subparsers: Any) -> None:
    from runtime.commands.options import add_frame_path
    from runtime.config import DEFAULT_CONFIG_PATH

    parser = subparsers.add_parser(
        "run",
        help="run the live pipeline: camera -> segmentation -> virtual camera / file / preview",
        description=(
            "Run the live pipeline until stopped. Sources: v4l2:///dev/video0, csi://0, "
            "rtsp://..., file://clip.mp4, image://photo.jpg, demo://. Outputs: "
            "v4l2loopback:///dev/video10, mjpeg://, file://out.mp4. Flags override the config "
            "file and BODYPIX_* environment variables."
        ),
    )
    parser.add_argument("--source", help="source URI (default demo://)")
    parser.add_argument(
        "--output",
        action="append",
        dest="outputs",
        metavar="URI",
        help="output URI; repeat for several (replaces the configured outputs)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        help=f"TOML config file (default $BODYPIX_CONFIG, else {DEFAULT_CONFIG_PATH} if present)",
    )
    parser.add_argument("--width", type=int, help="frame width asked of the camera and written")
    parser.add_argument("--height", type=int, help="frame height asked of the camera and written")
    parser.add_argument("--fps", type=float, help="frame rate asked of the camera and written")
    parser.add_argument("--effect", help="blur, replace, mask, parts or none")
    parser.add_argument("--background", help="background image or video for --effect replace")
    parser.add_argument("--variant", help="BodyPix model variant")
    parser.add_argument("--internal-resolution", help="low, medium, high, full or 0.1-2.0")
    parser.add_argument("--backend", help="auto, tensorrt, openvino or onnxruntime")
    add_frame_path(parser)
    parser.add_argument(
        "--idle-after",
        type=float,
        help="seconds without a reader (virtual camera, preview, file) before segmentation "
        "pauses; 0 = never (default 10; with --frames or --duration: 0)",
    )
    parser.add_argument(
        "--idle-camera",
        choices=["keep", "close"],
        help="while idle: keep the camera open or close it",
    )
    parser.add_argument(
        "--frames", type=int, default=0, help="stop after this many processed frames (0: run on)"
    )
    parser.add_argument(
        "--duration", type=float, default=0.0, help="stop after this many seconds (0: run on)"
    )
    parser.add_argument(
        "--stats-interval", type=float, default=30.0, help="log the status every N s (0: never)"
    )
    parser.add_argument(
        "--report",
        action="store_true",
        help="print a JSON summary at the end: fps, latency, frames, memory at start and end",
    )
    parser.set_defaults(func=run)


def flag_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line (None = not given, the config decides)."""
    return {
        "source": args.source,
        "outputs": args.outputs,
        "width": args.width,
        "height": args.height,
        "fps": args.fps,
        "effect": args.effect,
        "background": args.background,
        "variant": args.variant,
        "internal_resolution": args.internal_resolution,  # "0.5" validates as a number
        "backend": args.backend,
        "frame_path": args.frame_path,
        # A run for a number of frames or seconds is a measurement or a batch job: it does not
        # idle unless asked to (on demand, issue 17).
        "idle_after": (
            0.0 if args.idle_after is None and (args.frames or args.duration) else args.idle_after
        ),
        "idle_camera": args.idle_camera,
    }


def rss_mb() -> float:
    """Resident memory of this process in MiB (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def run(args: argparse.Namespace) -> int:
    from runtime.config import load_settings
    from runtime.pipeline import Pipeline

    overrides = flag_overrides(args)
    settings = load_settings(args.config, overrides)
    pipeline = Pipeline(settings)
    stop = threading.Event()
    reload = threading.Event()

    def on_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        stop.set()

    def on_hup(_signum: int, _frame: FrameType | None) -> None:
        reload.set()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_hup)

    started = time.monotonic()
    rss_start: float | None = None
    frames_at_start = 0
    cpu_at_start = 0.0
    last_stats = started
    pipeline.start()
    log.info("running: %s -> %s", settings.source, ", ".join(settings.outputs))
    try:
        while not stop.wait(0.05):
            now = time.monotonic()
            if reload.is_set():
                reload.clear()
                try:
                    new = load_settings(args.config, overrides)
                    pipeline.apply_settings(new)
                    log.info("SIGHUP: configuration reloaded")
                except UserError as exc:
                    log.error(
                        "SIGHUP: configuration not reloaded, keeping the current one: %s", exc
                    )
            status = pipeline.status()
            # Memory is measured from the first processed frame on: model loading is not a leak.
            if rss_start is None and status.frames_out > 0:
                rss_start, frames_at_start = rss_mb(), status.frames_out
                cpu_at_start = time.process_time()
            if args.frames and status.frames_out >= args.frames:
                break
            if args.duration and now - started >= args.duration:
                break
            if args.stats_interval and now - last_stats >= args.stats_interval:
                last_stats = now
                log.info(
                    "%s camera, %.1f fps in, %.1f fps out, %s ms latency, %d dropped, rss %.0f MiB",
                    status.camera_state,
                    status.fps_in,
                    status.fps_out,
                    status.glass_to_glass_ms,
                    status.dropped_frames,
                    rss_mb(),
                )
    finally:
        final = pipeline.status()
        rss_end = rss_mb()
        cpu_used = time.process_time() - cpu_at_start
        stop_started = time.monotonic()
        pipeline.stop(STOP_TIMEOUT_S)
        log.info("stopped in %.2f s", time.monotonic() - stop_started)
    if args.report:
        elapsed = time.monotonic() - started
        report = final.model_dump(mode="json")
        measured = final.frames_out - frames_at_start
        report.update(
            elapsed_s=round(elapsed, 2),
            frames_measured=measured,
            # Process CPU time (all threads) per frame out, from the first frame out on.
            cpu_ms_per_frame=round(cpu_used * 1e3 / measured, 2) if measured else None,
            rss_start_mb=round(rss_start or 0.0, 1),
            rss_end_mb=round(rss_end, 1),
        )
        print(json.dumps(report, indent=2))
    return 0
