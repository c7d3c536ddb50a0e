"""Resilience telemetry of the standard from the libraries the app already uses, with no code change:
tenacity retries, pybreaker and aiobreaker circuit breakers; and the events and counter of the
bulkheads of concurrency.py. Event names, levels and metric names and labels are the standard's
tables, exactly (a conformant app lights up the generated alerts and panels).
"""

from __future__ import annotations

import time
from typing import Any

# the standard's `resilience_event` table: name -> level
EVENTS = {
    "circuit_breaker_opened": "error",
    "circuit_breaker_half_open": "warning",
    "circuit_breaker_closed": "info",
    "circuit_breaker_rejected": "warning",
    "retry_attempt": "warning",
    "retry_exhausted": "error",
    "timeout_exceeded": "warning",
    "bulkhead_rejected": "warning",
    "bulkhead_contention": "warning",
}
# circuit_breaker_state: 0 closed, 1 half-open, 2 open
STATE_VALUE = {"closed": 0, "half_open": 1, "open": 2}
_STATE_EVENT = {"open": "circuit_breaker_opened", "half_open": "circuit_breaker_half_open", "closed": "circuit_breaker_closed"}
METRICS = {
    "state": "circuit_breaker_state",
    "transitions": "circuit_breaker_transitions_total",
    "retries": "retry_attempts_total",
    "timeouts": "timeout_exceeded_total",
    "bulkhead_rejections": "bulkhead_rejections_total",
    "active_workers": "executor_active_workers",
    "pending_tasks": "executor_pending_tasks",
    "max_workers": "executor_max_workers",
    "semaphore_available": "semaphore_available",
    "active_async_tasks": "active_async_tasks",
}
LOGGER = "otelkit.resilience"


def state_name(state: Any) -> str:
    """pybreaker says "half-open", aiobreaker CircuitBreakerState.HALF_OPEN; both become half_open."""
    inner = getattr(state, "state", None)
    raw = getattr(inner, "name", None) or getattr(state, "name", None) or state
    text = str(raw).lower().replace("-", "_").rsplit(".", 1)[-1]
    if "half" in text:
        return "half_open"
    return "open" if "open" in text else "closed"


def _error(error: BaseException | None) -> str | None:
    return None if error is None else f"{type(error).__name__}: {error}"


class Resilience:
    def __init__(self, sink: Any) -> None:
        self._sink = sink
        self._states: dict[str, str] = {}
        self._transitions = self._retries = self._timeouts = self._rejections = None

    def attach_metrics(self) -> None:
        try:
            from opentelemetry.metrics import Observation, get_meter
        except ImportError:
            return
        meter = get_meter("otelkit.resilience")
        self._transitions = meter.create_counter(METRICS["transitions"], description="Circuit breaker state changes.")
        self._retries = meter.create_counter(METRICS["retries"], description="Retry attempts, by their outcome.")
        self._timeouts = meter.create_counter(METRICS["timeouts"], description="Calls that exceeded their timeout.")
        self._rejections = meter.create_counter(
            METRICS["bulkhead_rejections"], description="Calls rejected by a full bulkhead."
        )

        def observe(_options: Any) -> list[Any]:
            return [Observation(STATE_VALUE[state], {"dependency": name}) for name, state in list(self._states.items())]

        meter.create_observable_gauge(
            METRICS["state"], callbacks=[observe], description="Circuit breaker state: 0 closed, 1 half-open, 2 open."
        )

    def event(self, event: str, dependency: str, message: str, **fields: Any) -> None:
        level = EVENTS[event]
        if self._sink.enabled(level):
            payload = {"resilience_event": event, "dependency": dependency, "attempt": None, **fields}
            self._sink.write(level, LOGGER, message, payload)

    # breakers -------------------------------------------------------------------------------------

    def breaker_state(self, dependency: str, old: Any, new: Any, failure_count: Any = None) -> None:
        to_state = state_name(new)
        from_state = self._states.get(dependency, state_name(old) if old is not None else "closed")
        self._states[dependency] = to_state
        if from_state == to_state:
            return
        if self._transitions is not None:
            self._transitions.add(1, {"dependency": dependency, "from_state": from_state, "to_state": to_state})
        self.event(
            _STATE_EVENT[to_state],
            dependency,
            f"circuit breaker for {dependency}: {from_state} -> {to_state}",
            from_state=from_state,
            to_state=to_state,
            failure_count=failure_count,
        )

    def breaker_rejected(self, dependency: str, error: BaseException) -> None:
        self.event(
            "circuit_breaker_rejected", dependency, f"call to {dependency} rejected: breaker open", error=_error(error)
        )

    def states(self) -> dict[str, str]:
        return dict(self._states)

    # retries --------------------------------------------------------------------------------------

    def retry_outcome(self, dependency: str, attempt: int, failed: bool) -> None:
        """Each retry (attempt 2 and later) once it finished: retry_attempts_total{outcome}."""
        if attempt > 1 and self._retries is not None:
            self._retries.add(1, {"dependency": dependency, "outcome": "failure" if failed else "success"})

    def retry(self, dependency: str, attempt: int, duration_ms: float | None, error: BaseException | None, exhausted: bool) -> None:
        fields = {"attempt": attempt, "duration_ms": None if duration_ms is None else round(duration_ms, 3), "error": _error(error)}
        if exhausted:
            self.event("retry_exhausted", dependency, f"all {attempt} attempts at {dependency} failed", **fields)
        else:
            self.event("retry_attempt", dependency, f"retrying {dependency} after attempt {attempt}", **fields)

    def timeout(self, dependency: str, duration_ms: float | None, error: BaseException | None = None) -> None:
        if self._timeouts is not None:
            self._timeouts.add(1, {"dependency": dependency})
        self.event("timeout_exceeded", dependency, f"call to {dependency} exceeded its timeout", duration_ms=duration_ms, error=_error(error))

    # bulkheads (the messages are the Node preload's) ------------------------------------------------

    def bulkhead_rejected(self, dependency: str, waited_ms: float | None, error: BaseException | None = None) -> None:
        if self._rejections is not None:
            self._rejections.add(1, {"dependency": dependency})
        self.event(
            "bulkhead_rejected",
            dependency,
            f"call to {dependency} rejected: semaphore full",
            duration_ms=None if waited_ms is None else round(waited_ms, 3),
            error=_error(error),
        )

    def bulkhead_contention(self, dependency: str, waited_ms: float | None) -> None:
        self.event(
            "bulkhead_contention",
            dependency,
            f"call to {dependency} waited for a semaphore slot",
            duration_ms=None if waited_ms is None else round(waited_ms, 3),
        )


