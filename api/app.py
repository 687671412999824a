"""The FastAPI application factory: routers, error answers, static files, pipeline lifetime."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import ErrorBody, PanelError, ValidationErrorBody
from api.metrics import PanelMetrics
from api.panel import Panel
from api.routers import auth, backgrounds, health, pages, preview, settings, status
from core.errors import UserError
from runtime.pipeline import PipelineStatus

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"


def create_app(panel: Panel) -> FastAPI:
    """The panel app; it starts the panel's pipeline on startup and stops it on shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pipeline = panel.create_pipeline()
        pipeline.start()
        try:
            yield
        finally:
            pipeline.stop(timeout=3.0)

    app = FastAPI(
        title="BodyPix appliance panel",
        summary="Effect, background library, live preview and status of the segmentation pipeline.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.panel = panel

    def current_status() -> PipelineStatus | None:
        try:
            return panel.pipeline.status()
        except RuntimeError:
            return None

    app.state.metrics = PanelMetrics(current_status)

    # The panel's JSON API lives under one prefix; health, metrics and pages at the root.
    for router in (auth, settings, backgrounds, status, preview):
        app.include_router(router.router, prefix="/api")
    for router in (health, pages):
        app.include_router(router.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(PanelError)
    async def panel_error(_request: Request, exc: PanelError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status_code)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            detail = "The request body could not be read; send a JSON object in UTF-8."
        return JSONResponse(
            {"detail": detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(UserError)
    async def user_error(_request: Request, exc: UserError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg", "")),
                "type": e.get("type"),
            }
            for e in exc.errors()
        ]
        return JSONResponse(
            {"detail": describe_validation_errors(errors), "errors": errors}, status_code=422
        )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors_as_sent(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    summary=app.summary,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def document_errors_as_sent(schema: dict[str, Any]) -> dict[str, Any]:
    """Every 422 documented with the body the handler above sends (FastAPI's default says
    `detail` is an array), and the health check's 503."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (ErrorBody, ValidationErrorBody):
        body = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in body.pop("$defs", {}).items():
            components[name] = definition
        components[model.__name__] = body
    body_422 = {
        "description": "The request does not validate: the sentence names the field.",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ValidationErrorBody"}}
        },
    }
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            responses = operation.get("responses", {})
            if "422" in responses:
                responses["422"] = body_422
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    health = schema.get("paths", {}).get("/healthz", {}).get("get")
    if health is not None:
        health["responses"].setdefault(
            "503", {"description": "No frame goes out: the body says why."}
        )
    return schema


def describe_validation_errors(errors: list[dict[str, Any]]) -> str:
    """One sentence from pydantic's errors: 'segmentation_threshold: must be <= 1; ...'."""
    parts = []
    for error in errors[:3]:
        loc = [p for p in error["loc"] if p not in ("body", "query", "path")]
        field = ".".join(loc) or "request body"
        message = error["msg"].removeprefix("Value error, ").rstrip(".")
        if error.get("type") == "extra_forbidden":
            message = "is not a known setting"
        elif error.get("type") == "missing":
            message = "is required"
        elif error.get("type") == "json_invalid":
            message = "is not valid JSON"
        parts.append(f"{field}: {message}")
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return "Invalid request: " + "; ".join(parts) + more + "."
