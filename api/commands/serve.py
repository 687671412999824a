"""`bodypix serve`: the live pipeline and the web panel in one process."""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import signal
import socket
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from core.errors import UserError

log = logging.getLogger("bodypix.serve")
DEFAULT_HOST = "0.0.0.0"
DEFAULT_PORT = 8080


def register(subparsers: Any) -> None:
    from runtime.commands.options import add_frame_path

    parser = subparsers.add_parser(
        "serve",
        help="run the live pipeline with the web control panel (default http://0.0.0.0:8080)",
        description=(
            "Run the pipeline and the web panel. Settings come from the config file and BODYPIX_* "
            "environment variables, with the changes made in the panel on top (saved in the "
            "state directory). With no panel password set, one is generated and printed once."
        ),
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="settings, password hash and backgrounds (default /var/lib/bodypix-appliance "
        "when writable, else ~/.local/state/bodypix-appliance)",
    )
    parser.add_argument("--config", type=Path, help="TOML config file (see `bodypix run --help`)")
    parser.add_argument("--source", help="source URI for this run (overrides the config file)")
    add_frame_path(parser)
    parser.add_argument(
        "--max-upload-mb", type=float, default=20.0, help="largest background upload (default 20)"
    )
    parser.add_argument(
        "--max-video-seconds",
        type=float,
        default=30.0,
        help="longest background video (default 30)",
    )
    parser.set_defaults(func=serve)


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind before starting, so a busy port is one clear sentence instead of a traceback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UserError(
                f"Port {port} on {host} is already in use; stop the other program or pass --port."
            ) from None
        raise UserError(
            f"Cannot listen on {host}:{port} ({exc.strerror}); pass another --host or --port."
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _end_previews(panel: Any) -> None:
    with contextlib.suppress(RuntimeError):  # RuntimeError: no pipeline yet
        panel.pipeline.mjpeg.close()


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from api.backgrounds import UploadLimits
    from api.panel import Panel, PanelOptions
    from api.state import StateDir, default_state_dir
    from runtime.config import load_settings

    if not 0 < args.port < 65536:
        raise UserError(f"Port {args.port} is not a TCP port; pass --port between 1 and 65535.")
    if args.max_upload_mb <= 0 or args.max_video_seconds <= 0:
        raise UserError("--max-upload-mb and --max-video-seconds must be positive numbers.")
    flags = {"source": args.source, "frame_path": args.frame_path}
    base = load_settings(args.config, flags)
    state = StateDir(args.state_dir or default_state_dir())
    sock = bind_socket(args.host, args.port)  # before the slow part: a busy port fails at once
    limits = UploadLimits(
        max_bytes=int(args.max_upload_mb * 2**20), max_video_seconds=args.max_video_seconds
    )
    try:
        panel = Panel(PanelOptions(state_dir=state, base_settings=base, upload_limits=limits))
        generated = panel.passwords.ensure()
    except BaseException:
        sock.close()
        raise
    if generated:
        # Shown once: only the hash is stored. The admin replaces it with `set-password`.
        print(
            "\n  No panel password was set, so one was generated: "
            f"{generated}\n  Change it with: bodypix set-password --state-dir {state.root}\n",
            file=sys.stderr,
            flush=True,
        )
    shown = "localhost" if args.host in ("0.0.0.0", "::") else args.host
    log.info("panel on http://%s:%d (state in %s)", shown, sock.getsockname()[1], state.root)
    config = uvicorn.Config(
        create_app(panel),
        log_level="info",
        timeout_graceful_shutdown=3,  # an open preview stream never ends by itself
        server_header=False,
        proxy_headers=False,  # nothing sits in front; never trust X-Forwarded-For
    )
    # Uvicorn shuts down gracefully on SIGTERM/SIGINT and then re-raises the signal to the
    # handler that was installed before it: make that a no-op so a clean stop exits 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: None)

    def reload_config() -> None:
        try:
            panel.reload_base(load_settings(args.config, flags))
            log.info("SIGHUP: configuration reloaded (panel changes kept on top)")
        except UserError as exc:
            log.error("SIGHUP: configuration not reloaded, keeping the current one: %s", exc)

    # SIGHUP (systemctl reload) re-reads the config; off the signal handler, in a thread.
    signal.signal(
        signal.SIGHUP, lambda *_: threading.Thread(target=reload_config, daemon=True).start()
    )

    class PanelServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            # Open previews never end by themselves: end them now, or the graceful shutdown
            # times out and cancels them (CancelledError tracebacks). Off the signal handler.
            threading.Thread(target=_end_previews, args=(panel,), daemon=True).start()
            super().handle_exit(sig, frame)

    PanelServer(config).run(sockets=[sock])
    log.info("panel stopped")
    return 0
