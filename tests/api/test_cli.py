"""`bodypix set-password` and `bodypix serve` as a user runs them."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from api.cli import main
from api.security import PasswordStore
from tests.api.helpers import FAST

ROOT = Path(__file__).resolve().parents[2]


def test_set_password_from_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("a fine password\n"))
    assert main(["set-password", "--stdin", "--state-dir", str(tmp_path)]) == 0
    assert PasswordStore(tmp_path / "password.argon2").verify("a fine password")
    assert "password.argon2" in capsys.readouterr().out


def test_set_password_refuses_a_short_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert main(["set-password", "--stdin", "--state-dir", str(tmp_path)]) == 2
    assert "too short" in capsys.readouterr().err
    assert not (tmp_path / "password.argon2").exists()


def test_serve_on_a_busy_port_is_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        code = main(
            [
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--state-dir",
                str(tmp_path / "s"),
            ]
        )
    assert code == 2
    assert f"Port {port} on 127.0.0.1 is already in use" in capsys.readouterr().err


def test_serve_with_an_unwritable_state_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["serve", "--port", "1", "--state-dir", str(blocker / "state")]) == 2
    assert "cannot be created" in capsys.readouterr().err


@pytest.mark.slow
def test_serve_generates_a_password_once_and_stops_on_sigterm(
    tmp_path: Path, models_dir: Path
) -> None:
    """Also when the stored hash is damaged (random bytes): set aside with a warning."""
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "password.argon2").write_bytes(os.urandom(48))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "config.toml"
    toml = "".join(f"{k} = {json.dumps(v)}\n" for k, v in FAST.items())  # JSON scalars are TOML
    config.write_text(toml)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BODYPIX_") or "MODEL" in k}
    command = [sys.executable, "-m", "api", "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--state-dir", str(tmp_path / "state"), "--config", str(config)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        password = None
        lines = []
        deadline = time.monotonic() + 60
        for line in process.stderr:
            lines.append(line)
            match = re.search(r"one was generated: (\S+)", line)
            if match:
                password = match.group(1)
            if "Uvicorn running" in line or "Application startup complete" in line:
                break
            assert time.monotonic() < deadline
        assert password, "no generated password was printed"
        assert any("is not an argon2 hash" in line for line in lines), lines
        assert len(list((tmp_path / "state").glob("password.argon2.corrupt-*"))) == 1
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/healthz").status_code == 200
        with httpx.Client(base_url=url) as client:
            assert client.post("/api/login", json={"password": password}).status_code == 200
            assert client.get("/api/settings").json()["width"] == 320  # from the config file
            # SIGHUP re-reads the config file and applies it without a restart.
            config.write_text(toml + "segmentation_threshold = 0.4\n")
            process.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while client.get("/api/settings").json()["segmentation_threshold"] != 0.4:
                assert time.monotonic() < deadline, "SIGHUP did not reload the config"
                time.sleep(0.2)
            assert process.poll() is None
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # Only the hash is stored, and it stays valid for the next start.
    assert PasswordStore(tmp_path / "state" / "password.argon2").verify(password)
