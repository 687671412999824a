"""The live processed preview: an MJPEG stream and single snapshots, for logged-in users."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from api.dependencies import PanelDep, SessionDep
from api.errors import error_responses
from api.panel import Panel

router = APIRouter(tags=["preview"])
BOUNDARY = "frame"
NO_STORE = {"Cache-Control": "no-store"}


@router.get(
    "/snapshot.jpg",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, **error_responses(401, 503)},
)
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


@router.get(
    "/preview.mjpeg",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"multipart/x-mixed-replace": {}}},
        **error_responses(401, 503),
    },
)
async def preview(request: Request, panel: PanelDep, _session: SessionDep) -> StreamingResponse:
    """multipart/x-mixed-replace: each new processed frame as a JPEG part."""
    release = panel.previews.acquire()  # counted here, atomically: not when streaming starts
    if release is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"All {panel.previews.limit} preview slots are in use; close a panel tab and reload.",
            headers={"Retry-After": "5"},
        )
    # Released when the stream ends, and by the background task when it never started.
    return StreamingResponse(
        _frames(request, panel, release),
        media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
        headers=NO_STORE,
        background=BackgroundTask(release),
    )


async def _frames(
    request: Request, panel: Panel, release: Callable[[], None]
) -> AsyncIterator[bytes]:
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
        release()
