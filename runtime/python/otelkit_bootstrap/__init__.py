"""otelkit's bootstrap for Python services, run by the standard OpenTelemetry agent
(`opentelemetry-instrument`) through the entry points beside this package, or by the sitecustomize
module beside it. It adds what the agent does not do: the standard's request context headers, JSON log
lines in its schema from logging and structlog (also exported over OTLP), redaction before anything is
printed or exported, resilience telemetry from tenacity, pybreaker and aiobreaker, context and gauges
for every thread and process pool, and the one API an app calls itself: `bulkhead`.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

from . import concurrency
from .concurrency import Bulkhead, BulkheadFull
from .redact import Redactor
from .settings import Settings, SettingsError, load

__all__ = [
    "start",
    "pre_instrument",
    "post_instrument",
    "redactor",
    "settings",
    "patched",
    "breaker_states",
    "bulkhead",
    "Bulkhead",
    "BulkheadFull",
    "record_bulkhead_rejection",
    "record_bulkhead_contention",
    "record_semaphore",
]

_lock = threading.RLock()
_started = False
_settings: Settings | None = None
_redactor: Redactor | None = None
_failed: str | None = None
_patched: list[str] = []
_resilience: Any = None


def _warn(message: str) -> None:
    print(f"otelkit: {message}", file=sys.stderr)


def settings() -> Settings | None:
    """The service's settings, read once; None (after one warning) when they are missing or invalid."""
    global _settings, _redactor, _failed
    with _lock:
        if _settings is None and _failed is None:
            try:
                _settings = load()
                _redactor = Redactor(_settings.blocked_keys, _settings.value_patterns)
            except SettingsError as error:
                _failed = str(error)
                _warn(f"invalid settings, the bootstrap is off: {error}")
        return _settings


def redactor() -> Redactor | None:
    settings()
    return _redactor


def patched() -> list[str]:
    return list(_patched)


def start() -> bool:
    """Installs everything once; True when the bootstrap is on."""
    global _started, _resilience
    with _lock:
        if _started:
            return True
        current_settings = settings()
        if current_settings is None or _redactor is None:
            return False
        _started = True
        from . import http, imports, logs, resilience

        sink = logs.Sink(current_settings, _redactor)
        sink.attach_otlp()
        # logging first and alone: without it nothing may print, so a failure there stops the rest
        logs.install_stdlib(sink, current_settings.log_level)
        breakers = resilience.Resilience(sink)
        concurrency.attach(breakers)
        steps = [
            ("uncaught exceptions", lambda: logs.install_excepthooks(sink)),
            ("resilience metrics", breakers.attach_metrics),
            ("concurrency metrics", lambda: concurrency.attach_metrics(resilience.METRICS)),
            ("span attributes", lambda: _add_span_processor(http)),
            ("flush on SIGTERM", _flush_on_termination),
        ]
        for name, step in steps:
            try:
                step()
            except Exception as error:  # one step failing must not cost the app the rest
                _warn(f"{name}: not installed ({type(error).__name__}: {error})")
        context = http.RequestContext(current_settings, _redactor.text)
        after = imports.AfterImport(_warn)
        for module, name, hook in [
            ("structlog", "structlog", lambda m: logs.install_structlog(sink)),
            ("tenacity", "tenacity", lambda m: resilience.install_tenacity(breakers, _patched)),
            ("pybreaker", "pybreaker", lambda m: resilience.install_pybreaker(breakers, _patched)),
            ("aiobreaker", "aiobreaker", lambda m: resilience.install_aiobreaker(breakers, _patched)),
            ("asyncio.base_events", "asyncio tasks", lambda m: concurrency.install_event_loops(m, _patched)),
            ("concurrent.futures.thread", "thread pools", lambda m: concurrency.install_threads(m, _patched)),
            ("concurrent.futures.process", "process pools", lambda m: concurrency.install_processes(m, _patched)),
            ("starlette.applications", "request context", lambda m: http.install_starlette(context, _patched)),
            ("flask", "request context", lambda m: http.install_flask(context, _patched)),
            ("requests.adapters", "outbound X-Request-ID", lambda m: http.install_requests(_patched)),
            ("httpx", "outbound X-Request-ID", lambda m: http.install_httpx(_patched)),
        ]:
            after.when_imported(module, name, hook)
        _resilience = breakers
        return True


