"""The background library: list with thumbnails, upload (image or short video), delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import FileResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request as StarletteRequest
from starlette.types import Message

from api.backgrounds import Background, BackgroundLibrary
from api.dependencies import PanelDep, SessionDep
from api.errors import PanelError, TooLarge, error_responses

router = APIRouter(prefix="/backgrounds", tags=["backgrounds"])
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around the file


class BackgroundItem(Background):
    thumbnail_url: str
    selected: bool


class BackgroundList(BaseModel):
    backgrounds: list[BackgroundItem]
    max_upload_bytes: int
    max_video_seconds: float


def _item(entry: Background, selected: str | None) -> BackgroundItem:
    return BackgroundItem(
        **entry.model_dump(),
        thumbnail_url=f"/api/backgrounds/{entry.id}/thumbnail.jpg",
        selected=entry.id == selected,
    )


@router.get("", response_model=BackgroundList, responses=error_responses(401))
def list_backgrounds(panel: PanelDep, _session: SessionDep) -> BackgroundList:
    limits = panel.library.limits
    return BackgroundList(
        backgrounds=[_item(e, panel.settings.background) for e in panel.library.list()],
        max_upload_bytes=limits.max_bytes,
        max_video_seconds=limits.max_video_seconds,
    )


@router.get(
    "/{background_id}/thumbnail.jpg",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}}, **error_responses(401, 404)},
)
def thumbnail(background_id: str, panel: PanelDep, _session: SessionDep) -> FileResponse:
    return FileResponse(
        panel.library.thumbnail_path(background_id),
        media_type="image/jpeg",
        headers={"Cache-Control": "private, max-age=3600"},
    )


@router.post(
    "",
    response_model=BackgroundItem,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 401, 403, 413, 415, 422, 429, 507),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }
                }
            },
        }
    },
)
async def upload_background(
    request: Request, panel: PanelDep, _session: SessionDep
) -> BackgroundItem:
    """Multipart upload, field `file`: a picture or a short video (checked by decoding)."""
    limits = panel.library.limits
    body_limit = limits.max_bytes + MULTIPART_OVERHEAD
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > body_limit:
        raise TooLarge(panel.library.too_large_message(int(declared)))
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise PanelError("Send the file as multipart/form-data in a field named 'file'.")
    limited = StarletteRequest(
        request.scope, receive=_limited_receive(request, body_limit, panel.library)
    )
    async with limited.form(max_files=1, max_fields=4) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise PanelError("No file was sent; send it in a multipart field named 'file'.")
        data = await upload.read(limits.max_bytes + 1)
        filename = upload.filename
    metrics = request.app.state.metrics
    try:
        entry = await run_in_threadpool(panel.library.add, data, filename)
    except PanelError:
        metrics.uploads.labels("rejected").inc()
        raise
    metrics.uploads.labels("stored").inc()
    return _item(entry, panel.settings.background)


def _limited_receive(request: Request, limit: int, library: BackgroundLibrary) -> Any:
    """The request's receive, failing once more than `limit` body bytes arrived (chunked too)."""
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise TooLarge(library.too_large_message(received))
        return message

    return receive


@router.delete(
    "/{background_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 403, 404, 409),
)
def delete_background(background_id: str, panel: PanelDep, _session: SessionDep) -> Response:
    panel.delete_background(background_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
