import { SpanStatusCode, type Attributes, type HrTime, type Link, type SpanContext } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { DEBUG_ATTRIBUTE, FRONTEND_ATTRIBUTE, REQUEST_ID_ATTRIBUTE } from './settings.ts';

/**
 * OTLP protobuf encoding of spans, one span at a time as it ends, into a growing off-heap buffer.
 * The OpenTelemetry serializer encodes whole requests from span objects, so every span has to stay
 * alive until its batch is encoded; this writes each span the moment it ends and keeps only bytes.
 * The field order and encodings are exactly the reference serializer's (@opentelemetry/otlp-transformer),
 * and a test holds the two byte-for-byte equal over spans using every field.
 */

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;
const SPAN_FLAGS_HAS_IS_REMOTE = 0x100;
const SPAN_FLAGS_IS_REMOTE = 0x200;

const HEX = new Uint8Array(128);
for (let digit = 0; digit < 16; digit++) {
  HEX['0123456789abcdef'.charCodeAt(digit)] = digit;
  HEX['0123456789ABCDEF'.charCodeAt(digit)] = digit;
}

const varintSize = (value: number) => (value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5);

export class ProtoBuffer {
  buffer: Buffer;
  pos = 0;

  constructor(size = 16384) {
    this.buffer = Buffer.allocUnsafe(size);
  }

  reset() {
    this.pos = 0;
  }

  /** A copy of the bytes written, independent of later writes. */
  bytes(): Buffer {
    return Buffer.from(this.buffer.subarray(0, this.pos));
  }

  /** The bytes written, without copying; only for a buffer that is not written to again. */
  view(): Buffer {
    return this.buffer.subarray(0, this.pos);
  }

  private ensure(extra: number) {
    if (this.pos + extra <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.pos + extra) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buffer.copy(grown, 0, 0, this.pos);
    this.buffer = grown;
  }

  varint(value: number) {
    this.ensure(10);
    const buffer = this.buffer;
    if (value >= 0 && value <= 0xffffffff) {
      let v = value >>> 0;
      while (v > 127) {
        buffer[this.pos++] = (v & 127) | 128;
        v >>>= 7;
      }
      buffer[this.pos++] = v;
      return;
    }
    let low: number;
    let high: number;
    if (value >= 0) {
      low = value >>> 0;
      high = (value / 4294967296) >>> 0;
    } else {
      const abs = Math.abs(value);
      low = ~(abs >>> 0) >>> 0;
      high = ~((abs / 4294967296) >>> 0) >>> 0;
      low = (low + 1) >>> 0;
      if (low === 0) high = (high + 1) >>> 0;
    }
    while (high > 0 || low > 127) {
      buffer[this.pos++] = (low & 127) | 128;
      low = ((low >>> 7) | (high << 25)) >>> 0;
      high >>>= 7;
    }
    buffer[this.pos++] = low & 127;
  }

  tag(field: number, wire: number) {
    this.varint((field << 3) | wire);
  }

  fixed32(value: number) {
    this.ensure(4);
    this.buffer.writeUInt32LE(value >>> 0, this.pos);
    this.pos += 4;
  }

  fixed64(low: number, high: number) {
    this.ensure(8);
    this.buffer.writeUInt32LE(low >>> 0, this.pos);
    this.buffer.writeUInt32LE(high >>> 0, this.pos + 4);
    this.pos += 8;
  }

  double(value: number) {
    this.ensure(8);
    this.buffer.writeDoubleLE(value, this.pos);
    this.pos += 8;
  }

  string(text: string) {
    const length = text.length;
    // short ASCII strings (keys, methods, routes, ids) are copied in JS: cheaper than a native call
    if (length < 128) {
      this.ensure(1 + length);
      const buffer = this.buffer;
      const start = this.pos;
      let at = start + 1;
      for (let i = 0; i < length; i++) {
        const code = text.charCodeAt(i);
        if (code > 127) {
          at = -1;
          break;
        }
        buffer[at++] = code;
      }
      if (at !== -1) {
        buffer[start] = length;
        this.pos = at;
        return;
      }
    }
    const bytes = Buffer.byteLength(text);
    this.varint(bytes);
    this.ensure(bytes);
    this.pos += this.buffer.write(text, this.pos, 'utf8');
  }

