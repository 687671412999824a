"""sd_notify: READY=1 once and WATCHDOG=1, received on a real NOTIFY_SOCKET datagram socket;
end to end, `bodypix run` started as systemd would start it sends both."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.systemd_notify import SystemdNotifier


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify.sock")
    sock.bind(path)
    sock.settimeout(5.0)
    yield sock, path
    sock.close()


def _drain(sock: socket.socket, timeout: float = 0.2) -> list[str]:
    messages = []
    sock.settimeout(timeout)
    try:
        while True:
            messages.append(sock.recv(4096).decode())
    except TimeoutError:
        return messages


def test_ready_is_sent_once(notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    notifier = SystemdNotifier(path)
    assert notifier.enabled
    notifier.ready("first frame out")
    notifier.ready("again")
    messages = _drain(sock)
    assert messages == ["READY=1\nSTATUS=first frame out"]


def test_watchdog_pings_at_half_the_period(
    notify_socket: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, path = notify_socket
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # WatchdogSec=0.2s -> a ping every 0.1 s
    notifier = SystemdNotifier(path)
    notifier.watchdog()
    notifier.watchdog()  # immediately after: rate-limited, not sent
    assert _drain(sock) == ["WATCHDOG=1"]
    time.sleep(0.12)
    notifier.watchdog()
    assert _drain(sock) == ["WATCHDOG=1"]


def test_abstract_socket_and_stopping(monkeypatch: pytest.MonkeyPatch) -> None:
    """systemd may hand out an abstract socket ('@' prefix)."""
    name = f"bodypix-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5.0)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        notifier = SystemdNotifier()
        notifier.status("loading model")
        notifier.stopping()
        assert _drain(sock) == ["STATUS=loading model", "STOPPING=1"]


def test_without_systemd_it_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = SystemdNotifier()
    assert not notifier.enabled
    assert notifier.notify("READY=1") is False
    notifier.ready()
    notifier.watchdog()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
@pytest.mark.parametrize("command", ["run", "serve"])
def test_bodypix_notifies_ready_after_the_first_frame(
    command: str, notify_socket: tuple[socket.socket, str], models_dir: Path, tmp_path: Path
) -> None:
    """As under systemd: NOTIFY_SOCKET and WATCHDOG_USEC set; READY=1 then WATCHDOG=1, then
    SIGTERM stops it cleanly with STOPPING=1."""
    sock, path = notify_socket
    env = {**os.environ, "NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"}
    config = tmp_path / "config.toml"  # not the machine's /etc config
    config.write_text(
        'source = "demo://"\noutputs = ["mjpeg://"]\nwidth = 320\nheight = 240\n'
        'backend = "onnxruntime"\n'
    )
    cmd = [sys.executable, "-m", "api", command, "--config", str(config)]
    if command == "serve":
        cmd += ["--host", "127.0.0.1", "--port", str(_free_port())]
        cmd += ["--state-dir", str(tmp_path / "state")]
    log = (tmp_path / "run.log").open("w")  # a file, not a pipe nobody drains
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        sock.settimeout(120.0)  # first start may export the ONNX
        messages: list[str] = []
        while not any(m.startswith("READY=1") for m in messages):
            try:
                messages.append(sock.recv(4096).decode())
            except TimeoutError:
                pytest.fail(f"no READY=1 within 120 s; got {messages}")
        # WATCHDOG=1 keeps coming from the frame loop after READY=1.
        sock.settimeout(10.0)
        after_ready: list[str] = []
        while "WATCHDOG=1" not in after_ready:
            after_ready.append(sock.recv(4096).decode())
        proc.send_signal(signal.SIGTERM)
        # uvicorn (serve) re-raises SIGTERM after its graceful shutdown; systemd counts an
        # exit by SIGTERM as clean, so neither is a failure for Restart=on-failure.
        assert proc.wait(timeout=10) in (0, -signal.SIGTERM)
        assert "STOPPING=1" in after_ready + _drain(sock)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
        print((tmp_path / "run.log").read_text())
