"""Login, sessions, rate limit and the password store, against the real app (no pipeline)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.security import (
    SESSION_COOKIE,
    LoginRateLimiter,
    PasswordChecks,
    PasswordStore,
    SessionStore,
)
from core.errors import UserError
from tests.api.helpers import PASSWORD, make_panel

PROTECTED = [
    ("GET", "/api/settings"),
    ("PUT", "/api/settings"),
    ("GET", "/api/backgrounds"),
    ("POST", "/api/backgrounds"),
    ("DELETE", "/api/backgrounds/builtin-studio"),
    ("GET", "/api/backgrounds/builtin-studio/thumbnail.jpg"),
    ("GET", "/api/status"),
    ("GET", "/api/preview.mjpeg"),
    ("GET", "/api/snapshot.jpg"),
]


@pytest.fixture()
def app_client(tmp_path: Path) -> TestClient:
    # Without `with`, the lifespan (and so the pipeline) does not start: auth needs neither.
    return TestClient(create_app(make_panel(tmp_path, login_attempts=3)))


def login(client: TestClient, password: str = PASSWORD) -> int:
    return client.post("/api/login", json={"password": password}).status_code


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_protected_endpoint_needs_a_session(
    app_client: TestClient, method: str, path: str
) -> None:
    response = app_client.request(method, path)
    assert response.status_code == 401
    assert "Log in" in response.json()["detail"]


def test_forged_session_cookie_is_refused(app_client: TestClient) -> None:
    app_client.cookies.set(SESSION_COOKIE, "forged-token")
    assert app_client.get("/api/settings").status_code == 401


def test_login_sets_httponly_strict_cookie_and_logout_ends_it(app_client: TestClient) -> None:
    response = app_client.post("/api/login", json={"password": PASSWORD})
    assert response.status_code == 200
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert app_client.get("/api/settings").status_code == 200
    assert app_client.get("/api/session").json() == {"authenticated": True}
    token = app_client.cookies.get(SESSION_COOKIE)
    assert app_client.post("/api/logout").status_code == 200
    app_client.cookies.set(SESSION_COOKIE, token or "")  # replaying the old token fails
    assert app_client.get("/api/settings").status_code == 401


def test_wrong_password_is_401_and_repeated_failures_are_rate_limited(
    app_client: TestClient,
) -> None:
    for _ in range(3):
        response = app_client.post("/api/login", json={"password": "nope"})
        assert response.status_code == 401
        assert response.json()["detail"] == "Wrong password; try again."
    limited = app_client.post("/api/login", json={"password": PASSWORD})
    assert limited.status_code == 429  # even the right password waits out the window
    assert int(limited.headers["retry-after"]) > 0
    assert "wait" in limited.json()["detail"]
    metrics = app_client.get("/metrics").text
    assert "bodypix_panel_login_failures_total 3.0" in metrics


def test_login_body_is_validated(app_client: TestClient) -> None:
    response = app_client.post("/api/login", json={})
    assert response.status_code == 422
    assert response.json()["detail"] == "Invalid request: password: is required."
    response = app_client.post(
        "/api/login", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


def test_cross_site_mutation_is_refused_even_with_a_session(app_client: TestClient) -> None:
    assert login(app_client) == 200
    settings = app_client.get("/api/settings").json()
    response = app_client.put(
        "/api/settings", json=settings, headers={"Origin": "http://evil.example"}
    )
    assert response.status_code == 403
    same = app_client.put("/api/settings", json=settings, headers={"Origin": "http://testserver"})
    assert same.status_code == 200


def test_page_redirects_to_login_without_session(app_client: TestClient) -> None:
    response = app_client.get("/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert "password" in app_client.get("/login").text
    assert login(app_client) == 200
    page = app_client.get("/")
    assert page.status_code == 200 and 'id="preview"' in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_healthz_and_openapi_need_no_session(app_client: TestClient) -> None:
    schema = app_client.get("/openapi.json").json()
    assert "/api/settings" in schema["paths"] and "/api/backgrounds" in schema["paths"]


def test_password_store_hashes_and_verifies(tmp_path: Path) -> None:
    store = PasswordStore(tmp_path / "password.argon2")
    assert not store.is_set() and not store.verify("anything")
    with pytest.raises(UserError, match="too short"):
        store.set("short")
    store.set("long enough password")
    text = store.path.read_text()
    assert text.startswith("$argon2id$") and "long enough" not in text
    assert store.path.stat().st_mode & 0o777 == 0o600
    assert store.verify("long enough password") and not store.verify("long enough passwore")
    assert store.ensure() is None  # already set: nothing generated


def test_generated_password_works_once_shown(tmp_path: Path) -> None:
    store = PasswordStore(tmp_path / "password.argon2")
    generated = store.ensure()
    assert generated and len(generated) >= 12 and store.verify(generated)


def test_corrupt_password_hash_refuses_login(tmp_path: Path) -> None:
    store = PasswordStore(tmp_path / "password.argon2")
    store.path.write_text("not a hash\n")
    assert not store.verify("not a hash")


def test_sessions_expire_and_are_bounded() -> None:
    sessions = SessionStore(ttl_s=0.05, max_sessions=2)
    first = sessions.create()
    assert sessions.valid(first) and not sessions.valid(None) and not sessions.valid("")
    time.sleep(0.1)
    assert not sessions.valid(first)
    a, b, c = sessions.create(), sessions.create(), sessions.create()
    assert sessions.valid(c) and sum(sessions.valid(t) for t in (a, b)) <= 1


def test_rate_limiter_counts_before_the_check_per_client_and_global() -> None:
    limiter = LoginRateLimiter(attempts=2, window_s=0.2, global_attempts=3)
    assert limiter.begin("a") == (0.0, True)  # the first attempt in the window: clean
    assert limiter.begin("a") == (0.0, False)
    wait, _ = limiter.begin("a")  # counted before any check: the third is refused at once
    assert 0 < wait <= 0.2 and 0 < limiter.retry_after("a") <= 0.2
    limiter.failed("a")
    limiter.failed("a")
    assert limiter.begin("b")[0] == 0 and limiter.begin("c")[0] == 0
    limiter.failed("c")  # third failure overall: clients with failures wait it out ...
    assert limiter.begin("c")[0] > 0
    assert limiter.begin("d") == (0.0, True)  # ... a client without one does not
    time.sleep(0.25)
    assert limiter.retry_after("a") == 0 and limiter.begin("c")[0] == 0


def test_password_checks_are_bounded_and_clean_clients_have_their_own_lane() -> None:
    checks = PasswordChecks()
    suspect = checks.acquire(clean=False)
    assert suspect is not None
    started = time.monotonic()
    assert checks.acquire(clean=False) is None  # refused at once, not queued
    assert time.monotonic() - started < 0.5
    clean = checks.acquire(clean=True)  # the admin is not behind the flood's lane
    assert clean is not None
    waiter: list[object] = []
    thread = threading.Thread(target=lambda: waiter.append(checks.acquire(clean=True)))
    thread.start()
    time.sleep(0.1)
    clean()  # the waiting clean client gets the lane as soon as it is free
    thread.join(5)
    assert waiter and waiter[0] is not None
    suspect()
