"""Issue 12's limits against the real app: the login flood, the preview race, value bounds,
a damaged password hash, pixel bombs given by path, file modes under the service's umask."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import struct
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher, extract_parameters
from fastapi.testclient import TestClient

from api.app import create_app
from api.security import SESSION_COOKIE, PasswordStore
from core.errors import UserError
from runtime.images import load_image
from tests.api.helpers import PASSWORD, LiveServer, make_panel, png_bytes, solid, wait_for_frames


def _failures(live: LiveServer) -> float:
    text = httpx.get(f"{live.url}/metrics").text
    found = re.search(r"^bodypix_panel_login_failures_total ([0-9.]+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


@pytest.mark.slow
def test_login_flood_gets_five_checks_and_another_client_still_logs_in(live: LiveServer) -> None:
    """50 parallel wrong logins from one address: at most 5 password checks; the admin, on
    another address (127.0.0.0/8 is all loopback), logs in during the flood."""
    before = _failures(live)

    async def run() -> tuple[list[httpx.Response], httpx.Response]:
        limits = httpx.Limits(max_connections=64)
        attacker = httpx.AsyncClient(
            base_url=live.url,
            timeout=60,
            limits=limits,
            transport=httpx.AsyncHTTPTransport(local_address="127.0.0.5", limits=limits),
        )
        admin = httpx.AsyncClient(
            base_url=live.url,
            timeout=60,
            transport=httpx.AsyncHTTPTransport(local_address="127.0.0.6"),
        )

        async def admin_login() -> httpx.Response:
            await asyncio.sleep(0.05)  # once the flood is in flight
            return await admin.post("/api/login", json={"password": PASSWORD})

        async with attacker, admin:
            flood = [
                attacker.post("/api/login", json={"password": f"guess-{i}"}) for i in range(50)
            ]
            *answers, mine = await asyncio.gather(*flood, admin_login())
        return answers, mine

    answers, mine = asyncio.run(run())
    statuses = [r.status_code for r in answers]
    assert set(statuses) <= {401, 429}, statuses
    assert 1 <= statuses.count(401) <= 5, statuses
    assert _failures(live) - before == statuses.count(401)
    for refused in (r for r in answers if r.status_code == 429):
        assert int(refused.headers["retry-after"]) >= 1 and refused.json()["detail"].endswith(".")
    assert mine.status_code == 200, mine.text
    assert SESSION_COOKIE in mine.cookies
    # More guesses from the flooding address: still 5 checks in the window at most.
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.5")) as same:
        more = [
            same.post(f"{live.url}/api/login", json={"password": f"again-{i}"}).status_code
            for i in range(10)
        ]
    assert statuses.count(401) + more.count(401) <= 5 and more[-1] == 429, more


def test_old_argon2_parameters_verify_and_are_rehashed(tmp_path: Path) -> None:
    store = PasswordStore(tmp_path / "password.argon2")
    store.path.write_text(PasswordHasher().hash(PASSWORD) + "\n")  # 64 MiB, argon2-cffi's default
    assert extract_parameters(store.path.read_text().strip()).memory_cost == 65536
    assert store.verify(PASSWORD)
    params = extract_parameters(store.path.read_text().strip())
    assert (params.memory_cost, params.time_cost, params.parallelism) == (19 * 1024, 2, 1)
    assert store.verify(PASSWORD) and not store.verify("wrong password")


@pytest.mark.parametrize("content", [os.urandom(64), b"not a hash\n", b"$argon2id$v=19$garbage"])
def test_corrupt_password_hash_is_set_aside_at_start(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "password.argon2").write_bytes(content)
    with caplog.at_level(logging.WARNING):
        panel = make_panel(tmp_path)  # as `serve` starts; the helper then sets PASSWORD
    assert "not an argon2 hash" in caplog.text and "set-password" in caplog.text
    assert [p.read_bytes() for p in tmp_path.glob("password.argon2.corrupt-*")] == [content]
    client = TestClient(create_app(panel))
    assert client.post("/api/login", json={"password": PASSWORD}).status_code == 200
    # Damaged while running: a 401, never a 500.
    panel.passwords.path.write_bytes(os.urandom(64))
    assert client.post("/api/login", json={"password": PASSWORD}).status_code == 401


@pytest.mark.slow
def test_preview_cap_is_counted_atomically(live: LiveServer, client: httpx.Client) -> None:
    wait_for_frames(client)
    cookie = {SESSION_COOKIE: client.cookies[SESSION_COOKIE]}

    async def run() -> list[int | tuple[int, str]]:
        limits = httpx.Limits(max_connections=40)
        async with httpx.AsyncClient(
            base_url=live.url, cookies=cookie, timeout=30, limits=limits
        ) as viewers:
            requests = [viewers.build_request("GET", "/api/preview.mjpeg") for _ in range(30)]
            answers = await asyncio.gather(*(viewers.send(r, stream=True) for r in requests))
            codes: list[int | tuple[int, str]] = []
            for answer in answers:
                if answer.status_code == 200:
                    codes.append(200)
                else:
                    await answer.aread()
                    codes.append((answer.status_code, answer.json()["detail"]))
                await answer.aclose()
            return codes

    codes = asyncio.run(run())
    accepted = codes.count(200)
    assert 1 <= accepted <= 4, codes
    for refused in (c for c in codes if c != 200):
        assert isinstance(refused, tuple) and refused[0] == 503
        assert "preview slots are in use" in refused[1]
    # Closed streams give their slots back.
    for _ in range(100):
        if live.panel.previews.open == 0:
            break
        asyncio.run(asyncio.sleep(0.1))
    assert live.panel.previews.open == 0


@pytest.fixture()
def app_client(tmp_path: Path) -> TestClient:
    client = TestClient(create_app(make_panel(tmp_path)))
    assert client.post("/api/login", json={"password": PASSWORD}).status_code == 200
    return client


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"width": 7680, "height": 4320}, "width"),
        ({"height": 4320}, "height"),
        ({"fps": 240}, "fps"),
        ({"mask": {"foreground_color": [1e30, 0, 0, 0]}}, "mask.foreground_color"),
        ({"mask": {"background_color": [0, 0, 0, -999]}}, "mask.background_color.3"),
        ({"mask": {"background_color": [0, 0, 0, 256]}}, "mask.background_color.3"),
        ({"background": "b" * 1_000_000}, "background"),
        ({"variant": "v" * 100_000}, "variant"),
        ({"camera": "c" * 1000}, "camera"),
    ],
)
def test_values_are_bounded(app_client: TestClient, changes: dict[str, Any], field: str) -> None:
    settings = app_client.get("/api/settings").json()
    response = app_client.put("/api/settings", json={**settings, **changes})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["detail"].startswith(f"Invalid request: {field}") and len(body["detail"]) < 400
    assert app_client.get("/api/settings").json() == settings


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width x height (its pixels are not there)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
        + b"\x00\x00\x00\x00IEND\xaeB`\x82"
    )


def test_picture_over_100_megapixels_is_refused_from_its_header(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_claiming(10001, 10000))  # 100.01 MP in 60 bytes
    with pytest.raises(UserError, match=r"10001x10000, larger than 100 megapixels"):
        load_image(bomb)
    fine = tmp_path / "fine.png"
    fine.write_bytes(png_bytes(solid((1, 2, 3), 64, 48)))
    assert load_image(fine).shape == (48, 64, 3)


def test_state_files_honour_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)  # what the unit sets
    try:
        panel = make_panel(tmp_path)
        panel.update_settings(panel.settings.model_copy(update={"flip_horizontal": True}))
        entry = panel.library.add(png_bytes(solid((9, 9, 9))), "grey.png")
    finally:
        os.umask(old)
    files = [panel.state.settings_file, *panel.state.backgrounds.glob(f"{entry.id}*")]
    assert len(files) == 4
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o640, path
    assert panel.passwords.path.stat().st_mode & 0o777 == 0o600
