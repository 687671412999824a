"""The background library over HTTP: uploads (good and hostile), listing, thumbnails, delete."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.backgrounds import UploadLimits
from api.panel import Panel
from tests.api.helpers import PASSWORD, LiveServer, decode, jpeg_bytes, make_panel, png_bytes, solid

LIMITS = UploadLimits(max_bytes=1024 * 1024, max_pixels=2_000_000, max_video_seconds=5.0)


@pytest.fixture()
def panel(tmp_path: Path) -> Panel:
    return make_panel(tmp_path, LIMITS)


@pytest.fixture()
def app_client(panel: Panel) -> TestClient:
    client = TestClient(create_app(panel))  # the library needs no running pipeline
    assert client.post("/api/login", json={"password": PASSWORD}).status_code == 200
    return client


def upload(
    client: TestClient | httpx.Client,
    data: bytes,
    name: str = "photo.jpg",
    ctype: str = "image/jpeg",
) -> httpx.Response:
    return client.post("/api/backgrounds", files={"file": (name, data, ctype)})


def stored_files(panel: Panel) -> set[str]:
    return {p.name for p in panel.state.root.rglob("*") if p.is_file()}


def video_bytes(tmp_path: Path, frames: int, fps: float, size: tuple[int, int] = (64, 48)) -> bytes:
    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
    assert writer.isOpened()
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), (i * 7) % 255, np.uint8))
    writer.release()
    return path.read_bytes()


def png_claiming(width: int, height: int) -> bytes:
    """A well-formed PNG whose header claims a huge size (a decompression bomb's header)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1024))
        + chunk(b"IEND", b"")
    )


def test_builtin_backgrounds_are_listed_with_thumbnails(app_client: TestClient) -> None:
    listing = app_client.get("/api/backgrounds").json()
    ids = [b["id"] for b in listing["backgrounds"]]
    assert {"builtin-studio", "builtin-sunset", "builtin-bokeh", "builtin-green"} <= set(ids)
    assert listing["max_upload_bytes"] == LIMITS.max_bytes
    thumb = app_client.get(listing["backgrounds"][0]["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    image = decode(thumb.content)
    assert image.shape == (108, 192, 3)
    assert float(image.std()) > 3  # drawn, not blank


def test_image_upload_is_reencoded_under_a_generated_name(
    app_client: TestClient, panel: Panel, astronaut: np.ndarray
) -> None:
    secret = b"<?php system($_GET['c']); ?>"
    data = jpeg_bytes(cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR)) + secret  # a polyglot tail
    response = upload(app_client, data, name="Astronaut.jpeg")
    assert response.status_code == 201, response.text
    entry = response.json()
    assert entry["id"].startswith("u-") and entry["name"] == "Astronaut"
    assert (entry["kind"], entry["width"], entry["height"], entry["builtin"]) == (
        "image",
        512,
        512,
        False,
    )
    stored = (panel.state.backgrounds / f"{entry['id']}.jpg").read_bytes()
    assert secret not in stored and stored != data
    assert decode(stored).shape == (512, 512, 3)
    assert entry["id"] in [
        b["id"] for b in app_client.get("/api/backgrounds").json()["backgrounds"]
    ]


def test_png_webp_and_bmp_are_accepted(app_client: TestClient) -> None:
    image = solid((10, 200, 30))
    ok, webp = cv2.imencode(".webp", image)
    ok2, bmp = cv2.imencode(".bmp", image)
    assert ok and ok2
    for data, name in (
        (png_bytes(image), "a.png"),
        (webp.tobytes(), "b.webp"),
        (bmp.tobytes(), "c.bmp"),
    ):
        response = upload(app_client, data, name=name, ctype="application/octet-stream")
        assert response.status_code == 201, (name, response.text)
        assert (response.json()["width"], response.json()["height"]) == (320, 180)


@pytest.mark.parametrize(
    ("data", "name", "status", "message"),
    [
        (
            b"just some text, not a picture",
            "photo.jpg",
            415,
            "is not a JPEG, PNG, WebP or BMP image",
        ),
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "anim.gif", 415, "is not a JPEG"),
        (
            b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
            "x.svg",
            415,
            "is not a JPEG",
        ),
        (
            b"#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:10,\nfile:///etc/passwd\n",
            "clip.mp4",
            415,
            "is not a JPEG",
        ),
        (b"", "empty.png", 400, "is empty"),
    ],
)
def test_non_images_are_refused_whatever_their_name_says(
    app_client: TestClient, panel: Panel, data: bytes, name: str, status: int, message: str
) -> None:
    before = stored_files(panel)
    response = upload(app_client, data, name=name)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]
    assert stored_files(panel) == before


