import type { Attributes, HrTime, SpanContext, SpanKind, SpanStatus } from '@opentelemetry/api';

/**
 * The span model as it leaves the tracer: what the OTLP serialiser reads, and nothing of how the
 * tracer builds it. The tracer's spans and the SDK's ReadableSpan both are one.
 */

/**
 * A span context, with its ids also as bytes where they were generated in this process: the
 * serialiser copies 24 bytes instead of parsing 48 hex digits per span.
 */
export interface ExportedSpanContext extends SpanContext {
  readonly idBytes?: Uint8Array;
  /** Where the trace id's 16 bytes start in idBytes; -1 when the trace id was inherited. */
  readonly traceIdAt?: number;
  readonly spanIdAt?: number;
}

export interface ExportedEvent {
  readonly time: HrTime;
  readonly name: string;
  readonly attributes?: Attributes;
  readonly droppedAttributesCount?: number;
}

export interface ExportedLink {
  readonly context: ExportedSpanContext;
  readonly attributes?: Attributes;
  readonly droppedAttributesCount?: number;
}

export interface ExportedSpan {
  spanContext(): ExportedSpanContext;
  readonly parentSpanContext?: ExportedSpanContext | undefined;
  readonly name: string;
  readonly kind: SpanKind;
  readonly startTime: HrTime;
  readonly endTime: HrTime;
  /** Epoch milliseconds, where the tracer keeps them so (no HrTime array per read). */
  readonly startEpochMs?: number;
  readonly endEpochMs?: number;
  readonly attributes: Attributes;
  readonly droppedAttributesCount: number;
  readonly events: readonly ExportedEvent[];
  readonly droppedEventsCount: number;
  readonly links: readonly ExportedLink[];
  readonly droppedLinksCount: number;
  readonly status: SpanStatus;
}

/**
 * A server span still held as its request's facts (the tracer's DeferredServerSpan): serialised
 * from them, with no span object built.
 */
export interface ServerSpanRecord {
  spanContext(): ExportedSpanContext;
  parentSpanContext: ExportedSpanContext | undefined;
  facts: {
    method: string;
    path: string;
    scheme: string;
    requestId: string;
    frontend: string;
    debug: boolean;
    userAgent: string | undefined;
  };
  startEpochMs: number;
  endEpochMs: number;
}

/** How the request ended: the route it was labelled with, its status, whether the client left. */
export interface ServerResponseRecord {
  route: string;
  status: number;
  aborted: boolean;
}
