"""Request context for ASGI (Starlette, FastAPI) and WSGI (Flask) apps, with no change to the app.

The wrapper sits outside the whole app, the agent's server span included, so every response carries
X-Request-ID and X-Response-Time, the 500 that Starlette's error middleware writes for an unhandled
exception too; the span gets the request id and frontend from a span processor that reads the context.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from .context import RequestState, accept_frontend, accept_request_id, current
from .settings import Settings

_OWN_HEADERS = (b"x-request-id", b"x-response-time")


def _elapsed_ms(started: float) -> str:
    return f"{(time.perf_counter() - started) * 1000:.3f}ms"


class RequestContext:
    def __init__(self, settings: Settings, redact_text: Callable[[str], str]) -> None:
        self._max_length = settings.request_id_max_length
        self._frontends = frozenset(settings.frontends)
        self._redact = redact_text

    def state(self, request_id: str | None, frontend: str | None) -> RequestState:
        return RequestState(
            request_id=accept_request_id(request_id, self._max_length, self._redact),
            frontend=accept_frontend(frontend, self._frontends),
        )

    def wrap_asgi(self, call: Callable[..., Any]) -> Callable[..., Any]:
        context = self

        async def __call__(app: Any, scope: dict, receive: Any, send: Any) -> Any:
            if scope.get("type") != "http" or "otelkit.request" in scope:
                return await call(app, scope, receive, send)
            headers: dict[bytes, bytes] = {}
            for key, value in scope.get("headers") or ():
                headers.setdefault(key.lower(), value)
            given = headers.get(b"x-request-id")
            frontend = headers.get(b"x-frontend-id")
            state = context.state(
                given.decode("latin-1") if given is not None else None,
                frontend.decode("latin-1") if frontend is not None else None,
            )
            started = time.perf_counter()
            scope["otelkit.request"] = state
            # request.state.request_id and request.state.frontend, as the standard's endpoints read them
            request_state = scope.setdefault("state", {})
            if isinstance(request_state, dict):
                request_state["request_id"] = state.request_id
                request_state["frontend"] = state.frontend

            async def send_with_context(message: dict) -> None:
                if message.get("type") == "http.response.start":
                    response_headers = [
                        (key, value) for key, value in message.get("headers") or () if key.lower() not in _OWN_HEADERS
                    ]
                    response_headers.append((b"x-request-id", state.request_id.encode("latin-1")))
                    response_headers.append((b"x-response-time", _elapsed_ms(started).encode("latin-1")))
                    message = {**message, "headers": response_headers}
                await send(message)

            token = current.set(state)
            try:
                return await call(app, scope, receive, send_with_context)
            finally:
                current.reset(token)

        return __call__

    def wrap_wsgi(self, call: Callable[..., Any]) -> Callable[..., Any]:
        context = self

        def __call__(app: Any, environ: dict, start_response: Callable[..., Any]) -> Any:
            if "otelkit.request" in environ:
                return call(app, environ, start_response)
            state = context.state(environ.get("HTTP_X_REQUEST_ID"), environ.get("HTTP_X_FRONTEND_ID"))
            environ["otelkit.request"] = state
            started = time.perf_counter()

            def start_with_context(status: str, headers: list, exc_info: Any = None) -> Any:
                headers = [(key, value) for key, value in headers if key.lower().encode("latin-1") not in _OWN_HEADERS]
                headers.append(("X-Request-ID", state.request_id))
                headers.append(("X-Response-Time", _elapsed_ms(started)))
                return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

            token = current.set(state)
            try:
                return call(app, environ, start_with_context)
            finally:
                current.reset(token)

        return __call__


def install_starlette(context: RequestContext, patched: list[str]) -> None:
    from starlette.applications import Starlette

    if not getattr(Starlette.__call__, "_otelkit", False):
        wrapped = context.wrap_asgi(Starlette.__call__)
        wrapped._otelkit = True  # type: ignore[attr-defined]
        Starlette.__call__ = wrapped  # type: ignore[method-assign]
        patched.append("starlette")


def install_flask(context: RequestContext, patched: list[str]) -> None:
    from flask import Flask

    if not getattr(Flask.__call__, "_otelkit", False):
        wrapped = context.wrap_wsgi(Flask.__call__)
        wrapped._otelkit = True  # type: ignore[attr-defined]
        Flask.__call__ = wrapped  # type: ignore[method-assign]
        patched.append("flask")


def _forwarded(headers: Any) -> None:
    """The standard: X-Request-ID is propagated to all downstream calls (the caller's own value wins)."""
    state = current.get()
    if state is not None and "x-request-id" not in {str(key).lower() for key in headers.keys()}:
        headers["X-Request-ID"] = state.request_id


def install_requests(patched: list[str]) -> None:
    from requests.adapters import HTTPAdapter

    original_send = HTTPAdapter.send

    def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        _forwarded(request.headers)
        return original_send(self, request, *args, **kwargs)

    HTTPAdapter.send = send  # type: ignore[method-assign]
    patched.append("requests")


def install_httpx(patched: list[str]) -> None:
    import httpx

    original_sync = httpx.Client.send
    original_async = httpx.AsyncClient.send

    def sync_send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        _forwarded(request.headers)
        return original_sync(self, request, *args, **kwargs)

    async def async_send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        _forwarded(request.headers)
        return await original_async(self, request, *args, **kwargs)

    httpx.Client.send = sync_send  # type: ignore[method-assign]
    httpx.AsyncClient.send = async_send  # type: ignore[method-assign]
    patched.append("httpx")


class RequestSpanProcessor:
    """Puts request_id and frontend on every span started while a request is served (the server span too)."""

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        state = current.get()
        if state is not None:
            span.set_attribute("request_id", state.request_id)
            span.set_attribute("frontend", state.frontend)

    def on_end(self, span: Any) -> None:
        pass

    def _on_ending(self, span: Any) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
