import { afterAll } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in Collector for the Python agent, which speaks OTLP/HTTP protobuf only (its exporters have
 * no http/json). It decodes the requests into the OTLP/JSON shape the Node receiver (preload-harness.ts)
 * gives, ids in hex, so the Python tests read like the Node ones; the raw bodies are kept for leak checks
 * (protobuf keeps strings as UTF-8 bytes, so a leaked secret is in them verbatim).
 */

type Field = [name: string, type: string, repeated?: boolean];
type Schema = Record<number, Field>;

const ANY: Schema = {
  1: ['stringValue', 'string'],
  2: ['boolValue', 'bool'],
  3: ['intValue', 'int64'],
  4: ['doubleValue', 'double'],
  5: ['arrayValue', 'ArrayValue'],
  6: ['kvlistValue', 'KeyValueList'],
  7: ['bytesValue', 'bytes'],
};
const SCHEMAS: Record<string, Schema> = {
  AnyValue: ANY,
  KeyValue: { 1: ['key', 'string'], 2: ['value', 'AnyValue'] },
  ArrayValue: { 1: ['values', 'AnyValue', true] },
  KeyValueList: { 1: ['values', 'KeyValue', true] },
  Resource: { 1: ['attributes', 'KeyValue', true] },
  Scope: { 1: ['name', 'string'], 2: ['version', 'string'], 3: ['attributes', 'KeyValue', true] },
  TracesRequest: { 1: ['resourceSpans', 'ResourceSpans', true] },
  ResourceSpans: { 1: ['resource', 'Resource'], 2: ['scopeSpans', 'ScopeSpans', true] },
  ScopeSpans: { 1: ['scope', 'Scope'], 2: ['spans', 'Span', true] },
  Span: {
    1: ['traceId', 'bytes'],
    2: ['spanId', 'bytes'],
    4: ['parentSpanId', 'bytes'],
    5: ['name', 'string'],
    6: ['kind', 'varint'],
    7: ['startTimeUnixNano', 'fixed64'],
    8: ['endTimeUnixNano', 'fixed64'],
    9: ['attributes', 'KeyValue', true],
    11: ['events', 'Event', true],
    15: ['status', 'Status'],
  },
  Event: { 1: ['timeUnixNano', 'fixed64'], 2: ['name', 'string'], 3: ['attributes', 'KeyValue', true] },
  Status: { 2: ['message', 'string'], 3: ['code', 'varint'] },
  MetricsRequest: { 1: ['resourceMetrics', 'ResourceMetrics', true] },
  ResourceMetrics: { 1: ['resource', 'Resource'], 2: ['scopeMetrics', 'ScopeMetrics', true] },
  ScopeMetrics: { 1: ['scope', 'Scope'], 2: ['metrics', 'Metric', true] },
  Metric: {
    1: ['name', 'string'],
    3: ['unit', 'string'],
    5: ['gauge', 'Gauge'],
    7: ['sum', 'Sum'],
    9: ['histogram', 'Histogram'],
  },
  Gauge: { 1: ['dataPoints', 'NumberDataPoint', true] },
  Sum: {
    1: ['dataPoints', 'NumberDataPoint', true],
    2: ['aggregationTemporality', 'varint'],
    3: ['isMonotonic', 'bool'],
  },
  Histogram: { 1: ['dataPoints', 'HistogramDataPoint', true], 2: ['aggregationTemporality', 'varint'] },
  NumberDataPoint: {
    7: ['attributes', 'KeyValue', true],
    3: ['timeUnixNano', 'fixed64'],
    4: ['asDouble', 'double'],
    6: ['asInt', 'sfixed64'],
  },
  HistogramDataPoint: {
    9: ['attributes', 'KeyValue', true],
    3: ['timeUnixNano', 'fixed64'],
    4: ['count', 'fixed64'],
    5: ['sum', 'double'],
    6: ['bucketCounts', 'fixed64', true],
    7: ['explicitBounds', 'double', true],
  },
  LogsRequest: { 1: ['resourceLogs', 'ResourceLogs', true] },
  ResourceLogs: { 1: ['resource', 'Resource'], 2: ['scopeLogs', 'ScopeLogs', true] },
  ScopeLogs: { 1: ['scope', 'Scope'], 2: ['logRecords', 'LogRecord', true] },
  LogRecord: {
    1: ['timeUnixNano', 'fixed64'],
    2: ['severityNumber', 'varint'],
    3: ['severityText', 'string'],
    5: ['body', 'AnyValue'],
    6: ['attributes', 'KeyValue', true],
    9: ['traceId', 'bytes'],
    10: ['spanId', 'bytes'],
  },
};

function varint(buffer: Buffer, offset: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    const byte = buffer[offset++]!;
    result |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [result, offset];
    shift += 7n;
  }
}

function scalar(type: string, buffer: Buffer, offset: number, wire: number): [unknown, number] {
  if (wire === 0) {
    const [value, next] = varint(buffer, offset);
    if (type === 'bool') return [value !== 0n, next];
    if (type === 'int64') return [BigInt.asIntN(64, value).toString(), next];
    return [Number(value), next];
  }
  if (wire === 1) {
    if (type === 'double') return [buffer.readDoubleLE(offset), offset + 8];
    if (type === 'sfixed64') return [buffer.readBigInt64LE(offset).toString(), offset + 8];
    return [buffer.readBigUInt64LE(offset).toString(), offset + 8];
  }
  if (wire === 5) return [buffer.readUInt32LE(offset), offset + 4];
  throw new Error(`unexpected wire type ${wire} for ${type}`);
}

