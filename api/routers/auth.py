"""Login and logout: an HttpOnly, SameSite=Strict session cookie after the password check."""

from __future__ import annotations

import math

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from api.dependencies import PanelDep
from api.errors import error_responses
from api.security import SESSION_COOKIE

router = APIRouter(tags=["auth"])


class LoginRequest(BaseModel):
    password: str = Field(..., min_length=1, max_length=1024)


class SessionInfo(BaseModel):
    authenticated: bool


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/login", response_model=SessionInfo, responses=error_responses(400, 401, 422, 429))
def login(body: LoginRequest, request: Request, response: Response, panel: PanelDep) -> SessionInfo:
    """Checks the password; the attempt counts before the (deliberately slow) check, at most
    two checks run at once, and a client without recent failures has a lane of its own."""
    # A plain `def`: FastAPI runs it in the thread pool, so argon2 does not block the loop.
    client = _client(request)
    wait, clean = panel.login_limiter.begin(client)
    if wait > 0:
        raise _too_many(
            f"Too many login attempts; wait {math.ceil(wait)} s before trying again.", wait
        )
    release = panel.password_checks.acquire(clean)
    if release is None:
        panel.login_limiter.cancel(client)  # never checked: not an attempt
        raise _too_many("Another login is being checked; try again in a second.", 1)
    try:
        ok = panel.passwords.verify(body.password)
    finally:
        release()
    if not ok:
        panel.login_limiter.failed(client)
        request.app.state.metrics.login_failures.inc()
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Wrong password; try again.")
    panel.login_limiter.succeeded(client)
    response.set_cookie(
        SESSION_COOKIE,
        panel.sessions.create(),
        max_age=int(panel.sessions.ttl_s),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return SessionInfo(authenticated=True)


def _too_many(message: str, wait: float) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        message,
        headers={"Retry-After": str(max(1, math.ceil(wait)))},
    )


@router.post("/logout", response_model=SessionInfo)
def logout(request: Request, response: Response, panel: PanelDep) -> SessionInfo:
    panel.sessions.revoke(request.cookies.get(SESSION_COOKIE))
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return SessionInfo(authenticated=False)


@router.get("/session", response_model=SessionInfo)
def session(request: Request, panel: PanelDep) -> SessionInfo:
    return SessionInfo(authenticated=panel.sessions.valid(request.cookies.get(SESSION_COOKIE)))
