import { SpanStatusCode, type Attributes } from '@opentelemetry/api';
import { DEBUG_ATTRIBUTE, FRONTEND_ATTRIBUTE, REQUEST_ID_ATTRIBUTE } from '../settings.ts';
import type {
  ExportedLink,
  ExportedSpan,
  ExportedSpanContext,
  ServerResponseRecord,
  ServerSpanRecord,
} from '../trace/span.ts';
import {
  ProtoBuffer,
  WIRE_FIXED32,
  WIRE_FIXED64,
  WIRE_LEN,
  WIRE_VARINT,
  attribute,
  attributes,
  copyBytes,
  epochMs,
  hexBytes,
  hrTime,
  putEpochMs,
  putLength,
  resource,
  scope,
  varintSize,
  type Scope,
} from './proto.ts';

/**
 * The OTLP trace serialiser: one span at a time as it ends (ExportTraceServiceRequest's spans),
 * then the request around them. The OpenTelemetry serializer encodes whole requests from span
 * objects, so every span has to stay alive until its batch is encoded; this writes each span the
 * moment it ends and keeps only bytes. It reads the span model (trace/span.ts) and writes what it
 * is given: redaction happened where the span ended. A test holds it byte-for-byte equal to the
 * reference serializer (@opentelemetry/otlp-transformer) over spans using every field.
 */

const SPAN_FLAGS_HAS_IS_REMOTE = 0x100;
const SPAN_FLAGS_IS_REMOTE = 0x200;

const spanFlags = (traceFlags: number, isRemote: boolean | undefined) =>
  (traceFlags & 0xff) | SPAN_FLAGS_HAS_IS_REMOTE | (isRemote ? SPAN_FLAGS_IS_REMOTE : 0);

function link(out: ProtoBuffer, value: ExportedLink) {
  const context = value.context;
  // a link's fields 1-3 are a span's: trace id, span id, trace state
  spanIdentity(out, context, undefined);
  if (value.attributes) attributes(out, value.attributes, 4);
  out.tag(5, WIRE_VARINT);
  out.varint(value.droppedAttributesCount || 0);
  out.tag(6, WIRE_FIXED32);
  out.fixed32(spanFlags(context.traceFlags, context.isRemote));
}

/** Span fields 1-4 (trace id, span id, trace state, parent span id); links share 1-3. */
function spanIdentity(
  out: ProtoBuffer,
  context: ExportedSpanContext,
  parent: ExportedSpanContext | undefined,
) {
  out.tag(1, WIRE_LEN);
  const { idBytes, traceIdAt } = context;
  if (idBytes !== undefined && traceIdAt !== undefined && traceIdAt >= 0) out.idBytes(idBytes, traceIdAt, 16);
  else out.hexId(context.traceId);
  out.tag(2, WIRE_LEN);
  if (idBytes !== undefined) out.idBytes(idBytes, context.spanIdAt!, 8);
  else out.hexId(context.spanId);
  const traceState = context.traceState?.serialize();
  if (traceState) {
    out.tag(3, WIRE_LEN);
    out.string(traceState);
  }
  if (parent?.spanId) {
    out.tag(4, WIRE_LEN);
    if (parent.idBytes !== undefined) out.idBytes(parent.idBytes, parent.spanIdAt!, 8);
    else out.hexId(parent.spanId);
  }
}

/** Span fields 15-16: the status message and code, then the flags. */
function spanStatusAndFlags(
  out: ProtoBuffer,
  code: number,
  message: string | undefined,
  context: ExportedSpanContext,
  parent: ExportedSpanContext | undefined,
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
export function encodeSpan(out: ProtoBuffer, span: ExportedSpan) {
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
  out.tag(7, WIRE_FIXED64);
  const { startEpochMs, endEpochMs } = span;
  if (startEpochMs !== undefined) epochMs(out, startEpochMs);
  else hrTime(out, span.startTime);
  out.tag(8, WIRE_FIXED64);
  if (endEpochMs !== undefined) epochMs(out, endEpochMs);
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

/**
 * A server span straight from the request's facts: the same bytes encodeSpan writes for the
 * equivalent span object (attributes in the order the preload sets them), without building it.
 * `path` and `userAgent` are the two values that came from the client, as they leave the process
 * (redacted where the span ended).
 */
export function encodeServerSpan(
  out: ProtoBuffer,
  span: ServerSpanRecord,
  response: ServerResponseRecord,
  path: string,
  userAgent: string | undefined,
) {
  const start = out.pos;
  if (writeServerSpan(out, span, response, path, userAgent)) return;
  // a value that is not ASCII or is long, or a trace state: the general writer
  out.pos = start;
  writeServerSpanFields(out, span, response, path, userAgent);
}

function writeServerSpanFields(
  out: ProtoBuffer,
  span: ServerSpanRecord,
  response: ServerResponseRecord,
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
  response: ServerResponseRecord,
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
  const { idBytes, traceIdAt } = context;
  if (idBytes !== undefined && traceIdAt !== undefined && traceIdAt >= 0)
    p = copyBytes(b, p, idBytes, traceIdAt, 16);
  else p = hexBytes(b, p, context.traceId);
  b[p++] = 0x12;
  b[p++] = 8;
  if (idBytes !== undefined) p = copyBytes(b, p, idBytes, context.spanIdAt!, 8);
  else p = hexBytes(b, p, context.spanId);
  if (hasParent) {
    b[p++] = 0x22;
    b[p++] = 8;
    if (parent.idBytes !== undefined) p = copyBytes(b, p, parent.idBytes, parent.spanIdAt!, 8);
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
  resource(out, resourceAttributes);
  for (const [scopeOf, spans] of entries) {
    if (spans.pos === 0) continue;
    out.tag(2, WIRE_LEN);
    const scopeSpans = out.begin();
    scope(out, scopeOf);
    out.append(spans);
    if (scopeOf.schemaUrl) {
      out.tag(3, WIRE_LEN);
      out.string(scopeOf.schemaUrl);
    }
    out.end(scopeSpans);
  }
  out.end(resourceSpans);
  return out.view();
}
