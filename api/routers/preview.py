"""The live processed preview: an MJPEG stream and single snapshots, for logged-in users."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.dependencies import PanelDep, SessionDep
from api.panel import Panel

router = APIRouter(prefix="/api", tags=["preview"])
BOUNDARY = "frame"
NO_STORE = {"Cache-Control": "no-store"}


@router.get("/snapshot.jpg", response_class=Response)
async def snapshot(panel: PanelDep, _session: SessionDep) -> Response:
    latest = await run_in_threadpool(panel.pipeline.mjpeg.latest)
    if latest is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "No frame yet: the camera or the model is still starting; try again shortly.",
            headers={"Retry-After": "1"},
        )
    seq, jpeg = latest
    return Response(jpeg, media_type="image/jpeg", headers={**NO_STORE, "X-Frame-Seq": str(seq)})


@router.get("/preview.mjpeg", response_class=StreamingResponse)
async def preview(request: Request, panel: PanelDep, _session: SessionDep) -> StreamingResponse:
    """multipart/x-mixed-replace: each new processed frame as a JPEG part."""
    if panel.preview_streams >= panel.options.max_preview_streams:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"{panel.preview_streams} previews are already open; close one and reload.",
        )
    return StreamingResponse(
        _frames(request, panel),
        media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
        headers=NO_STORE,
    )


async def _frames(request: Request, panel: Panel) -> AsyncIterator[bytes]:
    panel.preview_streams += 1
    try:
        mjpeg = panel.pipeline.mjpeg
        seq = 0
        while not await request.is_disconnected():
            # wait_next blocks, so it runs in a worker thread with a short timeout.
            item = await run_in_threadpool(mjpeg.wait_next, seq, 0.5)
            if item is None:
                if mjpeg.closed:  # stopping: end the stream so the shutdown need not cancel it
                    break
                continue
            seq, jpeg = item
            head = (
                f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
            )
            yield head.encode() + jpeg + b"\r\n"
    finally:
        panel.preview_streams -= 1
