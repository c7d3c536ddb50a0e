import {
  SpanStatusCode,
  type Attributes,
  type HrTime,
  type Link,
  type SpanContext,
} from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { DEBUG_ATTRIBUTE, FRONTEND_ATTRIBUTE, REQUEST_ID_ATTRIBUTE } from '../settings.ts';
import { GeneratedSpanContext } from '../trace/tracer.ts';

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

const varintSize = (value: number) =>
  value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5;

export class ProtoBuffer {
  buffer: Buffer;
  pos = 0;

  constructor(size = 16384) {
    // memory of its own: a slice of Node's shared pool (64 KiB blocks since Node 24) would keep a
    // whole block alive for as long as this buffer lives
    this.buffer = Buffer.allocUnsafeSlow(Math.max(size, 16));
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

  /** Room for `extra` more bytes, growing the buffer when needed. */
  ensure(extra: number) {
    if (this.pos + extra <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.pos + extra) size *= 2;
    const grown = Buffer.allocUnsafeSlow(size);
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
    this.buffer[this.pos] = length;
    this.pos = hexBytes(this.buffer, this.pos + 1, hex);
  }

  /** An id's length and bytes, copied from where it was generated. */
  idBytes(source: Buffer, at: number, length: number) {
    this.ensure(1 + length);
    this.buffer[this.pos] = length;
    this.pos = copyBytes(this.buffer, this.pos + 1, source, at, length);
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
  out.ensure(8);
  out.pos = putTimestamp(out.buffer, out.pos, time[0], time[1]);
}

/** Epoch milliseconds as the tracer's HrTime getters would give them, without the array. */
function epochMs(out: ProtoBuffer, ms: number) {
  out.ensure(8);
  out.pos = putEpochMs(out.buffer, out.pos, ms);
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
  if (context instanceof GeneratedSpanContext && context.traceIdAt >= 0)
    out.idBytes(context.idBytes, context.traceIdAt, 16);
  else out.hexId(context.traceId);
  out.tag(2, WIRE_LEN);
  if (context instanceof GeneratedSpanContext) out.idBytes(context.idBytes, context.spanIdAt, 8);
  else out.hexId(context.spanId);
  const traceState = context.traceState?.serialize();
  if (traceState) {
    out.tag(3, WIRE_LEN);
    out.string(traceState);
  }
  if (parent?.spanId) {
    out.tag(4, WIRE_LEN);
    if (parent instanceof GeneratedSpanContext) out.idBytes(parent.idBytes, parent.spanIdAt, 8);
    else out.hexId(parent.spanId);
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
  const path = redactText(span.facts.path);
  const userAgent = span.facts.userAgent ? redactText(span.facts.userAgent) : undefined;
  const start = out.pos;
  if (writeServerSpan(out, span, response, path, userAgent)) return;
  // a value that is not ASCII or is long, or a trace state: the general writer
  out.pos = start;
  writeServerSpanFields(out, span, response, path, userAgent);
}

function writeServerSpanFields(
  out: ProtoBuffer,
  span: ServerSpanRecord,
  response: { route: string; status: number; aborted: boolean },
  path: string,
  userAgent: string | undefined,
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
  attribute(out, 9, 'url.path', path);
  attribute(out, 9, 'url.scheme', facts.scheme);
  attribute(out, 9, REQUEST_ID_ATTRIBUTE, facts.requestId);
  attribute(out, 9, FRONTEND_ATTRIBUTE, facts.frontend);
  if (facts.debug) attribute(out, 9, DEBUG_ATTRIBUTE, true);
  if (userAgent) attribute(out, 9, 'user_agent.original', userAgent);
  attribute(out, 9, 'http.route', response.route);
  attribute(out, 9, 'http.response.status_code', response.status);
  if (response.aborted) attribute(out, 9, 'error.type', 'aborted');
  // no dropped attributes, events or links: fields 10, 12 and 14 are 0
  for (const field of [10, 12, 14]) {
    out.tag(field, WIRE_VARINT);
    out.varint(0);
  }
  spanStatusAndFlags(
    out,
    response.status >= 500 ? SpanStatusCode.ERROR : SpanStatusCode.UNSET,
    undefined,
    context,
    parent,
  );
  out.end(start);
}

/**
 * `KeyValue.key` and the tag of its value, per attribute key the server span uses: the bytes
 * before each value are constant.
 */
const keyPrefix = (key: string) => Uint8Array.from([0x0a, key.length, ...Buffer.from(key, 'latin1'), 0x12]);
const METHOD_KEY = keyPrefix('http.request.method');
const PATH_KEY = keyPrefix('url.path');
const SCHEME_KEY = keyPrefix('url.scheme');
const REQUEST_ID_KEY = keyPrefix(REQUEST_ID_ATTRIBUTE);
const FRONTEND_KEY = keyPrefix(FRONTEND_ATTRIBUTE);
const DEBUG_KEY = keyPrefix(DEBUG_ATTRIBUTE);
const USER_AGENT_KEY = keyPrefix('user_agent.original');
const ROUTE_KEY = keyPrefix('http.route');
const STATUS_KEY = keyPrefix('http.response.status_code');
const ERROR_TYPE_KEY = keyPrefix('error.type');
/** The longest value the single-pass writer takes: every length it writes then fits in 2 bytes. */
const MAX_FAST_VALUE = 2048;

const lengthSize = (length: number) => (length < 0x80 ? 1 : 2);
/** The size of a string attribute (tag, length, key, value) whose value is `length` ASCII bytes. */
function stringAttributeSize(key: Uint8Array, length: number) {
  const anyValue = 1 + lengthSize(length) + length;
  const keyValue = key.length + lengthSize(anyValue) + anyValue;
  return 1 + lengthSize(keyValue) + keyValue;
}

/**
 * The common case written in one pass: sizes are known up front because every value is taken to be
 * ASCII (one byte per character), which the copy checks; it gives up, leaving `out.pos` wherever,
 * on the first other character, on long values and on a trace state.
 */
function writeServerSpan(
  out: ProtoBuffer,
  span: ServerSpanRecord,
  response: { route: string; status: number; aborted: boolean },
  path: string,
  userAgent: string | undefined,
): boolean {
  const { facts } = span;
  const { method, scheme, requestId, frontend } = facts;
  const { route, status } = response;
  const context = span.spanContext();
  const parent = span.parentSpanContext;
  if (context.traceState !== undefined || parent?.traceState !== undefined) return false;
  for (const value of [method, path, scheme, requestId, frontend, userAgent ?? '', route]) {
    if (value.length > MAX_FAST_VALUE) return false;
  }
  const hasParent = parent !== undefined && parent.spanId !== '';
  const statusSize = 1 + varintSize(status);
  const nameLength = method.length + 1 + route.length;
  let attributesSize =
    stringAttributeSize(METHOD_KEY, method.length) +
    stringAttributeSize(PATH_KEY, path.length) +
    stringAttributeSize(SCHEME_KEY, scheme.length) +
    stringAttributeSize(REQUEST_ID_KEY, requestId.length) +
    stringAttributeSize(FRONTEND_KEY, frontend.length) +
    stringAttributeSize(ROUTE_KEY, route.length) +
    (3 + STATUS_KEY.length + statusSize);
  if (facts.debug) attributesSize += 3 + DEBUG_KEY.length + 2;
  if (userAgent) attributesSize += stringAttributeSize(USER_AGENT_KEY, userAgent.length);
  if (response.aborted) attributesSize += stringAttributeSize(ERROR_TYPE_KEY, 7);
  const spanSize =
    18 + // trace id
    10 + // span id
    (hasParent ? 10 : 0) +
    1 +
    lengthSize(nameLength) +
    nameLength +
    2 + // kind
    18 + // start and end
    attributesSize +
    6 + // dropped attribute, event and link counts
    1 +
    1 +
    2 + // status
    2 +
    4; // flags
  out.ensure(1 + 2 + spanSize);
  const b = out.buffer;
  let p = out.pos;
  b[p++] = 0x12; // ScopeSpans.spans
  p = putLength(b, p, spanSize);
  b[p++] = 0x0a;
  b[p++] = 16;
  if (context instanceof GeneratedSpanContext && context.traceIdAt >= 0)
    p = copyBytes(b, p, context.idBytes, context.traceIdAt, 16);
  else p = hexBytes(b, p, context.traceId);
  b[p++] = 0x12;
  b[p++] = 8;
  if (context instanceof GeneratedSpanContext) p = copyBytes(b, p, context.idBytes, context.spanIdAt, 8);
  else p = hexBytes(b, p, context.spanId);
  if (hasParent) {
    b[p++] = 0x22;
    b[p++] = 8;
    if (parent instanceof GeneratedSpanContext) p = copyBytes(b, p, parent.idBytes, parent.spanIdAt, 8);
    else p = hexBytes(b, p, parent.spanId);
  }
  b[p++] = 0x2a;
  p = putLength(b, p, nameLength);
  p = ascii(b, p, method);
  if (p < 0) return false;
  b[p++] = 0x20;
  p = ascii(b, p, route);
  if (p < 0) return false;
  b[p++] = 0x30;
  b[p++] = 2; // SpanKind.SERVER (1) + 1: OTLP counts from UNSPECIFIED
  b[p++] = 0x39;
  p = putEpochMs(b, p, span.startEpochMs);
  b[p++] = 0x41;
  p = putEpochMs(b, p, span.endEpochMs);
  p = stringAttribute(b, p, METHOD_KEY, method);
  p = stringAttribute(b, p, PATH_KEY, path);
  p = stringAttribute(b, p, SCHEME_KEY, scheme);
  p = stringAttribute(b, p, REQUEST_ID_KEY, requestId);
  p = stringAttribute(b, p, FRONTEND_KEY, frontend);
  // a negative position means a value was not ASCII: stop before writing anything else
  if (p < 0) return false;
  if (facts.debug) {
    b[p++] = 0x4a;
    b[p++] = DEBUG_KEY.length + 3;
    p = copyBytes(b, p, DEBUG_KEY, 0, DEBUG_KEY.length);
    b[p++] = 2;
    b[p++] = 0x10;
    b[p++] = 1;
  }
  if (userAgent) p = stringAttribute(b, p, USER_AGENT_KEY, userAgent);
  p = stringAttribute(b, p, ROUTE_KEY, route);
  if (p < 0) return false;
  b[p++] = 0x4a;
  b[p++] = STATUS_KEY.length + 1 + statusSize;
  p = copyBytes(b, p, STATUS_KEY, 0, STATUS_KEY.length);
  b[p++] = statusSize;
  b[p++] = 0x18;
  p = putLength(b, p, status);
  if (response.aborted) p = stringAttribute(b, p, ERROR_TYPE_KEY, 'aborted');
  // no dropped attributes, events or links: fields 10, 12 and 14 are 0
  b[p++] = 0x50;
  b[p++] = 0;
  b[p++] = 0x60;
  b[p++] = 0;
  b[p++] = 0x70;
  b[p++] = 0;
  b[p++] = 0x7a; // status: code only
  b[p++] = 2;
  b[p++] = 0x18;
  b[p++] = status >= 500 ? SpanStatusCode.ERROR : SpanStatusCode.UNSET;
  b[p++] = 0x85; // flags, fixed32
  b[p++] = 0x01;
  const flags = spanFlags(context.traceFlags, parent?.isRemote);
  b[p++] = flags & 0xff;
  b[p++] = (flags >>> 8) & 0xff;
  b[p++] = (flags >>> 16) & 0xff;
  b[p++] = flags >>> 24;
  out.pos = p;
  return true;
}

/** Writes a length below 2^14; the caller checked. */
function putLength(b: Buffer, p: number, length: number) {
  if (length < 0x80) {
    b[p] = length;
    return p + 1;
  }
  b[p] = (length & 0x7f) | 0x80;
  b[p + 1] = length >>> 7;
  return p + 2;
}

/** Copies an ASCII string; -1 (and every later write is then discarded) at any other character. */
function ascii(b: Buffer, p: number, text: string) {
  if (p < 0) return p;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0x7f) return -1;
    b[p + i] = code;
  }
  return p + text.length;
}

function stringAttribute(b: Buffer, p: number, key: Uint8Array, value: string) {
  if (p < 0) return p;
  const length = value.length;
  const anyValue = 1 + lengthSize(length) + length;
  b[p++] = 0x4a;
  p = putLength(b, p, key.length + lengthSize(anyValue) + anyValue);
  p = copyBytes(b, p, key, 0, key.length);
  p = putLength(b, p, anyValue);
  b[p++] = 0x0a;
  p = putLength(b, p, length);
  return ascii(b, p, value);
}

function copyBytes(b: Buffer, p: number, source: Uint8Array, at: number, length: number) {
  for (let i = 0; i < length; i++) b[p + i] = source[at + i]!;
  return p + length;
}

function hexBytes(b: Buffer, p: number, hex: string) {
  for (let i = 0; i < hex.length; i += 2)
    b[p++] = (HEX[hex.charCodeAt(i)]! << 4) | HEX[hex.charCodeAt(i + 1)]!;
  return p;
}

/** A fixed64 nanosecond timestamp from epoch milliseconds, rounded as the HrTime conversion does. */
function putEpochMs(b: Buffer, p: number, ms: number) {
  const seconds = Math.trunc(ms / 1000);
  return putTimestamp(b, p, seconds, Math.round((ms - seconds * 1000) * 1e6));
}

function putTimestamp(b: Buffer, p: number, seconds: number, nanos: number) {
  // seconds * 1e9 + nanos exceeds 2^53, so the 64-bit value is assembled from two 32-bit halves
  const lowSeconds = seconds & 0xffff;
  const highSeconds = (seconds / 65536) >>> 0;
  const fromLow = lowSeconds * 1e9;
  const fromHigh = highSeconds * 1e9;
  const lowWithCarry = (fromLow >>> 0) + ((((fromHigh & 0xffff) * 65536) >>> 0) + nanos);
  const carry = Math.floor(lowWithCarry / 4294967296);
  const high = (Math.floor(fromLow / 4294967296) + ((fromHigh / 65536) >>> 0) + carry) >>> 0;
  const low = lowWithCarry >>> 0;
  b[p] = low & 0xff;
  b[p + 1] = (low >>> 8) & 0xff;
  b[p + 2] = (low >>> 16) & 0xff;
  b[p + 3] = low >>> 24;
  b[p + 4] = high & 0xff;
  b[p + 5] = (high >>> 8) & 0xff;
  b[p + 6] = (high >>> 16) & 0xff;
  b[p + 7] = high >>> 24;
  return p + 8;
}

export interface Scope {
  name: string;
  version?: string;
  schemaUrl?: string;
}

/**
 * Wraps encoded spans, grouped by scope, into one ExportTraceServiceRequest for the resource.
 * `resourceAttributes` are the resource's resolved attributes. Written into `out` from its start
 * (a buffer kept from an earlier export can be passed); the result is a view of `out`.
 */
export function encodeRequest(
  resourceAttributes: Attributes,
  scopes: Iterable<[Scope, ProtoBuffer]>,
  out = new ProtoBuffer(16),
): Buffer {
  // room for about the final size at once instead of doubling from a small buffer: batches are
  // ~150 KiB, and every doubling was another short-lived buffer outside the V8 heap
  const entries = [...scopes];
  const spanBytes = entries.reduce((sum, [, spans]) => sum + spans.pos, 0);
  out.reset();
  const needed = spanBytes + 8192;
  if (out.buffer.length < needed) out.buffer = Buffer.allocUnsafeSlow(needed);
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
