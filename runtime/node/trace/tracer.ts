import { randomFillSync } from 'node:crypto';
import {
  INVALID_SPAN_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  context as contextApi,
  trace,
  type Attributes,
  type AttributeValue,
  type Context,
  type Exception,
  type HrTime,
  type Link,
  type Span,
  type SpanContext,
  type SpanOptions,
  type SpanStatus,
  type TimeInput,
  type TraceState,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import { isTracingSuppressed } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import { DEBUG_ATTRIBUTE, FRONTEND_ATTRIBUTE, REQUEST_ID_ATTRIBUTE } from '../settings.ts';
import type { ExportedSpanContext, ServerResponseRecord } from './span.ts';
import {
  SamplingDecision,
  type ReadableSpan,
  type Sampler,
  type SpanProcessor,
  type TimedEvent,
} from '@opentelemetry/sdk-trace';

/**
 * A tracer whose spans are plain records: start and end as epoch milliseconds, attributes in one
 * object, ids cut from a pooled random buffer. They satisfy `ReadableSpan`, so the SDK's batch
 * processor and the OTLP exporters (and their encoders) take them as they are. The SDK's own span
 * object validates and copies on every call and builds `HrTime` arrays eagerly; that was most of the
 * per-request cost of tracing in the preload benchmark. Semantics follow the SDK: the sampler decides
 * at start, non-recording spans carry the context only, ended spans ignore changes, invalid
 * attribute values are dropped and counts beyond the limits are reported as dropped.
 */

export interface SpanLimits {
  attributeCount: number;
  eventCount: number;
  linkCount: number;
}

const ID_POOL_BYTES = 8192;
let idPool = Buffer.allocUnsafe(0);
let idOffset = 0;

const nonZero = (bytes: Buffer, start: number, end: number) => {
  for (let at = start; at < end; at++) if (bytes[at] !== 0) return true;
  return false;
};

/**
 * A span context whose ids were made here. Besides the hex strings the API hands out, it points at
 * the random bytes they were made from, so the encoder copies 24 bytes instead of parsing 48 hex
 * digits per span. A used-up pool is replaced, never refilled, so those bytes stay as they were.
 */
export class GeneratedSpanContext implements ExportedSpanContext {
  readonly traceId: string;
  readonly spanId: string;
  /** Set once, by the sampling decision, before the context is handed out. */
  traceFlags: number = TraceFlags.NONE;
  traceState: TraceState | undefined;
  readonly idBytes: Buffer;
  /** Where the trace id's 16 bytes start in idBytes; -1 when the trace id was inherited. */
  readonly traceIdAt: number;
  readonly spanIdAt: number;

  constructor(inheritedTraceId: string | undefined) {
    const size = inheritedTraceId === undefined ? 24 : 8;
    let start: number;
    do {
      if (idOffset + size > idPool.length) {
        // a buffer of its own: a slice of Node's shared pool (64 KiB slabs since Node 24) would
        // keep a whole slab alive for as long as any span made from it
        idPool = randomFillSync(Buffer.allocUnsafeSlow(ID_POOL_BYTES));
        idOffset = 0;
      }
      start = idOffset;
      idOffset += size;
      // all-zero ids are invalid; with 64 random bits this practically never repeats
    } while (!nonZero(idPool, start, start + 8) || (size === 24 && !nonZero(idPool, start + 8, start + 24)));
    this.idBytes = idPool;
    if (inheritedTraceId === undefined) {
      const hex = idPool.toString('hex', start, start + 24);
      this.traceId = hex.slice(16);
      this.spanId = hex.slice(0, 16);
      this.traceIdAt = start + 8;
    } else {
      this.traceId = inheritedTraceId;
      this.spanId = idPool.toString('hex', start, start + 8);
      this.traceIdAt = -1;
    }
    this.spanIdAt = start;
  }
}

const ORIGIN = performance.timeOrigin;
/** Epoch milliseconds with sub-millisecond precision, monotonic within the process. */
const nowMs = () => ORIGIN + performance.now();

function toEpochMs(time: TimeInput | undefined): number {
  if (time === undefined) return nowMs();
  if (typeof time === 'number') {
    // the SDK reads small numbers as performance.now() readings, large ones as epoch milliseconds
    return time < ORIGIN ? ORIGIN + time : time;
  }
  if (time instanceof Date) return time.getTime();
  return time[0] * 1000 + time[1] / 1e6;
}

function toHrTime(epochMs: number): HrTime {
  const seconds = Math.trunc(epochMs / 1000);
  return [seconds, Math.round((epochMs - seconds * 1000) * 1e6)];
}

function isHomogeneousArray(value: unknown[]): boolean {
  let type: string | undefined;
  for (const element of value) {
    if (element === null || element === undefined) continue;
    const elementType = typeof element;
    if (elementType !== 'string' && elementType !== 'number' && elementType !== 'boolean') return false;
    type ??= elementType;
    if (elementType !== type) return false;
  }
  return true;
}

/** The attribute value to store, or undefined when the value is not a valid attribute value. */
function attributeValue(value: unknown): AttributeValue | undefined {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
      return value;
    case 'object':
      // arrays are copied, as the SDK does, so later mutation by the caller does not leak in
      return Array.isArray(value) && isHomogeneousArray(value) ? ([...value] as AttributeValue) : undefined;
    default:
      return undefined;
  }
}

