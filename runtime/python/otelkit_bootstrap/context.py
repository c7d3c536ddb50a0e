"""The request context of the standard (X-Request-ID, X-Frontend-ID), in a context variable so it follows
the request into asyncio tasks, to_thread calls and every log line and span made while serving it."""

from __future__ import annotations

import contextvars
import re
import uuid
from dataclasses import dataclass

UNKNOWN_FRONTEND = "unknown"
REQUEST_ID_ATTRIBUTE = "request_id"
FRONTEND_ATTRIBUTE = "frontend"
_REQUEST_ID_CHARS = re.compile(r"[A-Za-z0-9._:-]+")


@dataclass(frozen=True)
class RequestState:
    request_id: str
    frontend: str


current: contextvars.ContextVar[RequestState | None] = contextvars.ContextVar("otelkit_request", default=None)


def accept_request_id(given: str | None, max_length: int, redact) -> str:
    """A caller's id is kept when it is short and plain; anything else (or a secret) gets a fresh UUID."""
    if given and len(given) <= max_length and _REQUEST_ID_CHARS.fullmatch(given) and redact(given) == given:
        return given
    return str(uuid.uuid4())


def accept_frontend(given: str | None, allowed: frozenset[str]) -> str:
    return given if given is not None and given in allowed else UNKNOWN_FRONTEND
