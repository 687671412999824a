"""sd_notify(3) without libsystemd: READY=1 once the first frame is out, WATCHDOG=1 per frame.

A no-op when not started by systemd (no NOTIFY_SOCKET), so the pipeline calls it unconditionally.
"""

from __future__ import annotations

import os
import socket
import time


class SystemdNotifier:
    def __init__(self, socket_path: str | None = None) -> None:
        path = socket_path if socket_path is not None else os.environ.get("NOTIFY_SOCKET", "")
        # An '@' prefix names a socket in the abstract namespace.
        self._address = "\0" + path[1:] if path.startswith("@") else path
        self._ready_sent = False
        self._last_watchdog = 0.0
        usec = os.environ.get("WATCHDOG_USEC", "")
        # Ping at half the watchdog period (systemd's advice), at most every 0.5 s otherwise.
        self._watchdog_interval = int(usec) / 2e6 if usec.isdigit() else 0.5

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    def notify(self, message: str) -> bool:
        if not self._address:
            return False
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            try:
                sock.sendto(message.encode(), self._address)
            except OSError:
                return False
        return True

    def ready(self, status: str = "streaming") -> None:
        """READY=1, once per process."""
        if not self._ready_sent:
            self._ready_sent = self.notify(f"READY=1\nSTATUS={status}")

    def watchdog(self) -> None:
        """WATCHDOG=1, rate-limited so it is cheap to call from the frame loop."""
        now = time.monotonic()
        if now - self._last_watchdog >= self._watchdog_interval:
            self._last_watchdog = now
            self.notify("WATCHDOG=1")

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    def status(self, text: str) -> None:
        self.notify(f"STATUS={text}")
