"""GET /healthz (no login: for load balancers and the installer) and GET /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.dependencies import PanelDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(panel: PanelDep) -> JSONResponse:
    """200 while frames go out (or the camera is away: it reconnects); 503 when stopped, or
    when frames arrive but none has gone out for a while, with the reason."""
    status = panel.pipeline.status()
    healthy = status.healthy
    body = {
        "status": "ok" if healthy else "unhealthy",
        "reason": status.health,
        "pipeline": status.state,
        "camera": status.camera_state,
        "processor": status.processor_state,
    }
    return JSONResponse(body, status_code=200 if healthy else 503)


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus text format; no login, as scrapers do not log in (no secrets in it)."""
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
