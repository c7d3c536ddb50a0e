"""Thread pools, process pools and bulkheads under the real SDK, their gauges read back from an
in-memory metric reader at each step, each step's figures printed as one {"probe": ...} line."""

import asyncio
import json
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
trace.set_tracer_provider(TracerProvider())

import otelkit_bootstrap as otelkit  # noqa: E402
from otelkit_bootstrap.context import RequestState, current  # noqa: E402

STARTED = "--not-started" not in sys.argv
if STARTED:
    otelkit.start()


def probe(step, **values):
    print(json.dumps({"probe": step, **values}), flush=True)


def gauges(prefix):
    out = {}
    for resource in reader.get_metrics_data().resource_metrics if STARTED else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name.startswith(prefix):
                    for point in metric.data.data_points:
                        labels = ",".join(f"{k}={v}" for k, v in sorted(point.attributes.items()))
                        out[f"{metric.name}{{{labels}}}"] = point.value
    return out


def pools_step(step):
    probe(step, **gauges("executor_"))


def seen():
    span = trace.get_current_span().get_span_context()
    state = current.get()
    return [state.request_id if state else None, format(span.trace_id, "032x") if span.is_valid else None]


class TracedThreadPoolExecutor(ThreadPoolExecutor):
    """The standard's own wrapper, as an app that followed it has it: still one context, no error."""

    def submit(self, fn, /, *args, **kwargs):
        import contextvars

        return super().submit(contextvars.copy_context().run, fn, *args, **kwargs)


def threads():
    gate = threading.Event()
    pool = ThreadPoolExecutor(max_workers=2)
    current.set(RequestState("req-pool-1", "web"))
    with trace.get_tracer("pools").start_as_current_span("submitting") as span:
        expected = [("req-pool-1", format(span.get_span_context().trace_id, "032x"))]
        futures = [pool.submit(lambda: (gate.wait(5), seen())[1]) for _ in range(3)]
        time.sleep(0.3)
        pools_step("thread: 2 running, 1 waiting")
        pool.submit(gate.wait).cancel()
        pools_step("thread: a 4th submitted and cancelled")
        gate.set()
        results = [f.result() for f in futures]
        traced = TracedThreadPoolExecutor(max_workers=1)
        results.append(traced.submit(seen).result())

        async def in_loop():
            loop = asyncio.get_running_loop()
            return [await loop.run_in_executor(None, seen), await asyncio.to_thread(seen)]

        results += asyncio.run(in_loop())
    probe("thread: the context the tasks ran in", results=results, expected=expected[0])
    pools_step("thread: all done")
    pool.shutdown()
    traced.shutdown()
    try:
        pool.submit(seen)
    except RuntimeError:
        pass  # refused, and not counted again
    pools_step("thread: its pools shut down")


def processes():
    pool = ProcessPoolExecutor(max_workers=2)
    futures = [pool.submit(time.sleep, 0.8) for _ in range(3)]
    time.sleep(0.4)
    pools_step("process: 2 running, 1 waiting")
    for future in futures:
        future.result()
    pools_step("process: all done")
    pool.shutdown()
    pools_step("process: shut down")


def bulkheads():
    payments = otelkit.bulkhead("payments")
    problems = []
    for name, limit in (("payments", 3), ("nowhere", None)):
        try:
            otelkit.bulkhead(name, limit)
        except ValueError as error:
            problems.append(str(error))
    probe("bulkhead: limits", limit=payments.limit, problems=problems)

    held_by_thread = threading.Event()
    release_thread = threading.Event()

    def hold_in_thread():
        with payments:
            held_by_thread.set()
            release_thread.wait(5)

    holder = threading.Thread(target=hold_in_thread)
    holder.start()
    held_by_thread.wait(5)

    @otelkit.bulkhead("payments")
    async def hold_in_task(seconds):
        await asyncio.sleep(seconds)
        return "held"

    async def main():
        task = asyncio.create_task(hold_in_task(0.6))
        await asyncio.sleep(0.05)
        outcome = {"available": payments.available, "gauge": gauges("semaphore_available")}
        started = time.monotonic()
        try:
            async with otelkit.bulkhead("payments", timeout=0.2):
                outcome["timed"] = "admitted"
        except otelkit.BulkheadFull as error:
            outcome["timed"] = f"rejected after {round((time.monotonic() - started) * 10) / 10}s: {error}"
        # a waiter cancelled while waiting takes no slot with it
        waiter = asyncio.create_task(otelkit.bulkhead("payments").__aenter__())
        await asyncio.sleep(0.05)
        waiter.cancel()
        # the thread's slot, released from another thread, goes to the coroutine waiting for it
        threading.Timer(0.1, release_thread.set).start()
        async with payments:
            outcome["after_release"] = payments.available
        outcome["task"] = await task
        return outcome

    outcome = asyncio.run(main())
    holder.join()

    @otelkit.bulkhead("payments", timeout=0)
    def charge():
        return payments.available

    outcome["in_a_decorated_function"] = charge()
    outcome["available_at_the_end"] = payments.available
    outcome["counters"] = gauges("bulkhead_rejections_total")
    outcome["gauge_at_the_end"] = gauges("semaphore_available")
    otelkit.record_semaphore("own-semaphore", 7)
    outcome["reported"] = gauges("semaphore_available")
    probe("bulkhead: use", **outcome)


if __name__ == "__main__":
    if STARTED:
        threads()
        processes()
    bulkheads()
