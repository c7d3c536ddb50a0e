"""A FastAPI app with no observability code: the bootstrap and the agent add all of it."""

import asyncio
import json
import logging
import os

import aiobreaker
import httpx
import pybreaker
import requests
import structlog
import uvicorn
from fastapi import FastAPI, Request
from tenacity import retry, stop_after_attempt, wait_fixed

app = FastAPI()
log = logging.getLogger("orders")
slog = structlog.get_logger("orders.structured")
corpus = json.loads(os.environ["SECRET_CORPUS_JSON"])
payments = pybreaker.CircuitBreaker(fail_max=2, reset_timeout=0.3, name="payments")
ledger = aiobreaker.CircuitBreaker(fail_max=1, timeout_duration=__import__("datetime").timedelta(seconds=0.3), name="ledger")
calls = {"inventory": 0}


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


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]))
