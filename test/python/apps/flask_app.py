"""A Flask app with no observability code: the bootstrap and the agent add all of it."""

import json
import logging
import os

import requests
import structlog
from flask import Flask, request

app = Flask(__name__)
log = logging.getLogger("orders")
slog = structlog.get_logger("orders.structured")
corpus = json.loads(os.environ["SECRET_CORPUS_JSON"])


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
    return {"ok": True}


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ["PORT"]))
