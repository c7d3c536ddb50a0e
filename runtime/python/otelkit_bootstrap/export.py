"""The span exporter the env file names (OTEL_TRACES_EXPORTER=otelkit): the agent's OTLP exporter, fed
redacted copies of the spans, so attributes any instrumentation set (url.full with ?token=..., a
header, a db statement) leave the process redacted."""

from __future__ import annotations

import os
from typing import Any, Sequence

try:
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
except ImportError:  # pragma: no cover - only loaded by the agent, which has the SDK
    raise

_SAFE = frozenset({"request_id", "frontend"})


def _inner_exporter() -> SpanExporter:
    protocol = os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    )
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


class RedactingSpanExporter(SpanExporter):
    def __init__(self, inner: SpanExporter | None = None) -> None:
        self._inner = inner or _inner_exporter()

    def _attributes(self, attributes: Any) -> dict[str, Any]:
        from . import redactor

        active = redactor()
        if active is None or not attributes:
            return dict(attributes or {})
        out: dict[str, Any] = {}
        for key, value in attributes.items():
            if key in _SAFE:
                out[key] = value
            elif active.is_blocked_key(key):
                out[key] = "[REDACTED]"
            elif isinstance(value, str):
                out[key] = active.text(value)
            elif isinstance(value, (list, tuple)):
                out[key] = tuple(active.text(item) if isinstance(item, str) else item for item in value)
            else:
                out[key] = value
        return out

    def _copy(self, span: ReadableSpan) -> ReadableSpan:
        events = [
            Event(name=event.name, attributes=self._attributes(event.attributes), timestamp=event.timestamp)
            for event in span.events
        ]
        from . import redactor

        active = redactor()
        status = span.status
        if active is not None and status.description:
            status = type(status)(status.status_code, active.text(status.description))
        return ReadableSpan(
            name=active.text(span.name) if active is not None else span.name,
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=self._attributes(span.attributes),
            events=events,
            links=span.links,
            kind=span.kind,
            status=status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        from . import redactor

        if redactor() is None:
            # without the spec's redaction settings nothing is known to be safe to send
            return SpanExportResult.FAILURE
        return self._inner.export([self._copy(span) for span in spans])

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)