def breaker_states() -> dict[str, str]:
    """Circuit breaker states by dependency, for a readiness route that wants them."""
    return _resilience.states() if _resilience is not None else {}


def bulkhead(dependency: str, limit: int | None = None, *, timeout: float | None = None) -> Bulkhead:
    """
    At most `limit` concurrent calls to `dependency`; without a limit, the spec's
    resilience.bulkhead.max_concurrent for it. A call waits up to `timeout` seconds for a slot (None:
    as long as it takes; 0: not at all), then raises BulkheadFull (`bulkhead_rejected`); a wait over
    a second is `bulkhead_contention`; `semaphore_available{dependency}` is the free slots. Use as
    `with`, `async with` or a decorator; one dependency is one set of slots wherever it is used.
    It limits whether or not the bootstrap is on, and reports only when it is; when the settings
    cannot be read, a bulkhead that takes the spec's limit does not limit (with one warning).
    """
    return concurrency.bulkhead(dependency, limit, timeout=timeout, spec_limit=_spec_limit, warn=_warn)


def _spec_limit(dependency: str) -> Any:
    current = settings()
    return current.bulkheads.get(dependency) if current is not None else concurrency.UNKNOWN_LIMIT


def record_bulkhead_rejection(dependency: str, duration_ms: float | None = None, error: BaseException | None = None) -> None:
    """A call the app's own semaphore rejected (the Node preload's recordBulkheadRejection)."""
    if _resilience is not None:
        _resilience.bulkhead_rejected(dependency, duration_ms, error)


def record_bulkhead_contention(dependency: str, duration_ms: float | None = None) -> None:
    """A call that waited over a second for the app's own semaphore (recordBulkheadContention)."""
    if _resilience is not None:
        _resilience.bulkhead_contention(dependency, duration_ms)


def record_semaphore(dependency: str, available: float) -> None:
    """The free slots of the app's own semaphore, as semaphore_available{dependency} (recordSemaphore)."""
    concurrency.record_semaphore(dependency, available)


def _add_span_processor(http: Any) -> None:
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.trace import SpanProcessor
    except ImportError:
        return
    provider = trace.get_tracer_provider()
    add = getattr(provider, "add_span_processor", None)
    if add is None:
        return  # no SDK provider (OTEL_SDK_DISABLED, or no agent): nothing is traced

    class RequestSpanProcessor(http.RequestSpanProcessor, SpanProcessor):
        pass

    add(RequestSpanProcessor())


def _flush() -> None:
    try:
        from opentelemetry import _logs, metrics, trace
    except ImportError:
        return
    for provider in (trace.get_tracer_provider(), metrics.get_meter_provider(), _logs.get_logger_provider()):
        shutdown = getattr(provider, "shutdown", None)
        if shutdown is not None:
            try:
                shutdown()
            except Exception as error:  # one provider failing must not keep the others from flushing
                _warn(f"could not flush telemetry at exit: {error}")


def _flush_on_termination() -> None:
    """
    SIGTERM's default action ends the process at once, skipping the SDK's atexit flush, so the last
    spans, logs and metrics were lost; uvicorn even re-raises SIGTERM after its graceful shutdown. Where
    the app left SIGTERM at its default, it now flushes first and then ends by the same signal.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
    except (ValueError, AttributeError):
        return

    def flush_then_terminate(signum: int, _frame: Any) -> None:
        _flush()
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)

    signal.signal(signal.SIGTERM, flush_then_terminate)


def pre_instrument() -> None:
    """Agent entry point: after the SDK is configured, before the library instrumentations load."""
    start()


def post_instrument() -> None:
    """Agent entry point; everything was installed before the instrumentations, nothing is left to do."""
    start()