def test_truncated_images_are_refused(
    app_client: TestClient, panel: Panel, astronaut: np.ndarray
) -> None:
    before = stored_files(panel)
    jpeg = jpeg_bytes(cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    png = png_bytes(cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    for data, kind in (
        (jpeg[: len(jpeg) // 2], "JPEG"),
        (png[: len(png) // 2], "PNG"),
        (jpeg[:40], "JPEG"),
    ):
        response = upload(app_client, data)
        assert response.status_code == 400, response.text
        assert kind in response.json()["detail"] and "upload" in response.json()["detail"]
    assert stored_files(panel) == before


def test_pixel_bombs_are_refused_before_decoding(app_client: TestClient) -> None:
    response = upload(app_client, png_claiming(60000, 60000), name="bomb.png")
    assert response.status_code == 413
    assert "60000x60000 pixels" in response.json()["detail"]
    # A real one: 2000x2000 black compresses to a few KB but is over this panel's 2 MP limit.
    real = png_bytes(np.zeros((2000, 2000, 3), np.uint8))
    assert len(real) < 100_000
    response = upload(app_client, real, name="bomb.png")
    assert response.status_code == 413 and "megapixels" in response.json()["detail"]
    # A JPEG whose frame header was edited to claim 65000x65000.
    jpeg = bytearray(jpeg_bytes(solid((1, 2, 3), 16, 16)))
    sof = jpeg.index(b"\xff\xc0")
    jpeg[sof + 5 : sof + 9] = struct.pack(">HH", 65000, 65000)
    response = upload(app_client, bytes(jpeg))
    assert response.status_code == 413 and "65000x65000" in response.json()["detail"]


def test_oversize_upload_is_413(app_client: TestClient, panel: Panel) -> None:
    before = stored_files(panel)
    big = b"\xff\xd8\xff" + b"\0" * (LIMITS.max_bytes + 200_000)
    response = upload(app_client, big)
    assert response.status_code == 413
    assert "too large" in response.json()["detail"] and "limit is 1 MB" in response.json()["detail"]
    assert stored_files(panel) == before


@pytest.mark.parametrize(
    "name",
    [
        "../../../../tmp/evil.jpg",
        "..\\..\\windows\\evil.jpg",
        "/etc/cron.d/job",
        "<img src=x onerror=alert(1)>.jpg",
        ".hidden",
    ],
)
def test_path_like_and_hostile_names_never_touch_the_file_system(
    app_client: TestClient, panel: Panel, name: str
) -> None:
    response = upload(app_client, jpeg_bytes(solid((40, 40, 200))), name=name)
    assert response.status_code == 201, response.text
    entry = response.json()
    assert entry["id"].startswith("u-") and "/" not in entry["name"] and "\\" not in entry["name"]
    assert "<" not in entry["name"] and ".." not in entry["name"]
    created = stored_files(panel) - {"settings.json", "password.argon2"}
    assert all(f.startswith(("builtin-", entry["id"])) for f in created)
    assert not Path("/tmp/evil.jpg").exists()


def test_form_without_a_file_or_not_multipart_is_400(app_client: TestClient) -> None:
    response = app_client.post("/api/backgrounds", data={"other": "x"}, files={"nope": ("a", b"b")})
    assert response.status_code == 400 and "field named 'file'" in response.json()["detail"]
    response = app_client.post(
        "/api/backgrounds", content=b"raw", headers={"content-type": "image/jpeg"}
    )
    assert response.status_code == 400 and "multipart/form-data" in response.json()["detail"]


def test_short_video_is_reencoded_and_long_video_refused(
    app_client: TestClient, panel: Panel, tmp_path: Path
) -> None:
    response = upload(
        app_client, video_bytes(tmp_path, frames=20, fps=10), name="loop.mp4", ctype="video/mp4"
    )
    assert response.status_code == 201, response.text
    entry = response.json()
    assert entry["kind"] == "video" and entry["duration_s"] == pytest.approx(2.0, abs=0.2)
    stored = panel.state.backgrounds / f"{entry['id']}.mp4"
    capture = cv2.VideoCapture(str(stored))
    assert capture.isOpened() and capture.read()[0]
    capture.release()
    assert app_client.get(entry["thumbnail_url"]).status_code == 200

    before = stored_files(panel)
    response = upload(
        app_client, video_bytes(tmp_path, frames=60, fps=10), name="long.mp4", ctype="video/mp4"
    )
    assert response.status_code == 413 and "longer than 5 s" in response.json()["detail"]
    # A video container with nothing decodable in it.
    response = upload(app_client, b"\0\0\0\x18ftypmp42" + b"\0" * 500, name="broken.mp4")
    assert response.status_code == 400 and "video" in response.json()["detail"]
    assert stored_files(panel) == before  # no leftovers


def test_delete_rules(app_client: TestClient, panel: Panel) -> None:
    entry = upload(app_client, jpeg_bytes(solid((1, 2, 250)))).json()
    selected = app_client.put(
        "/api/settings",
        json={
            **app_client.get("/api/settings").json(),
            "effect": "replace",
            "background": entry["id"],
        },
    )
    assert selected.status_code == 200
    assert app_client.delete(f"/api/backgrounds/{entry['id']}").status_code == 409
    assert app_client.delete("/api/backgrounds/builtin-studio").status_code == 409
    for bad in ("u-000000000000", "..%2F..%2Fsettings.json", "settings", "U-ABC"):
        response = app_client.delete(f"/api/backgrounds/{bad}")
        assert response.status_code == 404, bad
    app_client.put(
        "/api/settings",
        json={**app_client.get("/api/settings").json(), "effect": "blur", "background": None},
    )
    assert app_client.delete(f"/api/backgrounds/{entry['id']}").status_code == 204
    assert not any(f.startswith(entry["id"]) for f in stored_files(panel))
    assert app_client.get(entry["thumbnail_url"]).status_code == 404
    assert panel.state.settings_file.exists()


def _chunks(total: int) -> Iterator[bytes]:
    head = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n\xff\xd8\xff'
    )
    yield head
    sent = 0
    while sent < total:
        yield b"\0" * 65536
        sent += 65536


@pytest.mark.slow
def test_upload_over_real_http_including_chunked_oversize(
    live: LiveServer, client: httpx.Client, astronaut: np.ndarray
) -> None:
    response = upload(
        client,
        png_bytes(cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR)),
        name="astro.png",
        ctype="image/png",
    )
    assert response.status_code == 201, response.text
    limit = live.panel.library.limits.max_bytes
    chunked = client.post(
        "/api/backgrounds",
        content=_chunks(limit + 2 * 65536 * 2),
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert chunked.status_code == 413, chunked.text
    assert client.delete(f"/api/backgrounds/{response.json()['id']}").status_code == 204
    assert client.get("/healthz").status_code == 200  # the pipeline shrugged it all off
