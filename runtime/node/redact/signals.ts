import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { LogRecordProcessor, ReadWriteLogRecord } from '@opentelemetry/sdk-logs';
import { DEBUG_ATTRIBUTE, FRONTEND_ATTRIBUTE, REQUEST_ID_ATTRIBUTE } from '../settings.ts';
import { redactAttributes, type Redactor } from './redact.ts';

/**
 * Redaction where telemetry enters the pipeline: a span as it ends, a log record as it is emitted.
 * Nothing after this point (queues, the OTLP serialisers, the exporters) sees an unredacted value.
 */

/**
 * Attributes the preload itself sets from values it validated or computed (methods Node's parser
 * accepted, allow-listed frontends, numbers, route templates and request ids already redacted).
 */
const SAFE_SPAN_KEYS: ReadonlySet<string> = new Set([
  'http.request.method',
  'http.response.status_code',
  'http.route',
  'url.scheme',
  FRONTEND_ATTRIBUTE,
  REQUEST_ID_ATTRIBUTE,
  DEBUG_ATTRIBUTE,
  'error.type',
]);

/**
 * Redacts a span in place as it ends; the preload's own validated attributes are skipped. An
 * instrumentation's `http.route` (Koa's router layers) gets the label the request's metrics use.
 */
export function spanRedaction(redactor: Redactor, labelRoute: (template: string) => string) {
  return (span: ReadableSpan) => {
    const attributes = span.attributes as Record<string, unknown>;
    const route = attributes['http.route'];
    if (typeof route === 'string') attributes['http.route'] = labelRoute(route);
    redactAttributes(redactor, attributes, SAFE_SPAN_KEYS);
    for (const event of span.events) redactAttributes(redactor, event.attributes as Record<string, unknown>);
  };
}

/**
 * Redacts every log record as it is emitted, before the batch processor queues it: attributes of
 * all records, and the body of records that did not come through the preload's log sink (which
 * redacted its own as it wrote them: `ownScope`). Emitted records are read-only; a processor placed
 * before the batch processor still sees them writable.
 */
export function logRedaction(redactor: Redactor, ownScope: string): LogRecordProcessor {
  return {
    onEmit(record: ReadWriteLogRecord) {
      redactAttributes(redactor, record.attributes as Record<string, unknown>);
      if (typeof record.body === 'string' && record.instrumentationScope.name !== ownScope)
        record.setBody(redactor.text(record.body));
    },
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
}