// shared until a span gets its first event or link, so most spans allocate neither array
const NO_EVENTS: TimedEvent[] = [];
const NO_LINKS: Link[] = [];
const UNSET_STATUS: SpanStatus = { code: SpanStatusCode.UNSET };

export class LeanSpan implements Span, ReadableSpan {
  name: string;
  readonly kind: SpanKind;
  readonly parentSpanContext: SpanContext | undefined;
  readonly attributes: Attributes;
  links: Link[];
  events: TimedEvent[] = NO_EVENTS;
  status: SpanStatus = UNSET_STATUS;
  droppedAttributesCount = 0;
  droppedEventsCount = 0;
  droppedLinksCount = 0;
  ended = false;
  readonly resource: Resource;
  readonly instrumentationScope: ReadableSpan['instrumentationScope'];
  private readonly context: SpanContext;
  private readonly startMs: number;
  private endMs = 0;
  private attributeCount = 0;
  private readonly owner: LeanTracerProvider;

  constructor(
    owner: LeanTracerProvider,
    scope: ReadableSpan['instrumentationScope'],
    name: string,
    spanContext: SpanContext,
    kind: SpanKind,
    parentSpanContext: SpanContext | undefined,
    links: Link[],
    startMs: number,
  ) {
    this.owner = owner;
    this.resource = owner.resource;
    this.instrumentationScope = scope;
    this.name = name;
    this.context = spanContext;
    this.kind = kind;
    this.parentSpanContext = parentSpanContext;
    this.startMs = startMs;
    this.attributes = {};
    if (links.length === 0) this.links = NO_LINKS;
    else {
      const { linkCount } = owner.limits;
      this.links = links.slice(0, linkCount);
      this.droppedLinksCount = links.length - this.links.length;
    }
  }

  /** Start and end as epoch milliseconds, for the encoder (no HrTime arrays). */
  get startEpochMs(): number {
    return this.startMs;
  }

  get endEpochMs(): number {
    return this.ended ? this.endMs : this.startMs;
  }

  get startTime(): HrTime {
    return toHrTime(this.startMs);
  }

  get endTime(): HrTime {
    return toHrTime(this.ended ? this.endMs : this.startMs);
  }

  get duration(): HrTime {
    const ms = Math.max(0, (this.ended ? this.endMs : this.startMs) - this.startMs);
    return [Math.trunc(ms / 1000), Math.round((ms % 1000) * 1e6)];
  }

  spanContext(): SpanContext {
    return this.context;
  }

  setAttribute(key: string, value: unknown): this {
    if (this.ended || key.length === 0) return this;
    const stored = attributeValue(value);
    if (stored === undefined) return this;
    if (!(key in this.attributes)) {
      if (this.attributeCount >= this.owner.limits.attributeCount) {
        this.droppedAttributesCount++;
        return this;
      }
      this.attributeCount++;
    }
    this.attributes[key] = stored;
    return this;
  }

  setAttributes(attributes: Attributes): this {
    for (const key in attributes) this.setAttribute(key, attributes[key]);
    return this;
  }

