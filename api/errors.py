"""Errors the panel answers with a 4xx status and one sentence a person understands."""

from __future__ import annotations

from convert.errors import UserError


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
