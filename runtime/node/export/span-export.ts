import { ROOT_CONTEXT, TraceFlags, context, type Context } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, Span } from '@opentelemetry/sdk-trace';
import type { OtlpOptions } from './exporters.ts';
import { ProtoBuffer, type Scope } from '../otlp/proto.ts';
import { encodeRequest, encodeServerSpan, encodeSpan } from '../otlp/spans.ts';
import type { DeferredServerSpan, ServerResponseFacts, ServerSpanProcessor } from '../trace/tracer.ts';

/**
 * A batching span processor that encodes each span to OTLP protobuf the moment it ends and keeps
 * only the bytes. The SDK's batch processor holds span objects until a batch is full; under load
 * they survive young-generation collections, and V8 answers by growing the young generation, which
 * was most of the preload's memory overhead. JSON (for debugging and the tests' receiver) is
 * encoded per batch with the OpenTelemetry serializer instead. The HTTP transport, retries,
 * timeouts and concurrency limit are the OpenTelemetry OTLP exporter's.
 */

export interface EncodedBatch {
  body: Uint8Array;
  spanCount: number;
  /** The buffer `body` is a view of, when it can be written again once the export succeeded. */
  reusable?: ProtoBuffer;
}

export interface SpanTransport {
  export(batch: EncodedBatch, done: (result: ExportResult) => void): void;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
  /** For http/json only: the OpenTelemetry JSON serializer. */
  serializeJson?(spans: ReadableSpan[]): Uint8Array;
}

export interface EagerSpanProcessorOptions {
  json: boolean;
  resource: Resource;
  /** Loaded on the first export: the transport is not needed to start the app. */
  load(): Promise<SpanTransport>;
  /** Redaction of a span, applied in place as it ends, before it is queued or encoded. */
  redact(span: ReadableSpan): void;
  /** Redaction of a deferred server span's client-given values (path, user agent), as it ends. */
  redactText(text: string): string;
  onFailure(error: unknown): void;
  scheduledDelayMillis: number;
  maxQueueSize: number;
  maxExportBatchSize: number;
  exportTimeoutMillis: number;
}

/**
 * Exports (and the timer that schedules one) run in a context of their own with tracing suppressed:
 * a flush is usually set off by the span that fills a batch, inside that span's request, and the
 * export's HTTP request would otherwise be traced as part of the app's request, and its sockets,
 * timers and promises would keep the request's context alive until the Collector answers.
 */
const EXPORT_CONTEXT = suppressTracing(ROOT_CONTEXT);

/** Enough for exports in flight side by side under load; more would only hold memory. */
const MAX_SPARE_BODIES = 2;
/** Bodies of unusually big batches (a raised OTEL_BSP_MAX_EXPORT_BATCH_SIZE) are not kept. */
const MAX_SPARE_BODY_BYTES = 1 << 20;

export class EagerSpanProcessor implements ServerSpanProcessor {
  private readonly options: EagerSpanProcessorOptions;
  /** Spans not encoded yet: JSON batches, or while resource detectors are still running. */
  private waiting: ReadableSpan[] = [];
  private readonly scopes = new Map<object, [Scope, ProtoBuffer]>();
  /**
   * Request bodies of exports that have succeeded, written again by later exports. A fresh body
   * per export (~150 KiB outside the V8 heap, several a second under load) is freed only when its
   * small JS wrapper is collected; the wrappers of exports still in flight at a young-generation
   * collection are promoted, and their bodies then pile up until a full collection, which added
   * up to 8 MiB to the process's peak memory.
   */
  private readonly spareBodies: ProtoBuffer[] = [];
  private encodedCount = 0;
  private resourceReady: boolean;
  private readonly resourceResolved: Promise<void>;
  private transport: Promise<SpanTransport | undefined> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private stopped = false;
  dropped = 0;

  constructor(options: EagerSpanProcessorOptions) {
    this.options = options;
    const { resource } = options;
    this.resourceReady = !resource.asyncAttributesPending;
    this.resourceResolved = this.resourceReady
      ? Promise.resolve()
      : (resource.waitForAsyncAttributes?.() ?? Promise.resolve()).then(() => {
          this.resourceReady = true;
          if (!this.options.json) this.encodeWaiting();
        });
  }

  onStart(_span: Span, _parentContext: Context): void {}

