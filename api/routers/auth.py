"""Login and logout: an HttpOnly, SameSite=Strict session cookie after the password check."""

from __future__ import annotations

import math

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from api.dependencies import PanelDep
from api.security import SESSION_COOKIE

router = APIRouter(prefix="/api", tags=["auth"])


class LoginRequest(BaseModel):
    password: str = Field(..., min_length=1, max_length=1024)


class SessionInfo(BaseModel):
    authenticated: bool


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/login", response_model=SessionInfo)
def login(body: LoginRequest, request: Request, response: Response, panel: PanelDep) -> SessionInfo:
    # A plain `def`: FastAPI runs it in the thread pool, so argon2 does not block the loop.
    client = _client(request)
    wait = panel.login_limiter.retry_after(client)
    if wait > 0:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"Too many wrong passwords; wait {math.ceil(wait)} s before trying again.",
            headers={"Retry-After": str(math.ceil(wait))},
        )
    if not panel.passwords.verify(body.password):
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


@router.post("/logout", response_model=SessionInfo)
def logout(request: Request, response: Response, panel: PanelDep) -> SessionInfo:
    panel.sessions.revoke(request.cookies.get(SESSION_COOKIE))
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return SessionInfo(authenticated=False)


@router.get("/session", response_model=SessionInfo)
def session(request: Request, panel: PanelDep) -> SessionInfo:
    return SessionInfo(authenticated=panel.sessions.valid(request.cookies.get(SESSION_COOKIE)))
