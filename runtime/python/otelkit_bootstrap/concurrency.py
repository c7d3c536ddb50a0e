"""The standard's concurrency rows: worker pools and bulkheads.

Every `concurrent.futures` ThreadPoolExecutor the process creates (the asyncio default executor behind
`loop.run_in_executor(None, ...)` and `asyncio.to_thread` included) runs each task in a copy of the
submitter's context, as the standard's TracedThreadPoolExecutor does, so request_id, the trace context
and structlog's contextvars reach the worker; thread and process pools report the executor_* gauges
by pool_type. A bulkhead is the app's own design, so it is a small API: `bulkhead(dependency)` limits
concurrent calls and reports semaphore_available, bulkhead_rejections_total and the bulkhead_* events.
"""

from __future__ import annotations

import collections
import contextvars
import functools
import os
import sys
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # asyncio is imported where a coroutine waits, not at start-up
    import asyncio

# the standard's bulkhead_contention: "semaphore wait exceeded 1 second"
CONTENTION_SECONDS = 1.0
THREAD = "thread"
PROCESS = "process"

_lock = threading.Lock()
# the Resilience object of a started bootstrap; None: limits still apply, nothing is reported
_reporter: Any = None


def attach(reporter: Any) -> None:
    global _reporter
    _reporter = reporter


# worker pools -------------------------------------------------------------------------------------


class _PoolFigures:
    """One executor's tasks: submitted and not yet started, and running."""

    __slots__ = ("pending", "active", "__weakref__")

    def __init__(self) -> None:
        self.pending = 0
        self.active = 0


_pools: dict[str, weakref.WeakKeyDictionary[Any, _PoolFigures]] = {
    THREAD: weakref.WeakKeyDictionary(),
    PROCESS: weakref.WeakKeyDictionary(),
}
_seen_types: set[str] = set()


def _figures(pool_type: str, executor: Any) -> _PoolFigures:
    with _lock:
        figures = _pools[pool_type].get(executor)
        if figures is None:
            figures = _pools[pool_type][executor] = _PoolFigures()
            _seen_types.add(pool_type)
        return figures


def _forget(pool_type: str, executor: Any) -> None:
    with _lock:
        _pools[pool_type].pop(executor, None)


def pool_figures() -> dict[str, dict[str, int]]:
    """active, pending and max workers by pool_type, over the live (not shut down) executors."""
    out: dict[str, dict[str, int]] = {}
    with _lock:
        for pool_type in sorted(_seen_types):
            active = pending = capacity = 0
            for executor, figures in list(_pools[pool_type].items()):
                size = int(getattr(executor, "_max_workers", 0) or 0)
                capacity += size
                if pool_type == PROCESS:
                    # a child's start is not seen from the parent: a free process takes the next task
                    # at once, so of the tasks not done as many run as there are processes
                    outstanding = figures.pending
                    active += min(outstanding, size)
                    pending += max(outstanding - size, 0)
                else:
                    active += figures.active
                    pending += figures.pending
            out[pool_type] = {"active": active, "pending": pending, "max": capacity}
    return out


def _is_interpreter_pool(executor: Any) -> bool:
    # 3.14's InterpreterPoolExecutor is a ThreadPoolExecutor whose tasks must be shareable across
    # interpreters: a closure cannot be, and its context does not cross either
    module = sys.modules.get("concurrent.futures.interpreter")
    cls = getattr(module, "InterpreterPoolExecutor", None) if module is not None else None
    return cls is not None and isinstance(executor, cls)


# every event loop that has run in this process (uvicorn's, asyncio.run's), for active_async_tasks
_loops: weakref.WeakSet[Any] = weakref.WeakSet()


def install_event_loops(module: Any, patched: list[str]) -> None:
    """Notes each loop as it starts to run, so active_async_tasks counts the tasks of all of them."""
    cls = module.BaseEventLoop
    if getattr(cls.run_forever, "_otelkit", False):
        return
    original = cls.run_forever

    @functools.wraps(original)
    def run_forever(self: Any) -> Any:
        _loops.add(self)
        return original(self)

    run_forever._otelkit = True  # type: ignore[attr-defined]
    cls.run_forever = run_forever
    patched.append("asyncio event loops")


def active_async_tasks() -> int:
    """Tasks not yet done on the running loops. all_tasks() copes with being read from the exporter's
    thread while the loop adds tasks (it retries a copy of its weak set)."""
    import asyncio

    total = 0
    for loop in list(_loops):
        if loop.is_closed() or not loop.is_running():
            continue
        try:
            total += len(asyncio.all_tasks(loop))
        except RuntimeError:
            continue
    return total


