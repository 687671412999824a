"""Small helpers every part of the pipeline uses."""

from __future__ import annotations

import logging

log = logging.getLogger("runtime.pipeline")


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message (status and logs show one sentence)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def close_quietly(thing: object) -> None:
    """Close a processor or output, logging (not raising) what goes wrong: a broken device
    must not keep the pipeline from releasing everything else."""
    try:
        close = getattr(thing, "close", None)
        if close is not None:
            close()
    except Exception as exc:
        log.debug("ignoring error on close: %s", exc)