  onEnd(span: ReadableSpan): void {
    if (this.stopped || (span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
    const queued = this.waiting.length + this.encodedCount;
    if (queued >= this.options.maxQueueSize) {
      this.dropped++;
      return;
    }
    try {
      // a span that cannot be redacted is not exported
      this.options.redact(span);
      if (this.options.json || !this.resourceReady) this.waiting.push(span);
      else this.encode(span);
    } catch (error) {
      this.options.onFailure(error);
    }
    this.scheduleFlush(queued + 1);
  }

  /** A server span still held as the request's facts: encoded from them, no span object built. */
  onEndServer(span: DeferredServerSpan, response: ServerResponseFacts): void {
    if (this.options.json || !this.resourceReady) {
      this.onEnd(span.toReadableSpan());
      return;
    }
    if (this.stopped || (span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
    const queued = this.encodedCount;
    if (queued >= this.options.maxQueueSize) {
      this.dropped++;
      return;
    }
    try {
      const { redactText } = this.options;
      const { path, userAgent } = span.facts;
      encodeServerSpan(
        this.scopeBuffer(span.instrumentationScope),
        span,
        response,
        redactText(path),
        userAgent ? redactText(userAgent) : undefined,
      );
      this.encodedCount++;
    } catch (error) {
      this.options.onFailure(error);
    }
    this.scheduleFlush(queued + 1);
  }

  private scopeBuffer(scope: Scope): ProtoBuffer {
    let entry = this.scopes.get(scope);
    if (!entry) {
      entry = [scope, new ProtoBuffer()];
      this.scopes.set(scope, entry);
    }
    return entry[1];
  }

  private scheduleFlush(queued: number) {
    if (queued >= this.options.maxExportBatchSize) void this.flush();
    else if (!this.timer) {
      this.timer = context.with(EXPORT_CONTEXT, () =>
        setTimeout(() => void this.flush(), this.options.scheduledDelayMillis).unref(),
      );
    }
  }

  private encode(span: ReadableSpan) {
    try {
      encodeSpan(this.scopeBuffer(span.instrumentationScope), span);
      this.encodedCount++;
    } catch (error) {
      this.options.onFailure(error);
    }
  }

  private encodeWaiting() {
    const spans = this.waiting;
    this.waiting = [];
    for (const span of spans) this.encode(span);
  }

  private loadTransport() {
    this.transport ??= this.options.load().catch((error: unknown) => {
      this.options.onFailure(error);
      this.stopped = true;
      return undefined;
    });
    return this.transport;
  }

  private takeBatch(transport: SpanTransport): EncodedBatch | undefined {
    if (this.options.json) {
      if (this.waiting.length === 0) return undefined;
      const spans = this.waiting;
      this.waiting = [];
      return { body: transport.serializeJson!(spans), spanCount: spans.length };
    }
    if (this.encodedCount === 0) return undefined;
    const reusable = this.spareBodies.pop() ?? new ProtoBuffer(0);
    const body = encodeRequest(this.options.resource.attributes, this.scopes.values(), reusable);
    const batch = { body, spanCount: this.encodedCount, reusable };
    for (const [, buffer] of this.scopes.values()) buffer.reset();
    this.encodedCount = 0;
    return batch;
  }

  private flush(): Promise<void> {
    return context.with(EXPORT_CONTEXT, () => this.send());
  }

  private send(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const sent = Promise.all([this.loadTransport(), this.resourceResolved]).then(([transport]) => {
      if (!transport) return;
      let batch: EncodedBatch | undefined;
      try {
        batch = this.takeBatch(transport);
      } catch (error) {
        this.options.onFailure(error);
      }
      if (!batch) return;
      const exported = batch;
      return new Promise<void>((resolve) => {
        const timeout = setTimeout(resolve, this.options.exportTimeoutMillis).unref();
        transport.export(exported, (result) => {
          clearTimeout(timeout);
          // Kept only after success: a Collector answers once it has read the whole body, so the
          // socket is done with it (an endpoint that answers 2xx before reading all of it would
          // get the rest of the body overwritten by a later batch). A failed or timed-out request
          // may still hold it in a socket write.
          if (result.code === ExportResultCode.SUCCESS) this.keepSpare(exported.reusable);
          else this.options.onFailure(result.error);
          resolve();
        });
      });
    });
    this.inFlight.add(sent);
    void sent.then(() => this.inFlight.delete(sent));
    return sent;
  }

  private keepSpare(body: ProtoBuffer | undefined) {
    if (body && body.buffer.length <= MAX_SPARE_BODY_BYTES && this.spareBodies.length < MAX_SPARE_BODIES)
      this.spareBodies.push(body);
  }

  async forceFlush(): Promise<void> {
    if (this.waiting.length > 0 || this.encodedCount > 0) await this.flush();
    await Promise.all(this.inFlight);
    const transport = await this.transport;
    await transport?.forceFlush();
  }

  async shutdown(): Promise<void> {
    await this.forceFlush();
    this.stopped = true;
    const transport = await this.transport;
    await transport?.shutdown();
  }
}

/** The OpenTelemetry OTLP/HTTP exporter's transport, retries and limits, sending pre-encoded requests. */
export async function loadSpanTransport(
  options: OtlpOptions,
  concurrencyLimit: number,
): Promise<SpanTransport> {
  const [{ OTLPExporterBase }, { convertLegacyHttpOptions, createOtlpHttpExportDelegate }, transformer] =
    await Promise.all([
      import('@opentelemetry/otlp-exporter-base'),
      import('@opentelemetry/otlp-exporter-base/node-http'),
      import('@opentelemetry/otlp-transformer'),
    ]);
  const { protocol, ...config } = options;
  const json = protocol === 'http/json';
  const serializer = json ? transformer.JsonTraceSerializer : transformer.ProtobufTraceSerializer;
  const delegate = createOtlpHttpExportDelegate(
    convertLegacyHttpOptions({ ...config, concurrencyLimit }, 'TRACES', 'v1/traces', {
      'Content-Type': json ? 'application/json' : 'application/x-protobuf',
    }),
    {
      serializeRequest: (batch: EncodedBatch) => batch.body,
      deserializeResponse: (data: Uint8Array) => serializer.deserializeResponse(data),
    },
    'otlp_http_span_exporter',
    { name: 'span', countItems: (batch: EncodedBatch) => batch.spanCount },
    // the exporter's own metrics stay off: they would travel through the pipeline they measure
    undefined,
  );
  const exporter = new OTLPExporterBase<EncodedBatch>(delegate);
  return {
    export: (batch, done) => exporter.export(batch, done),
    forceFlush: () => exporter.forceFlush(),
    shutdown: () => exporter.shutdown(),
    serializeJson: json ? (spans) => transformer.JsonTraceSerializer.serializeRequest(spans)! : undefined,
  };
}