def install_threads(module: Any, patched: list[str]) -> None:
    cls = module.ThreadPoolExecutor
    if getattr(cls.submit, "_otelkit", False):
        return
    original_init, original_submit, original_shutdown = cls.__init__, cls.submit, cls.shutdown

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        if not _is_interpreter_pool(self):
            _figures(THREAD, self)

    def submit(self: Any, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        if _is_interpreter_pool(self) or getattr(self, "_shutdown", False):
            return original_submit(self, fn, *args, **kwargs)  # (which refuses a shut-down pool's task)
        context = contextvars.copy_context()
        figures = _figures(THREAD, self)
        started = False

        def run() -> Any:
            nonlocal started
            with _lock:
                started = True
                figures.pending -= 1
                figures.active += 1
            try:
                return context.run(fn, *args, **kwargs)
            finally:
                with _lock:
                    figures.active -= 1

        def done(_future: Any) -> None:
            # cancelled, or failed with the pool broken, before a worker took it
            with _lock:
                if not started:
                    figures.pending -= 1

        with _lock:
            figures.pending += 1
        try:
            future = original_submit(self, run)
        except BaseException:
            with _lock:
                figures.pending -= 1
            raise
        future.add_done_callback(done)
        return future

    def shutdown(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return original_shutdown(self, *args, **kwargs)
        finally:
            _forget(THREAD, self)

    functools.update_wrapper(__init__, original_init)
    functools.update_wrapper(shutdown, original_shutdown)
    cls.__init__, cls.submit, cls.shutdown = __init__, functools.wraps(original_submit)(submit), shutdown
    cls.submit._otelkit = True
    patched.append("ThreadPoolExecutor")


def install_processes(module: Any, patched: list[str]) -> None:
    """Gauges only: the task and its arguments are pickled to the child, which has its own context."""
    cls = module.ProcessPoolExecutor
    if getattr(cls.submit, "_otelkit", False):
        return
    original_init, original_submit, original_shutdown = cls.__init__, cls.submit, cls.shutdown

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        _figures(PROCESS, self)

    def submit(self: Any, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        if getattr(self, "_shutdown_thread", False):
            return original_submit(self, fn, *args, **kwargs)
        figures = _figures(PROCESS, self)
        with _lock:
            figures.pending += 1
        try:
            future = original_submit(self, fn, *args, **kwargs)
        except BaseException:
            with _lock:
                figures.pending -= 1
            raise

        def done(_future: Any) -> None:
            with _lock:
                figures.pending -= 1

        future.add_done_callback(done)
        return future

    def shutdown(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return original_shutdown(self, *args, **kwargs)
        finally:
            _forget(PROCESS, self)

    functools.update_wrapper(__init__, original_init)
    functools.update_wrapper(shutdown, original_shutdown)
    cls.__init__, cls.submit, cls.shutdown = __init__, functools.wraps(original_submit)(submit), shutdown
    cls.submit._otelkit = True
    patched.append("ProcessPoolExecutor")


# bulkheads ----------------------------------------------------------------------------------------


class BulkheadFull(Exception):
    """A call the bulkhead rejected: every slot was busy (for the whole of the timeout, if one was given)."""

    def __init__(self, dependency: str, limit: int, waited_ms: float) -> None:
        super().__init__(f"{dependency}: all {limit} slots busy")
        self.dependency = dependency
        self.limit = limit
        self.waited_ms = waited_ms


class _Waiter:
    """A call waiting for a slot, from a thread (event) or a coroutine (loop and future)."""

    __slots__ = ("state", "event", "loop", "future")

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.state = "waiting"  # -> granted | abandoned, under the slots' lock
        self.loop = loop
        self.event = threading.Event() if loop is None else None
        self.future = loop.create_future() if loop is not None else None

    def grant(self) -> bool:
        if self.state != "waiting":
            return False
        self.state = "granted"
        if self.event is not None:
            self.event.set()
        else:
            future = self.future

            def wake() -> None:
                if not future.done():
                    future.set_result(None)

            try:
                self.loop.call_soon_threadsafe(wake)
            except RuntimeError:  # the loop closed: the coroutine cannot take the slot
                self.state = "abandoned"
                return False
        return True


# what _wait_or_reject returns for a full bulkhead and a call that does not wait
_REJECT: Any = object()


class _Slots:
    """One dependency's slots, shared by threads and event loops alike (one FIFO of waiters)."""

    def __init__(self, dependency: str, limit: int | None) -> None:
        self.dependency = dependency
        self.limit = limit  # None: not known (the settings could not be read), so not limited
        self.held = 0
        self._lock = threading.Lock()
        self._waiters: collections.deque[_Waiter] = collections.deque()

    def _take(self) -> bool:
        if (self.limit is None or self.held < self.limit) and not self._waiters:
            self.held += 1
            return True
        return False

    def _give_up(self, waiter: _Waiter) -> bool:
        """True when the slot was granted just as the wait ended: the caller holds it after all."""
        with self._lock:
            if waiter.state == "granted":
                return True
            waiter.state = "abandoned"
            try:
                self._waiters.remove(waiter)
            except ValueError:
                pass
            return False

    def release(self) -> None:
        with self._lock:
            while self._waiters:
                if self._waiters.popleft().grant():
                    return  # the slot passes to the next caller; held stays as it is
            self.held -= 1

    def _wait_or_reject(self, timeout: float | None, loop: asyncio.AbstractEventLoop | None) -> Any:
        """None when a free slot was taken; else a waiter in the queue, or _REJECT for a call that does not wait."""
        with self._lock:
            if self._take():
                return None
            if timeout is not None and timeout <= 0:
                return _REJECT
            waiter = _Waiter(loop)
            self._waiters.append(waiter)
            return waiter

    def acquire(self, timeout: float | None) -> float:
        """Waits up to timeout seconds (None: as long as it takes); the wait in ms, or BulkheadFull."""
        started = time.monotonic()
        waiter = self._wait_or_reject(timeout, None)
        if waiter is None:
            return 0.0
        if waiter is _REJECT:
            raise self._rejected(started)
        try:
            granted = waiter.event.wait(timeout)
        except BaseException:
            if self._give_up(waiter):
                self.release()
            raise
        if not granted and not self._give_up(waiter):
            raise self._rejected(started)
        return self._acquired(started)

    async def acquire_async(self, timeout: float | None) -> float:
        import asyncio  # running in a loop, so already imported

        started = time.monotonic()
        waiter = self._wait_or_reject(timeout, asyncio.get_running_loop())
        if waiter is None:
            return 0.0
        if waiter is _REJECT:
            raise self._rejected(started)
        try:
            if timeout is None:
                await waiter.future
            else:
                await asyncio.wait_for(waiter.future, timeout)
        except asyncio.TimeoutError:
            if not self._give_up(waiter):
                raise self._rejected(started) from None
        except BaseException:
            if self._give_up(waiter):
                self.release()  # cancelled with the slot already handed over: pass it on
            raise
        return self._acquired(started)

    def _rejected(self, started: float) -> BulkheadFull:
        waited = (time.monotonic() - started) * 1000
        error = BulkheadFull(self.dependency, self.limit, waited)
        reporter = _reporter
        if reporter is not None:
            reporter.bulkhead_rejected(self.dependency, waited, error)
        return error

    def _acquired(self, started: float) -> float:
        waited = (time.monotonic() - started) * 1000
        reporter = _reporter
        if reporter is not None and waited > CONTENTION_SECONDS * 1000:
            reporter.bulkhead_contention(self.dependency, waited)
        return waited


_bulkheads: dict[str, _Slots] = {}
# semaphores the app keeps itself and reports with record_semaphore
_reported: dict[str, float] = {}


def semaphores() -> dict[str, float]:
    """semaphore_available by dependency: the bulkheads' free slots and what the app reported."""
    with _lock:
        out = dict(_reported)
        out.update({name: slots.limit - slots.held for name, slots in _bulkheads.items() if slots.limit is not None})
    return out


def record_semaphore(dependency: str, available: float) -> None:
    """Remaining slots of a semaphore the app keeps itself (an asyncio.Semaphore, say)."""
    with _lock:
        _reported[str(dependency)] = available


class Bulkhead:
    """
    What `bulkhead(...)` returns: `with`, `async with`, or a decorator of a function or coroutine
    function. Each entry takes one of the dependency's slots and gives it back on exit.
    """

    __slots__ = ("_slots", "timeout")

    def __init__(self, slots: _Slots, timeout: float | None) -> None:
        self._slots = slots
        self.timeout = timeout

    @property
    def dependency(self) -> str:
        return self._slots.dependency

    @property
    def limit(self) -> int | None:
        return self._slots.limit

    @property
    def available(self) -> int | None:
        limit = self._slots.limit
        return None if limit is None else limit - self._slots.held

    def __enter__(self) -> "Bulkhead":
        self._slots.acquire(self.timeout)
        return self

    def __exit__(self, *_exc: Any) -> None:
        self._slots.release()

    async def __aenter__(self) -> "Bulkhead":
        await self._slots.acquire_async(self.timeout)
        return self

    async def __aexit__(self, *_exc: Any) -> None:
        self._slots.release()

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        import inspect

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def limited_async(*args: Any, **kwargs: Any) -> Any:
                async with self:
                    return await fn(*args, **kwargs)

            return limited_async

        @functools.wraps(fn)
        def limited(*args: Any, **kwargs: Any) -> Any:
            with self:
                return fn(*args, **kwargs)

        return limited


# what spec_limit answers when the settings could not be read
UNKNOWN_LIMIT: Any = object()


def bulkhead(
    dependency: str,
    limit: int | None = None,
    *,
    timeout: float | None = None,
    spec_limit: Callable[[str], Any] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Bulkhead:
    """
    At most `limit` concurrent calls to `dependency` (default: the spec's resilience.bulkhead.max_concurrent
    for it). A call waits up to `timeout` seconds for a slot (None: as long as it takes; 0: not at all)
    and is otherwise rejected with BulkheadFull. One dependency is one set of slots, wherever it is used.
    """
    if not isinstance(dependency, str) or not dependency:
        raise ValueError("bulkhead: the dependency must be a non-empty name")
    from_spec = spec_limit(dependency) if spec_limit is not None else None
    with _lock:
        slots = _bulkheads.get(dependency)
        if slots is not None:
            if limit is not None and limit != slots.limit:
                raise ValueError(f"bulkhead {dependency} has {slots.limit} slots already; it cannot also have {limit}")
            return Bulkhead(slots, timeout)
        chosen = limit if limit is not None else from_spec
        unknown = chosen is UNKNOWN_LIMIT
        if not unknown and (not isinstance(chosen, int) or isinstance(chosen, bool) or chosen < 1):
            raise ValueError(
                f"bulkhead {dependency}: give limit= (an integer of at least 1) or set "
                f"resilience.bulkhead.max_concurrent for {dependency} in the spec"
            )
        slots = _bulkheads[dependency] = _Slots(dependency, None if unknown else chosen)
    if unknown:
        # the bootstrap must not stop the app; the settings' own warning said why they are missing
        if warn is not None:
            warn(f"bulkhead {dependency}: calls are not limited (no settings to read its max_concurrent from)")
    elif isinstance(from_spec, int) and limit is not None and limit != from_spec and warn is not None:
        warn(
            f"bulkhead {dependency}: limit={limit} differs from the spec's max_concurrent {from_spec} "
            "(its alerts and runbooks state the spec's)"
        )
    return Bulkhead(slots, timeout)


def _after_fork_in_child() -> None:
    # a lock some other thread held at fork time would stay held in the child for ever
    global _lock
    _lock = threading.Lock()
    for slots in _bulkheads.values():
        slots._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def attach_metrics(names: dict[str, str]) -> None:
    try:
        from opentelemetry.metrics import Observation, get_meter
    except ImportError:
        return
    meter = get_meter("otelkit.concurrency")

    def executor_gauge(figure: str) -> Callable[[Any], list[Any]]:
        def observe(_options: Any) -> list[Any]:
            return [Observation(values[figure], {"pool_type": pool_type}) for pool_type, values in pool_figures().items()]

        return observe

    for key, figure, description in (
        ("active_workers", "active", "Currently busy workers."),
        ("pending_tasks", "pending", "Tasks waiting for a worker."),
        ("max_workers", "max", "Pool capacity."),
    ):
        meter.create_observable_gauge(names[key], callbacks=[executor_gauge(figure)], description=description)

    def observe_semaphores(_options: Any) -> list[Any]:
        return [Observation(available, {"dependency": name}) for name, available in semaphores().items()]

    meter.create_observable_gauge(
        names["semaphore_available"], callbacks=[observe_semaphores], description="Remaining semaphore slots."
    )
    meter.create_observable_gauge(
        names["active_async_tasks"],
        callbacks=[lambda _options: [Observation(active_async_tasks())] if _loops else []],
        description="Currently running asyncio tasks.",
    )