  addEvent(name: string, attributesOrTime?: Attributes | TimeInput, time?: TimeInput): this {
    if (this.ended) return this;
    if (this.events.length >= this.owner.limits.eventCount) {
      this.droppedEventsCount++;
      return this;
    }
    const timeGiven =
      attributesOrTime instanceof Date ||
      Array.isArray(attributesOrTime) ||
      typeof attributesOrTime === 'number';
    const attributes: Attributes = {};
    if (!timeGiven && attributesOrTime) {
      for (const [key, value] of Object.entries(attributesOrTime as Attributes)) {
        const stored = attributeValue(value);
        if (stored !== undefined) attributes[key] = stored;
      }
    }
    if (this.events === NO_EVENTS) this.events = [];
    this.events.push({
      name,
      attributes,
      time: toHrTime(toEpochMs(timeGiven ? (attributesOrTime as TimeInput) : time)),
      droppedAttributesCount: 0,
    });
    return this;
  }

  addLink(link: Link): this {
    if (this.ended) return this;
    if (this.links.length >= this.owner.limits.linkCount) this.droppedLinksCount++;
    else if (this.links === NO_LINKS) this.links = [link];
    else this.links.push(link);
    return this;
  }

  addLinks(links: Link[]): this {
    for (const link of links) this.addLink(link);
    return this;
  }

  setStatus(status: SpanStatus): this {
    if (this.ended) return this;
    // OK is final, and UNSET never overrides a status that was set
    if (this.status.code === SpanStatusCode.OK || status.code === SpanStatusCode.UNSET) return this;
    this.status =
      status.code === SpanStatusCode.ERROR
        ? { code: status.code, message: status.message }
        : { code: status.code };
    return this;
  }

  updateName(name: string): this {
    if (!this.ended) this.name = name;
    return this;
  }

  end(endTime?: TimeInput): void {
    if (this.ended) return;
    this.endMs = Math.max(this.startMs, toEpochMs(endTime));
    this.ended = true;
    this.owner.processor.onEnd(this);
  }

  /** Ends without handing the span to the processor (it is being handed over by its caller). */
  endQuietly(endMs: number): void {
    if (this.ended) return;
    this.endMs = Math.max(this.startMs, endMs);
    this.ended = true;
  }

  isRecording(): boolean {
    return !this.ended;
  }

  recordException(exception: Exception, time?: TimeInput): void {
    const attributes: Attributes = {};
    if (typeof exception === 'string') attributes['exception.message'] = exception;
    else if (exception) {
      const error = exception as { code?: unknown; name?: string; message?: string; stack?: string };
      const type = error.code !== undefined ? String(error.code) : error.name;
      if (type) attributes['exception.type'] = type;
      if (error.message) attributes['exception.message'] = error.message;
      if (error.stack) attributes['exception.stacktrace'] = error.stack;
    }
    this.addEvent('exception', attributes, time);
  }
}

export class LeanTracer implements Tracer {
  private readonly provider: LeanTracerProvider;
  private readonly scope: ReadableSpan['instrumentationScope'];

  constructor(provider: LeanTracerProvider, scope: ReadableSpan['instrumentationScope']) {
    this.provider = provider;
    this.scope = scope;
  }

  /**
   * Ids, parent and the sampler's decision for a new span: the span context to give it, or a
   * non-recording span when it is not to be recorded.
   */
  private sample(
    name: string,
    kind: SpanKind,
    attributes: Attributes,
    links: Link[],
    context: Context,
  ):
    | { recorded: false; span: Span }
    | { recorded: true; spanContext: SpanContext; parent: SpanContext | undefined; attributes?: Attributes } {
    if (isTracingSuppressed(context))
      return { recorded: false, span: trace.wrapSpanContext(INVALID_SPAN_CONTEXT) };
    const found = trace.getSpanContext(context);
    // contexts made here are valid by construction; others are checked as the SDK does
    const parent =
      found !== undefined && (found instanceof GeneratedSpanContext || trace.isSpanContextValid(found))
        ? found
        : undefined;
    const spanContext = new GeneratedSpanContext(parent?.traceId);
    const result = this.provider.sampler.shouldSample(
      context,
      spanContext.traceId,
      name,
      kind,
      attributes,
      links,
    );
    spanContext.traceState = result.traceState ?? parent?.traceState;
    if (result.decision === SamplingDecision.RECORD_AND_SAMPLED) spanContext.traceFlags = TraceFlags.SAMPLED;
    if (result.decision === SamplingDecision.NOT_RECORD)
      return { recorded: false, span: trace.wrapSpanContext(spanContext) };
    return { recorded: true, spanContext, parent, attributes: result.attributes };
  }