export function decode(schemaName: string, buffer: Buffer, start = 0, end = buffer.length) {
  const schema = SCHEMAS[schemaName]!;
  const out: Record<string, unknown> = {};
  let offset = start;
  while (offset < end) {
    const [tag, afterTag] = varint(buffer, offset);
    offset = afterTag;
    const number = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    const field = schema[number];
    let value: unknown;
    if (wire === 2) {
      const [length, afterLength] = varint(buffer, offset);
      const from = afterLength;
      const to = from + Number(length);
      offset = to;
      if (!field) continue;
      const [name, type, repeated] = field;
      if (type === 'string') value = buffer.toString('utf8', from, to);
      else if (type === 'bytes') value = buffer.subarray(from, to).toString('hex');
      else if (SCHEMAS[type]) value = decode(type, buffer, from, to);
      else {
        // packed repeated scalars
        const items: unknown[] = [];
        let at = from;
        while (at < to) {
          const [item, next] = scalar(type, buffer, at, type === 'double' || type === 'fixed64' ? 1 : 0);
          items.push(item);
          at = next;
        }
        out[name] = [...((out[name] as unknown[]) ?? []), ...items];
        continue;
      }
      if (repeated) out[name] = [...((out[name] as unknown[]) ?? []), value];
      else out[name] = value;
      continue;
    }
    const [item, next] = scalar(field?.[1] ?? 'skip', buffer, offset, wire);
    offset = next;
    if (!field) continue;
    if (field[2]) out[field[0]] = [...((out[field[0]] as unknown[]) ?? []), item];
    else out[field[0]] = item;
  }
  return out;
}

type AnyValue = { stringValue?: string; intValue?: string; boolValue?: boolean; doubleValue?: number };
type KeyValue = { key: string; value?: AnyValue };

const flatten = (attributes: KeyValue[] | undefined) =>
  Object.fromEntries(
    (attributes ?? []).map(({ key, value = {} }) => [
      key,
      value.stringValue ??
        (value.intValue !== undefined ? Number(value.intValue) : (value.boolValue ?? value.doubleValue)),
    ]),
  );

const REQUESTS: Record<string, string> = {
  '/v1/traces': 'TracesRequest',
  '/v1/metrics': 'MetricsRequest',
  '/v1/logs': 'LogsRequest',
};

export interface ProtobufReceiver {
  url: string;
  /** Raw bodies as text (UTF-8 strings inside protobuf read as they are). */
  bodies: string[];
  requests: { path: string; contentType: string; json: Record<string, unknown> }[];
  resources(): Record<string, unknown>[];
  spans(): Record<string, unknown>[];
  metricPoints(name: string): Record<string, unknown>[];
  metricNames(): string[];
  /** The metrics of that name as sent: `gauge`, or `sum` with `isMonotonic`, or `histogram`. */
  metrics(name: string): Record<string, unknown>[];
  logRecords(): Record<string, unknown>[];
  close(): Promise<void>;
}

const open = new Set<() => void>();
afterAll(() => {
  for (const close of open) close();
});

export async function startProtobufReceiver(): Promise<ProtobufReceiver> {
  const received: { path: string; contentType: string; raw: Buffer; json: Record<string, unknown> }[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const raw = Buffer.concat(chunks);
      const path = request.url ?? '';
      const schema = REQUESTS[path];
      let json: Record<string, unknown> = {};
      try {
        if (schema) json = decode(schema, raw);
      } catch {
        json = {};
      }
      received.push({ path, contentType: request.headers['content-type'] ?? '', raw, json });
      // an empty Export*ServiceResponse
      response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const forceClose = () => {
    server.closeAllConnections();
    server.close();
  };
  open.add(forceClose);
  const walk = (path: string, top: string, scope: string, items: string) =>
    received
      .filter((r) => r.path === path)
      .flatMap((r) => (r.json[top] ?? []) as Record<string, Record<string, unknown>[]>[])
      .flatMap((r) => r[scope] ?? [])
      .flatMap((s) => (s[items] ?? []) as Record<string, unknown>[]);
  const metrics = () => walk('/v1/metrics', 'resourceMetrics', 'scopeMetrics', 'metrics');
  return {
    url: `http://127.0.0.1:${port}`,
    get bodies() {
      return received.map((r) => r.raw.toString('utf8'));
    },
    get requests() {
      return received.map(({ path, contentType, json }) => ({ path, contentType, json }));
    },
    resources: () =>
      received.flatMap((r) =>
        Object.values(r.json)
          .flat()
          .map((entry) =>
            flatten(((entry as { resource?: { attributes?: KeyValue[] } }).resource ?? {}).attributes),
          ),
      ),
    spans: () =>
      walk('/v1/traces', 'resourceSpans', 'scopeSpans', 'spans').map((s) => ({
        ...s,
        attributes: flatten(s.attributes as KeyValue[]),
      })),
    metricNames: () => [...new Set(metrics().map((m) => String(m.name)))].sort(),
    metrics: (name) => metrics().filter((m) => m.name === name),
    metricPoints: (name) =>
      metrics()
        .filter((m) => m.name === name)
        .flatMap((m) => {
          const data = (m.histogram ?? m.sum ?? m.gauge) as { dataPoints?: Record<string, unknown>[] };
          return (data.dataPoints ?? []).map((p) => ({
            ...p,
            attributes: flatten(p.attributes as KeyValue[]),
          }));
        }),
    logRecords: () =>
      walk('/v1/logs', 'resourceLogs', 'scopeLogs', 'logRecords').map((r) => ({
        ...r,
        attributes: flatten(r.attributes as KeyValue[]),
      })),
    close: () => {
      open.delete(forceClose);
      return new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
