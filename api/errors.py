"""Errors the panel answers with a 4xx status and one sentence a person understands."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from core.errors import UserError


class PanelError(UserError):
    """A bad request to the panel; `status_code` is the HTTP status it is answered with."""

    status_code = 400


class NotFound(PanelError):
    status_code = 404


class Conflict(PanelError):
    status_code = 409


class TooLarge(PanelError):
    status_code = 413


class UnsupportedMedia(PanelError):
    status_code = 415


class Busy(PanelError):
    status_code = 429


class NotSaved(PanelError):
    """The state directory refused a write (disk full, read-only)."""

    status_code = 507


class ErrorBody(BaseModel):
    """Every error answer: one sentence naming the thing, the cause and the fix."""

    detail: str = Field(description="One sentence: what was refused, why, and what to do.")


class FieldError(BaseModel):
    loc: list[str]
    msg: str
    type: str | None = None


class ValidationErrorBody(ErrorBody):
    """422: the sentence, plus pydantic's errors per field for clients that point at them."""

    errors: list[FieldError] = Field(default_factory=list)


_WHEN: dict[int, str] = {
    400: "Bad request (e.g. a background that is not a library id).",
    401: "No valid session: log in first.",
    403: "Refused: a cross-site request, or a field only the config file may set.",
    404: "No such background or camera.",
    409: "Conflict with the current settings (e.g. deleting the selected background).",
    413: "The upload is too large (bytes, pixels or seconds).",
    415: "The upload is not a supported picture or video.",
    422: "The request does not validate: the sentence names the field and the allowed values.",
    429: "Too many login attempts, or a password check is already running; see Retry-After.",
    503: "Not available now (no frame yet, or all preview slots taken); try again shortly.",
    507: "Applied but not saved: the state directory refused the write.",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error statuses a route sends, each with the body it sends."""
    return {
        code: {
            "model": ValidationErrorBody if code == 422 else ErrorBody,
            "description": _WHEN[code],
        }
        for code in codes
    }
