"""The page in a real headless Chromium: log in, switch effects, upload and select a background,
and check the processed snapshot follows. Screenshots go to artifacts/ (git-ignored)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.helpers import PASSWORD, LiveServer, decode, jpeg_bytes, solid, wait_for_frames

pytestmark = [pytest.mark.slow, pytest.mark.browser]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def magenta_share(jpeg: bytes) -> float:
    image = decode(jpeg)
    b, g, r = (image[..., i].astype(int) for i in range(3))
    return float(((b > 200) & (r > 200) & (g < 60)).mean())


def fresh_snapshot(page: Any, url: str) -> bytes:
    """A snapshot a few frames after now, fetched with the browser's own session cookie."""
    first = int(page.request.get(f"{url}/api/snapshot.jpg").headers["x-frame-seq"])
    deadline = time.monotonic() + 30
    while True:
        page.wait_for_timeout(700)
        response = page.request.get(f"{url}/api/snapshot.jpg")
        assert response.status == 200
        if int(response.headers["x-frame-seq"]) > first + 4 or time.monotonic() > deadline:
            return bytes(response.body())


def apply_choice(page: Any, selector: str, value: str) -> dict[str, Any]:
    """Pick `value` in a select of the page; the settings the server answered to its PUT."""
    with page.expect_response(
        lambda r: r.request.method == "PUT" and r.url.endswith("/api/settings")
    ) as response:
        page.select_option(selector, value)
    assert response.value.ok, response.value.text()
    result: dict[str, Any] = response.value.json()
    return result


def test_panel_in_chromium(browser: Any, live: LiveServer, client: httpx.Client) -> None:
    wait_for_frames(client)
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    uploaded: str | None = None
    original = client.get("/api/settings").json()
    try:
        page.goto(live.url + "/")
        page.wait_for_url("**/login")
        page.fill("#password", "wrong password")
        page.click("#login")
        page.wait_for_selector("#message:has-text('Wrong password')")
        page.fill("#password", PASSWORD)
        page.click("#login")
        page.wait_for_url(live.url + "/")
        page.wait_for_selector("#status:has-text('fps')")
        page.wait_for_selector(".bg[data-id='builtin-studio'] img")
        # No camera on this machine: no camera choice (the configured source runs).
        page.wait_for_selector("#camera option", state="attached")
        assert page.locator("#camera-choice").is_hidden()

        page.click("[data-effect='none']")
        page.wait_for_selector("[data-effect='none'][aria-pressed='true']")
        assert client.get("/api/settings").json()["effect"] == "none"
        assert magenta_share(fresh_snapshot(page, live.url)) < 0.01

        page.set_input_files(
            "#upload",
            files=[
                {
                    "name": "magenta wall.jpg",
                    "mimeType": "image/jpeg",
                    "buffer": jpeg_bytes(solid((255, 0, 255))),
                }
            ],
        )
        # The page uploads, then selects the new background with the 'replace' effect.
        tile = page.wait_for_selector(".bg[aria-pressed='true'][data-id^='u-']")
        uploaded = tile.get_attribute("data-id")
        page.wait_for_selector("[data-effect='replace'][aria-pressed='true']")
        assert tile.inner_text().startswith("magenta wall")
        settings = client.get("/api/settings").json()
        assert settings["effect"] == "replace" and settings["background"] == uploaded
        share = magenta_share(fresh_snapshot(page, live.url))
        assert 0.2 < share < 0.95, share  # background replaced, person kept

        page.click(".bg[data-id='builtin-sunset']")
        page.wait_for_selector(".bg[data-id='builtin-sunset'][aria-pressed='true']")
        assert magenta_share(fresh_snapshot(page, live.url)) < 0.01

        # A slider applies on release; the server's value comes back into the page.
        page.fill("[data-setting='segmentation_threshold']", "0.5")
        page.dispatch_event("[data-setting='segmentation_threshold']", "change")
        page.wait_for_selector("output[data-for='segmentation_threshold']:has-text('0.5')")
        assert client.get("/api/settings").json()["segmentation_threshold"] == 0.5

        # A choice applies at once: one PUT each, and the server keeps it.
        choices = (("edge_refine", "guided"), ("smoothing_method", "ema"), ("idle_camera", "close"))
        for name, value in choices:
            applied = apply_choice(page, f"[data-setting='{name}']", value)
            assert applied[name] == value
            assert client.get("/api/settings").json()[name] == value

        # These tests' server never idles (idle_after 0): the page says so in words.
        page.wait_for_selector("output[data-for='idle_after']:has-text('never')")

        # The no-part colour is offered only for the parts effect.
        assert page.locator("#no-part-color").is_hidden()
        page.click("[data-effect='parts']")
        page.wait_for_selector("#no-part-color", state="visible")
        applied = apply_choice(page, "#no-part-color", "transparent")
        assert applied["parts"]["no_part_color"] == [0, 0, 0, 0]
        assert client.get("/api/settings").json()["parts"]["no_part_color"] == [0, 0, 0, 0]

        # The live preview is streaming into the page.
        page.wait_for_function("document.getElementById('preview').naturalWidth > 0")
        page.wait_for_timeout(1500)  # a few preview frames and a status refresh for the picture
        page.screenshot(path=str(ARTIFACTS / "panel.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})  # a phone
        page.screenshot(path=str(ARTIFACTS / "panel-phone.png"), full_page=True)
        # No script errors, no Content-Security-Policy violations; the one 401 is the wrong password.
        assert [e for e in errors if "status of 401" not in e] == []
    finally:
        context.close()
        client.put("/api/settings", json=original)
        if uploaded:
            client.delete(f"/api/backgrounds/{uploaded}")