def _dependency_of_call(fn: Any) -> str:
    return getattr(fn, "__otelkit_dependency__", None) or getattr(fn, "__name__", None) or "unknown"


def install_tenacity(resilience: Resilience, patched: list[str]) -> None:
    import tenacity

    base = tenacity.BaseRetrying
    if getattr(base._begin_iter, "_otelkit", False):
        return
    original_begin = base._begin_iter
    original_post_stop = base._post_stop_check_actions

    def _begin_iter(self: Any, retry_state: Any) -> None:
        outcome = retry_state.outcome
        if outcome is not None:
            dependency = _dependency_of_call(retry_state.fn)
            resilience.retry_outcome(dependency, retry_state.attempt_number, outcome.failed)
            error = outcome.exception() if outcome.failed else None
            if isinstance(error, TimeoutError):
                # asyncio.timeout, wait_for and socket timeouts all raise TimeoutError (3.11+)
                resilience.timeout(dependency, None, error)
        return original_begin(self, retry_state)

    def _post_stop_check_actions(self: Any, retry_state: Any) -> None:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None and outcome.failed else None
        started = getattr(retry_state, "start_time", None)
        duration = (time.monotonic() - started) * 1000 if started is not None else None
        resilience.retry(
            _dependency_of_call(retry_state.fn),
            retry_state.attempt_number,
            duration,
            error,
            exhausted=bool(self.iter_state.stop_run_result),
        )
        return original_post_stop(self, retry_state)

    _begin_iter._otelkit = True  # type: ignore[attr-defined]
    base._begin_iter = _begin_iter
    base._post_stop_check_actions = _post_stop_check_actions
    patched.append("tenacity")


def _breaker_dependency(breaker: Any) -> str:
    return getattr(breaker, "name", None) or getattr(breaker, "_name", None) or "unknown"


def _patch_breaker(module: Any, listener_base: Any, resilience: Resilience) -> None:
    class Listener(listener_base):  # type: ignore[misc, valid-type]
        def state_change(self, breaker: Any, old: Any, new: Any) -> None:
            counter = getattr(breaker, "fail_counter", None)
            resilience.breaker_state(_breaker_dependency(breaker), old, new, counter)

    original_init = module.CircuitBreaker.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.add_listener(Listener())
        resilience.breaker_state(_breaker_dependency(self), None, getattr(self, "current_state", "closed"))

    module.CircuitBreaker.__init__ = __init__


def _patch_open_state(state_class: Any, error_class: Any, resilience: Resilience) -> None:
    original = state_class.before_call

    def before_call(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return original(self, *args, **kwargs)
        except error_class as error:
            resilience.breaker_rejected(_breaker_dependency(self._breaker), error)
            raise

    state_class.before_call = before_call


def install_pybreaker(resilience: Resilience, patched: list[str]) -> None:
    import pybreaker

    _patch_breaker(pybreaker, pybreaker.CircuitBreakerListener, resilience)
    _patch_open_state(pybreaker.CircuitOpenState, pybreaker.CircuitBreakerError, resilience)
    patched.append("pybreaker")


def install_aiobreaker(resilience: Resilience, patched: list[str]) -> None:
    import aiobreaker
    from aiobreaker import state as aiobreaker_state

    _patch_breaker(aiobreaker, aiobreaker.CircuitBreakerListener, resilience)
    _patch_open_state(aiobreaker_state.CircuitOpenState, aiobreaker_state.CircuitBreakerError, resilience)
    patched.append("aiobreaker")
