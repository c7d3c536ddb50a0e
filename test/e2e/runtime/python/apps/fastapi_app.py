"""A FastAPI app with no observability code: the bootstrap and the agent add all of it."""

import asyncio
import contextlib
import json
import logging
import os
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import aiobreaker
import httpx
import pybreaker
import requests
import structlog
import uvicorn
from fastapi import FastAPI, Request
from otelkit_bootstrap import BulkheadFull, bulkhead
from tenacity import retry, stop_after_attempt, wait_fixed

workers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="orders-worker")
crunchers = ProcessPoolExecutor(max_workers=2)


@contextlib.asynccontextmanager
async def lifespan(_app):
    yield
    # forked workers hold their own end of the task pipe: without this they outlive the server
    crunchers.shutdown()


app = FastAPI(lifespan=lifespan)
log = logging.getLogger("orders")
slog = structlog.get_logger("orders.structured")
corpus = json.loads(os.environ["SECRET_CORPUS_JSON"])
payments = pybreaker.CircuitBreaker(fail_max=2, reset_timeout=0.3, name="payments")
ledger = aiobreaker.CircuitBreaker(fail_max=1, timeout_duration=__import__("datetime").timedelta(seconds=0.3), name="ledger")
calls = {"inventory": 0}
# the spec's resilience.bulkhead.max_concurrent for payments (2)
payment_slots = bulkhead("payments")


@app.get("/orders/{order_id}")
async def order(order_id: str, request: Request):
    log.info("order %s for alice.smith@example.com", order_id, extra={"orderId": order_id, "password": "hunter2-Sup3r"})
    slog.warning("slow order", order_id=order_id, token="tok-9f8e7d6c5b4a3210")
    return {"id": order_id, "request_id": request.state.request_id, "frontend": request.state.frontend}


@app.get("/boom")
async def boom():
    raise RuntimeError("boom")


@app.get("/healthz")
async def healthz():
    return {"status": "healthy"}


@app.get("/secrets")
async def secrets(request: Request):
    for sample in corpus:
        log.info(sample["text"])
        log.warning("data %s", sample["data"])
        slog.info("structured data", data=sample["data"], note=sample["text"])
    log.info("headers %s", dict(request.headers))
    log.info("query %s", request.url.query)
    return {"ok": True}


@app.get("/outbound")
async def outbound(to: str):
    async with httpx.AsyncClient() as client:
        await client.get(f"{to}/httpx-async")
    with httpx.Client() as client:
        client.get(f"{to}/httpx")
    await asyncio.to_thread(requests.get, f"{to}/requests-thread")
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(workers, requests.get, f"{to}/requests-pool")
    await loop.run_in_executor(None, requests.get, f"{to}/requests-default-executor")
    requests.get(f"{to}/own-id", headers={"X-Request-ID": "set-by-the-app"})
    return {"ok": True}


@retry(stop=stop_after_attempt(3), wait=wait_fixed(0.01), reraise=True)
def fetch_inventory():
    calls["inventory"] += 1
    if calls["inventory"] % 3 != 0:
        raise ConnectionError("connection reset")
    return "ok"


@retry(stop=stop_after_attempt(2), wait=wait_fixed(0.01), reraise=True)
async def fetch_prices():
    raise TimeoutError("prices did not answer")


def charge(fail: bool):
    if fail:
        raise ConnectionError("payments down")
    return "charged"


async def post_entry(fail: bool):
    if fail:
        raise ConnectionError("ledger down")
    return "posted"


@app.get("/resilience")
async def resilience():
    outcome = {"inventory": fetch_inventory()}
    try:
        await fetch_prices()
    except TimeoutError:
        outcome["prices"] = "exhausted"
    for _ in range(2):
        try:
            payments.call(charge, True)
        except (ConnectionError, pybreaker.CircuitBreakerError):
            pass
    try:
        payments.call(charge, False)
    except pybreaker.CircuitBreakerError:
        outcome["payments"] = "rejected"
    await asyncio.sleep(0.4)
    outcome["payments_after"] = payments.call(charge, False)
    try:
        await ledger.call_async(post_entry, True)
    except (ConnectionError, aiobreaker.CircuitBreakerError):
        pass
    try:
        await ledger.call_async(post_entry, False)
    except aiobreaker.CircuitBreakerError:
        outcome["ledger"] = "rejected"
    await asyncio.sleep(0.4)
    outcome["ledger_after"] = await ledger.call_async(post_entry, False)
    return outcome


def in_worker(how):
    log.info("working in a pool via %s", how)
    slog.info("structured work in a pool", how=how)
    return threading.current_thread().name


def square(n):
    return n * n


@app.get("/pools")
async def pools():
    structlog.contextvars.bind_contextvars(order_ref="o-77")
    loop = asyncio.get_running_loop()
    threads = [
        await asyncio.wrap_future(workers.submit(in_worker, "submit")),
        await loop.run_in_executor(workers, in_worker, "run_in_executor"),
        await loop.run_in_executor(None, in_worker, "the default executor"),
        await asyncio.to_thread(in_worker, "to_thread"),
    ]
    squares = list(await asyncio.gather(*(loop.run_in_executor(crunchers, square, n) for n in range(3))))
    return {"threads": threads, "squares": squares}


@app.get("/bulkhead")
async def bulkheads():
    async def hold():
        async with payment_slots:
            await asyncio.sleep(1.2)

    holders = [asyncio.create_task(hold()) for _ in range(2)]
    await asyncio.sleep(0.05)
    outcome = {"available_while_held": payment_slots.available}
    try:
        async with bulkhead("payments", timeout=0):
            outcome["at_once"] = "admitted"
    except BulkheadFull:
        outcome["at_once"] = "rejected"
    async with bulkhead("payments", timeout=5):
        outcome["waiting"] = "admitted"
    await asyncio.gather(*holders)
    return outcome


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]))