  raw(bytes: Uint8Array) {
    this.varint(bytes.length);
    this.ensure(bytes.length);
    this.buffer.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** Appends another buffer's bytes as they are (already tagged fields). */
  append(other: ProtoBuffer) {
    this.ensure(other.pos);
    other.buffer.copy(this.buffer, this.pos, 0, other.pos);
    this.pos += other.pos;
  }

  hexId(hex: string) {
    const length = hex.length >>> 1;
    this.ensure(1 + length);
    const buffer = this.buffer;
    buffer[this.pos++] = length;
    for (let i = 0; i < hex.length; i += 2) buffer[this.pos++] = (HEX[hex.charCodeAt(i)]! << 4) | HEX[hex.charCodeAt(i + 1)]!;
  }

  /** Reserves one length byte; `end` moves the content when the length needs more. */
  begin(): number {
    this.ensure(1);
    return this.pos++;
  }

  end(start: number) {
    const length = this.pos - start - 1;
    const size = varintSize(length);
    if (size > 1) {
      this.ensure(size - 1);
      this.buffer.copy(this.buffer, start + size, start + 1, this.pos);
      this.pos += size - 1;
    }
    let at = start;
    let v = length;
    while (v > 127) {
      this.buffer[at++] = (v & 127) | 128;
      v >>>= 7;
    }
    this.buffer[at] = v;
  }
}

function hrTime(out: ProtoBuffer, time: HrTime) {
  timestamp(out, time[0], time[1]);
}

/** Epoch milliseconds as the tracer's HrTime getters would give them, without the array. */
function epochMs(out: ProtoBuffer, ms: number) {
  const seconds = Math.trunc(ms / 1000);
  timestamp(out, seconds, Math.round((ms - seconds * 1000) * 1e6));
}

function timestamp(out: ProtoBuffer, seconds: number, nanos: number) {
  // seconds * 1e9 + nanos exceeds 2^53, so the 64-bit value is assembled from two 32-bit halves
  const lowSeconds = seconds & 0xffff;
  const highSeconds = (seconds / 65536) >>> 0;
  const fromLow = lowSeconds * 1e9;
  const fromHigh = highSeconds * 1e9;
  const lowWithCarry = (fromLow >>> 0) + ((((fromHigh & 0xffff) * 65536) >>> 0) + nanos);
  const carry = Math.floor(lowWithCarry / 4294967296);
  const high = (Math.floor(fromLow / 4294967296) + ((fromHigh / 65536) >>> 0) + carry) >>> 0;
  out.fixed64(lowWithCarry >>> 0, high);
}

function anyValue(out: ProtoBuffer, value: unknown) {
  switch (typeof value) {
    case 'string':
      out.tag(1, WIRE_LEN);
      out.string(value);
      return;
    case 'boolean':
      out.tag(2, WIRE_VARINT);
      out.varint(value ? 1 : 0);
      return;
    case 'number':
      if (Number.isInteger(value) && value >= -(2 ** 63) && value < 2 ** 63) {
        out.tag(3, WIRE_VARINT);
        out.varint(value);
      } else {
        out.tag(4, WIRE_FIXED64);
        out.double(value);
      }
      return;
    case 'object':
      if (value === null) return;
      if (value instanceof Uint8Array) {
        out.tag(7, WIRE_LEN);
        out.raw(value);
      } else if (Array.isArray(value)) {
        out.tag(5, WIRE_LEN);
        const list = out.begin();
        for (const item of value) {
          out.tag(1, WIRE_LEN);
          const element = out.begin();
          anyValue(out, item);
          out.end(element);
        }
        out.end(list);
      } else {
        out.tag(6, WIRE_LEN);
        const list = out.begin();
        for (const key in value) {
          if (!Object.prototype.hasOwnProperty.call(value, key)) continue;
          out.tag(1, WIRE_LEN);
          const pair = out.begin();
          keyValue(out, key, (value as Record<string, unknown>)[key]);
          out.end(pair);
        }
        out.end(list);
      }
      return;
    default:
  }
}

function keyValue(out: ProtoBuffer, key: string, value: unknown) {
  out.tag(1, WIRE_LEN);
  out.string(key);
  out.tag(2, WIRE_LEN);
  const start = out.begin();
  anyValue(out, value);
  out.end(start);
}

function attribute(out: ProtoBuffer, field: number, key: string, value: unknown) {
  out.tag(field, WIRE_LEN);
  const start = out.begin();
  keyValue(out, key, value);
  out.end(start);
}

function attributes(out: ProtoBuffer, values: Attributes, field: number) {
  for (const key in values) {
    if (Object.prototype.hasOwnProperty.call(values, key)) attribute(out, field, key, values[key]);
  }
}

const spanFlags = (traceFlags: number, isRemote: boolean | undefined) =>
  (traceFlags & 0xff) | SPAN_FLAGS_HAS_IS_REMOTE | (isRemote ? SPAN_FLAGS_IS_REMOTE : 0);

function link(out: ProtoBuffer, value: Link) {
  const context: SpanContext = value.context;
  // a link's fields 1-3 are a span's: trace id, span id, trace state
  spanIdentity(out, context, undefined);
  if (value.attributes) attributes(out, value.attributes, 4);
  out.tag(5, WIRE_VARINT);
  out.varint(value.droppedAttributesCount || 0);
  out.tag(6, WIRE_FIXED32);
  out.fixed32(spanFlags(context.traceFlags, context.isRemote));
}

/** Span fields 1-4 (trace id, span id, trace state, parent span id); links share 1-3. */
function spanIdentity(out: ProtoBuffer, context: SpanContext, parent: SpanContext | undefined) {
  out.tag(1, WIRE_LEN);
  out.hexId(context.traceId);
  out.tag(2, WIRE_LEN);
  out.hexId(context.spanId);
  const traceState = context.traceState?.serialize();
  if (traceState) {
    out.tag(3, WIRE_LEN);
    out.string(traceState);
  }
  if (parent?.spanId) {
    out.tag(4, WIRE_LEN);
    out.hexId(parent.spanId);
  }
}

/** Span fields 15-16: the status message and code, then the flags. */
function spanStatusAndFlags(
  out: ProtoBuffer,
  code: number,
  message: string | undefined,
  context: SpanContext,
  parent: SpanContext | undefined,
) {
  out.tag(15, WIRE_LEN);
  const statusStart = out.begin();
  if (message) {
    out.tag(2, WIRE_LEN);
    out.string(message);
  }
  out.tag(3, WIRE_VARINT);
  out.varint(code);
  out.end(statusStart);
  out.tag(16, WIRE_FIXED32);
  out.fixed32(spanFlags(context.traceFlags, parent?.isRemote));
}

/** One `ScopeSpans.spans` entry (field 2): the span's tag, length and message. */
export function encodeSpan(out: ProtoBuffer, span: ReadableSpan) {
  out.tag(2, WIRE_LEN);
  const start = out.begin();
  const context = span.spanContext();
  const parent = span.parentSpanContext;
  spanIdentity(out, context, parent);
  out.tag(5, WIRE_LEN);
  out.string(span.name);
  const kind = span.kind == null ? 0 : span.kind + 1;
  if (kind !== 0) {
    out.tag(6, WIRE_VARINT);
    out.varint(kind);
  }
  const lean = span as { startEpochMs?: number; endEpochMs?: number };
  out.tag(7, WIRE_FIXED64);
  if (lean.startEpochMs !== undefined) epochMs(out, lean.startEpochMs);
  else hrTime(out, span.startTime);
  out.tag(8, WIRE_FIXED64);
  if (lean.endEpochMs !== undefined) epochMs(out, lean.endEpochMs);
  else hrTime(out, span.endTime);
  if (span.attributes) attributes(out, span.attributes, 9);
  out.tag(10, WIRE_VARINT);
  out.varint(span.droppedAttributesCount);
  for (const event of span.events) {
    out.tag(11, WIRE_LEN);
    const eventStart = out.begin();
    out.tag(1, WIRE_FIXED64);
    hrTime(out, event.time);
    out.tag(2, WIRE_LEN);
    out.string(event.name);
    if (event.attributes) attributes(out, event.attributes, 3);
    out.tag(4, WIRE_VARINT);
    out.varint(event.droppedAttributesCount || 0);
    out.end(eventStart);
  }
  out.tag(12, WIRE_VARINT);
  out.varint(span.droppedEventsCount);
  for (const value of span.links) {
    out.tag(13, WIRE_LEN);
    const linkStart = out.begin();
    link(out, value);
    out.end(linkStart);
  }
  out.tag(14, WIRE_VARINT);
  out.varint(span.droppedLinksCount);
  spanStatusAndFlags(out, span.status.code, span.status.message, context, parent);
  out.end(start);
}

/** What encodeServerSpan needs of a deferred server span (see tracer.ts DeferredServerSpan). */
export interface ServerSpanRecord {
  spanContext(): SpanContext;
  parentSpanContext: SpanContext | undefined;
  facts: { method: string; path: string; scheme: string; requestId: string; frontend: string; debug: boolean; userAgent: string | undefined };
  startEpochMs: number;
  endEpochMs: number;
}

/**
 * A server span straight from the request's facts: the same bytes encodeSpan writes for the
 * equivalent span object (attributes in the order the preload sets them), without building it.
 * `redactText` is applied to the two values that come from the client (path and user agent).
 */
export function encodeServerSpan(
  out: ProtoBuffer,
  span: ServerSpanRecord,
  response: { route: string; status: number; aborted: boolean },
  redactText: (text: string) => string,
) {
  const { facts } = span;
  out.tag(2, WIRE_LEN);
  const start = out.begin();
  const context = span.spanContext();
  const parent = span.parentSpanContext;
  spanIdentity(out, context, parent);
  out.tag(5, WIRE_LEN);
  out.string(`${facts.method} ${response.route}`);
  out.tag(6, WIRE_VARINT);
  out.varint(2); // SpanKind.SERVER (1) + 1: OTLP counts from UNSPECIFIED
  out.tag(7, WIRE_FIXED64);
  epochMs(out, span.startEpochMs);
  out.tag(8, WIRE_FIXED64);
  epochMs(out, span.endEpochMs);
  attribute(out, 9, 'http.request.method', facts.method);
  attribute(out, 9, 'url.path', redactText(facts.path));
  attribute(out, 9, 'url.scheme', facts.scheme);
  attribute(out, 9, REQUEST_ID_ATTRIBUTE, facts.requestId);
  attribute(out, 9, FRONTEND_ATTRIBUTE, facts.frontend);
  if (facts.debug) attribute(out, 9, DEBUG_ATTRIBUTE, true);
  if (facts.userAgent) attribute(out, 9, 'user_agent.original', redactText(facts.userAgent));
  attribute(out, 9, 'http.route', response.route);
  attribute(out, 9, 'http.response.status_code', response.status);
  if (response.aborted) attribute(out, 9, 'error.type', 'aborted');
  // no dropped attributes, events or links: fields 10, 12 and 14 are 0
  for (const field of [10, 12, 14]) {
    out.tag(field, WIRE_VARINT);
    out.varint(0);
  }
  spanStatusAndFlags(out, response.status >= 500 ? SpanStatusCode.ERROR : SpanStatusCode.UNSET, undefined, context, parent);
  out.end(start);
}

export interface Scope {
  name: string;
  version?: string;
  schemaUrl?: string;
}

/**
 * Wraps encoded spans, grouped by scope, into one ExportTraceServiceRequest for the resource.
 * `resourceAttributes` are the resource's resolved attributes.
 */
export function encodeRequest(resourceAttributes: Attributes, scopes: Iterable<[Scope, ProtoBuffer]>): Buffer {
  // one allocation of about the final size instead of doubling from 16 KiB: batches are ~150 KiB,
  // and every doubling was another short-lived buffer outside the V8 heap
  const entries = [...scopes];
  const spanBytes = entries.reduce((sum, [, spans]) => sum + spans.pos, 0);
  const out = new ProtoBuffer(spanBytes + 8192);
  out.tag(1, WIRE_LEN);
  const resourceSpans = out.begin();
  out.tag(1, WIRE_LEN);
  const resource = out.begin();
  attributes(out, resourceAttributes, 1);
  out.tag(2, WIRE_VARINT);
  out.varint(0);
  out.end(resource);
  for (const [scope, spans] of entries) {
    if (spans.pos === 0) continue;
    out.tag(2, WIRE_LEN);
    const scopeSpans = out.begin();
    out.tag(1, WIRE_LEN);
    const scopeStart = out.begin();
    out.tag(1, WIRE_LEN);
    out.string(scope.name);
    if (scope.version) {
      out.tag(2, WIRE_LEN);
      out.string(scope.version);
    }
    out.end(scopeStart);
    out.append(spans);
    if (scope.schemaUrl) {
      out.tag(3, WIRE_LEN);
      out.string(scope.schemaUrl);
    }
    out.end(scopeSpans);
  }
  out.end(resourceSpans);
  return out.view();
}
