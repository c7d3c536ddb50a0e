"""A Flask app with no observability code: the bootstrap and the agent add all of it."""

import json
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests
import structlog
from flask import Flask, request
from otelkit_bootstrap import BulkheadFull, bulkhead

app = Flask(__name__)
log = logging.getLogger("orders")
slog = structlog.get_logger("orders.structured")
corpus = json.loads(os.environ["SECRET_CORPUS_JSON"])
workers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="orders-worker")
# a dependency the spec gives no bulkhead: the app names the limit
inventory_slots = bulkhead("inventory", limit=1)


@app.get("/orders/<order_id>")
def order(order_id):
    log.info("order %s for alice.smith@example.com", order_id, extra={"orderId": order_id, "password": "hunter2-Sup3r"})
    slog.warning("slow order", order_id=order_id, token="tok-9f8e7d6c5b4a3210")
    return {"id": order_id}


@app.get("/boom")
def boom():
    raise RuntimeError("boom")


@app.get("/healthz")
def healthz():
    return {"status": "healthy"}


@app.get("/secrets")
def secrets():
    for sample in corpus:
        log.info(sample["text"])
        log.warning("data %s", sample["data"])
        slog.info("structured data", data=sample["data"], note=sample["text"])
    log.info("headers %s", dict(request.headers))
    log.info("query %s", request.query_string.decode())
    return {"ok": True}


@app.get("/outbound")
def outbound():
    requests.get(f"{request.args['to']}/requests")
    workers.submit(requests.get, f"{request.args['to']}/requests-pool").result()
    return {"ok": True}


def in_worker(how):
    log.info("working in a pool via %s", how)
    slog.info("structured work in a pool", how=how)
    return threading.current_thread().name


@app.get("/pools")
def pools():
    structlog.contextvars.bind_contextvars(order_ref="o-77")
    try:
        threads = [workers.submit(in_worker, "submit").result(), *workers.map(in_worker, ["map"])]
    finally:
        structlog.contextvars.unbind_contextvars("order_ref")
    return {"threads": threads}


@app.get("/bulkhead")
def bulkheads():
    held = threading.Event()

    @inventory_slots
    def hold():
        held.set()
        time.sleep(1.2)

    holder = workers.submit(hold)
    held.wait()
    outcome = {"available_while_held": inventory_slots.available}
    try:
        with bulkhead("inventory", timeout=0):
            outcome["at_once"] = "admitted"
    except BulkheadFull:
        outcome["at_once"] = "rejected"
    with bulkhead("inventory", timeout=5):
        outcome["waiting"] = "admitted"
    holder.result()
    return outcome


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ["PORT"]))
