"""Request dependencies: the panel object and the login session check."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, status

from api.panel import Panel
from api.security import SESSION_COOKIE

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_panel(request: Request) -> Panel:
    panel: Panel = request.app.state.panel
    return panel


PanelDep = Annotated[Panel, Depends(get_panel)]


def require_session(request: Request, panel: PanelDep) -> str:
    """The session token; 401 without a valid one, 403 for a cross-site mutating request."""
    token = request.cookies.get(SESSION_COOKIE)
    if not panel.sessions.valid(token):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "Log in first: the session is missing or has expired."
        )
    if request.method not in SAFE_METHODS:
        # SameSite=Strict already keeps the cookie off cross-site requests; checking Origin
        # too costs nothing and covers browsers that ignore SameSite.
        origin = request.headers.get("origin")
        if origin and urlsplit(origin).netloc != request.headers.get("host", ""):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                "Cross-site request refused: change settings from the panel's own page.",
            )
    return token or ""


SessionDep = Annotated[str, Depends(require_session)]
