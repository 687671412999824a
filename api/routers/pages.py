"""The page itself: plain HTML from api/static, the login page for visitors without a session."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from api.dependencies import PanelDep
from api.security import SESSION_COOKIE

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).resolve().parents[1] / "static"
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
}


@router.get("/")
def index(request: Request, panel: PanelDep) -> Response:
    if not panel.sessions.valid(request.cookies.get(SESSION_COOKIE)):
        return RedirectResponse("/login", status_code=303)
    return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)


@router.get("/login")
def login_page() -> Response:
    return FileResponse(STATIC / "login.html", headers=PAGE_HEADERS)