  startSpan(name: string, options: SpanOptions = {}, context: Context = contextApi.active()): Span {
    if (options.root) context = trace.deleteSpan(context);
    const kind = options.kind ?? SpanKind.INTERNAL;
    const links = options.links ?? NO_LINKS;
    const given = options.attributes ?? NO_ATTRIBUTES;
    const sampled = this.sample(name, kind, given, links, context);
    if (!sampled.recorded) return sampled.span;
    const span = new LeanSpan(
      this.provider,
      this.scope,
      name,
      sampled.spanContext,
      kind,
      sampled.parent,
      links,
      toEpochMs(options.startTime),
    );
    span.setAttributes(given);
    if (sampled.attributes) span.setAttributes(sampled.attributes);
    this.provider.processor.onStart(span, context);
    return span;
  }

  /**
   * The server span of an incoming request, sampled like any span but kept as the request's facts
   * until something asks for more than its context (logs and child spans only read the context).
   */
  startServerSpan(facts: ServerRequestFacts, context: Context): Span {
    const sampling = facts.debug ? DEBUG_SAMPLING_ATTRIBUTES : NO_ATTRIBUTES;
    const sampled = this.sample(facts.method, SpanKind.SERVER, sampling, NO_LINKS, context);
    if (!sampled.recorded) return sampled.span;
    const span = new DeferredServerSpan(
      this.provider,
      this.scope,
      sampled.spanContext,
      sampled.parent,
      facts,
      nowMs(),
    );
    if (sampled.attributes) span.setAttributes(sampled.attributes);
    return span;
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, ...rest: unknown[]): ReturnType<F> {
    const fn = rest.pop() as F;
    const [options, parent] = rest as [SpanOptions | undefined, Context | undefined];
    const context = parent ?? contextApi.active();
    const span = this.startSpan(name, options, context);
    return contextApi.with(
      trace.setSpan(context, span),
      fn as (span: Span) => ReturnType<F>,
      undefined,
      span,
    );
  }
}

const NO_ATTRIBUTES: Attributes = Object.freeze({});
// the debug-aware sampler samples requests carrying a valid debug token by this attribute
const DEBUG_SAMPLING_ATTRIBUTES: Attributes = Object.freeze({ [DEBUG_ATTRIBUTE]: true });

export interface ServerRequestFacts {
  method: string;
  path: string;
  scheme: 'http' | 'https';
  requestId: string;
  frontend: string;
  debug: boolean;
  userAgent: string | undefined;
}

export type ServerResponseFacts = ServerResponseRecord;

/** A processor that can take a server span as facts, without its span object. */
export interface ServerSpanProcessor extends SpanProcessor {
  onEndServer?(span: DeferredServerSpan, response: ServerResponseFacts): void;
}

/**
 * A request's server span. Until something changes it (an app setting attributes or events on the
 * active span), it is the request's facts plus ids and times, and the processor encodes it from
 * those; the first change turns it into a LeanSpan with the same attributes in the same order, so
 * what is exported is identical either way.
 */
export class DeferredServerSpan implements Span {
  readonly kind = SpanKind.SERVER;
  readonly resource: Resource;
  readonly instrumentationScope: ReadableSpan['instrumentationScope'];
  readonly parentSpanContext: SpanContext | undefined;
  readonly facts: ServerRequestFacts;
  readonly startEpochMs: number;
  endEpochMs = 0;
  response: ServerResponseFacts | undefined;
  private readonly context: SpanContext;
  private readonly owner: LeanTracerProvider;
  private full: LeanSpan | undefined;
  private ended = false;

  constructor(
    owner: LeanTracerProvider,
    scope: ReadableSpan['instrumentationScope'],
    spanContext: SpanContext,
    parentSpanContext: SpanContext | undefined,
    facts: ServerRequestFacts,
    startMs: number,
  ) {
    this.owner = owner;
    this.resource = owner.resource;
    this.instrumentationScope = scope;
    this.context = spanContext;
    this.parentSpanContext = parentSpanContext;
    this.facts = facts;
    this.startEpochMs = startMs;
  }

  /** The attributes a server span starts with, in the order they are encoded. */
  initialAttributes(): Attributes {
    const { facts } = this;
    const attributes: Attributes = {
      'http.request.method': facts.method,
      'url.path': facts.path,
      'url.scheme': facts.scheme,
      [REQUEST_ID_ATTRIBUTE]: facts.requestId,
      [FRONTEND_ATTRIBUTE]: facts.frontend,
    };
    if (facts.debug) attributes[DEBUG_ATTRIBUTE] = true;
    if (facts.userAgent) attributes['user_agent.original'] = facts.userAgent;
    return attributes;
  }

