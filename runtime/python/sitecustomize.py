"""Runs at interpreter start when preload/python is on PYTHONPATH (the service's env file puts it there).

Under `opentelemetry-instrument` the agent's own sitecustomize comes first on the path and this file
is never imported: the agent finds the bootstrap through the entry points of
otelkit_bootstrap-*.dist-info beside it. Without the agent (`python app.py`), this file starts the
agent's initialisation itself when the agent is installed, which then reaches the same entry points.
"""

import os
import sys


def _start() -> None:
    try:
        from opentelemetry.instrumentation.auto_instrumentation import initialize
    except ImportError:
        # no agent installed: request context, JSON logs and redaction still apply, nothing is exported
        from otelkit_bootstrap import start

        start()
        return
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        from otelkit_bootstrap import start

        start()
        return
    initialize()


if os.environ.get("OTELKIT_DISABLED", "").strip().lower() != "true":
    try:
        _start()
    except Exception as error:  # pragma: no cover - a bootstrap failure must never stop the app
        print(f"otelkit: bootstrap failed to start: {error}", file=sys.stderr)