  /** Whether the span is still just facts, so the processor may encode it from them. */
  get deferred(): boolean {
    return this.full === undefined;
  }

  private materialise(): LeanSpan {
    if (!this.full) {
      const span = new LeanSpan(
        this.owner,
        this.instrumentationScope,
        this.facts.method,
        this.context,
        SpanKind.SERVER,
        this.parentSpanContext,
        NO_LINKS,
        this.startEpochMs,
      );
      span.setAttributes(this.initialAttributes());
      this.full = span;
    }
    return this.full;
  }

  /** The span as a ReadableSpan, ended with the response facts, for processors that need objects. */
  toReadableSpan(): LeanSpan {
    const span = this.materialise();
    if (this.response && !span.ended) {
      applyResponse(span, this.facts.method, this.response);
      span.endQuietly(this.endEpochMs);
    }
    return span;
  }

  /** The preload's end of the request: response facts, then the processor. */
  endRequest(response: ServerResponseFacts): void {
    if (this.ended) return;
    this.ended = true;
    if (this.full) {
      applyResponse(this.full, this.facts.method, response);
      this.full.end();
      return;
    }
    this.response = response;
    this.endEpochMs = Math.max(this.startEpochMs, nowMs());
    const processor = this.owner.processor as ServerSpanProcessor;
    if (processor.onEndServer) processor.onEndServer(this, response);
    else processor.onEnd(this.toReadableSpan());
  }

  spanContext(): SpanContext {
    return this.context;
  }

  isRecording(): boolean {
    return !this.ended && !this.full?.ended;
  }

  setAttribute(key: string, value: unknown): this {
    if (!this.ended) this.materialise().setAttribute(key, value);
    return this;
  }

  setAttributes(attributes: Attributes): this {
    if (!this.ended) this.materialise().setAttributes(attributes);
    return this;
  }

  addEvent(name: string, attributesOrTime?: Attributes | TimeInput, time?: TimeInput): this {
    if (!this.ended) this.materialise().addEvent(name, attributesOrTime, time);
    return this;
  }

  addLink(link: Link): this {
    if (!this.ended) this.materialise().addLink(link);
    return this;
  }

  addLinks(links: Link[]): this {
    if (!this.ended) this.materialise().addLinks(links);
    return this;
  }

  setStatus(status: SpanStatus): this {
    if (!this.ended) this.materialise().setStatus(status);
    return this;
  }

  updateName(name: string): this {
    if (!this.ended) this.materialise().updateName(name);
    return this;
  }

  recordException(exception: Exception, time?: TimeInput): void {
    if (!this.ended) this.materialise().recordException(exception, time);
  }

  end(endTime?: TimeInput): void {
    if (this.ended) return;
    // ended by someone else before the response: what they ended is what is exported
    this.ended = true;
    this.materialise().end(endTime);
  }
}

function applyResponse(span: LeanSpan, method: string, response: ServerResponseFacts) {
  span.setAttribute('http.route', response.route);
  span.setAttribute('http.response.status_code', response.status);
  if (response.aborted) span.setAttribute('error.type', 'aborted');
  if (response.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
  span.updateName(`${method} ${response.route}`);
}

export interface LeanTracerProviderOptions {
  resource: Resource;
  sampler: Sampler;
  processor: SpanProcessor;
  limits?: Partial<SpanLimits>;
}

export class LeanTracerProvider implements TracerProvider {
  readonly resource: Resource;
  readonly sampler: Sampler;
  readonly processor: SpanProcessor;
  readonly limits: SpanLimits;
  private readonly tracers = new Map<string, LeanTracer>();

  constructor(options: LeanTracerProviderOptions) {
    this.resource = options.resource;
    this.sampler = options.sampler;
    this.processor = options.processor;
    this.limits = { attributeCount: 128, eventCount: 128, linkCount: 128, ...options.limits };
  }

  getTracer(name: string, version?: string, options?: { schemaUrl?: string }): LeanTracer {
    const key = `${name}@${version ?? ''}:${options?.schemaUrl ?? ''}`;
    let tracer = this.tracers.get(key);
    if (!tracer) {
      tracer = new LeanTracer(this, { name, version, schemaUrl: options?.schemaUrl });
      this.tracers.set(key, tracer);
    }
    return tracer;
  }

  forceFlush(): Promise<void> {
    return this.processor.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.processor.shutdown();
  }
}
