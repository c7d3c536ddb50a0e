/**
 * A span load generator fast enough to saturate one Collector core. telemetrygen builds and
 * marshals every span as it sends it, and on the other core of this 2-core VM it reached only about
 * 1,000-2,000 spans/s, below what the generated pipeline carries, so a sustained rate could not be
 * shown with it. This encodes OTLP/gRPC Export requests once, with the SDK's own protobuf
 * serializer, from traces shaped like the spec's services (a server span, its dependency calls and
 * database queries, one failed request in fifty), and replays copies with fresh trace ids written
 * in place, paced to a rate. Each request is a new set of traces to the tail samplers; span ids and
 * timestamps repeat, which no processor of the pipeline keys on.
 */
import http2 from 'node:http2';
import { randomBytes } from 'node:crypto';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { DependencyModel, Model } from '../generator/model/model.ts';
import { probeSpan } from '../generator/verify/verify.ts';

type ReplaySpan = Parameters<typeof ProtobufTraceSerializer.serializeRequest>[0][number];

export const SPANS_PER_TRACE = 10;
/** 50 traces of 10 spans: about one batch of the SDKs' batch span processor (512 spans). */
const TRACES_PER_REQUEST = 50;
export const SPANS_PER_REQUEST = SPANS_PER_TRACE * TRACES_PER_REQUEST;
/** One trace of this many fails (status ERROR, HTTP 500), for the keep-errors policy to keep. */
const FAILED_ONE_IN = 50;
/** Requests in flight at once, as many SDKs exporting to one Collector would have. */
const MAX_IN_FLIGHT = 16;
const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
const GRPC_FRAME_HEADER = 5;

/** A trace id no serializer writes by chance: where trace `index` of the template puts its id. */
const markerTraceId = (index: number) => `0ddba11${index.toString(16).padStart(9, '0')}5eedf00dcafebabe`;

interface Child {
  name: string;
  kind: SpanKind;
  attributes: Record<string, string | number>;
}

/** A client call to a database or cache: its own attributes, and where it went. */
const dataCall = (
  dependency: DependencyModel,
  name: string,
  port: number,
  attributes: Child['attributes'],
): Child => ({
  name,
  kind: SpanKind.CLIENT,
  attributes: { ...attributes, 'server.address': dependency.name, 'server.port': port },
});

/** What a call to a dependency looks like as a span, by its kind, in the semantic conventions' names. */
function dependencyCall(dependency: DependencyModel, service: Model['services'][number]): Child {
  switch (dependency.kind) {
    case 'database':
      return dataCall(dependency, 'SELECT orders', 5432, {
        'db.system.name': dependency.system ?? 'postgresql',
        'db.namespace': service.name,
        'db.operation.name': 'SELECT',
        'db.collection.name': 'orders',
        'db.query.text':
          'SELECT id, total, status FROM orders WHERE customer_id = $1 ORDER BY created_at DESC',
      });
    case 'cache':
      return dataCall(dependency, 'GET', 6379, {
        'db.system.name': dependency.system ?? 'redis',
        'db.operation.name': 'GET',
        'db.query.text': 'GET session:*',
      });
    case 'queue':
      return {
        name: `publish ${dependency.name}`,
        kind: SpanKind.PRODUCER,
        attributes: {
          'messaging.system': dependency.system ?? 'kafka',
          'messaging.operation.type': 'send',
          'messaging.destination.name': dependency.name,
        },
      };
    default:
      return {
        name: 'POST',
        kind: SpanKind.CLIENT,
        attributes: {
          'http.request.method': 'POST',
          'url.full': `http://${dependency.service ?? dependency.name}:8080/api/v1/reserve`,
          'http.response.status_code': 200,
          'server.address': dependency.service ?? dependency.name,
          'server.port': 8080,
        },
      };
  }
}

function traceSpans(model: Model, index: number): ReplaySpan[] {
  const services = model.services.filter((service) => service.routes.length > 0);
  if (services.length === 0)
    throw new Error('the bench spec has no service with routes to shape traces from');
  const service = services[index % services.length]!;
  const route = service.routes[index % service.routes.length]!;
  const failed = index % FAILED_ONE_IN === FAILED_ONE_IN - 1;
  const resource = resourceFromAttributes({
    'service.name': service.name,
    'service.version': '1.4.2',
    'service.instance.id': `${service.name}-7d9f8b6c4-x2k9q`,
    'deployment.environment.name': model.environment,
    'telemetry.sdk.language': 'nodejs',
    'telemetry.sdk.name': 'opentelemetry',
    'telemetry.sdk.version': '2.2.0',
  });
  const traceId = markerTraceId(index);
  const rootId = (index * 16 + 1).toString(16).padStart(16, '0');
  const start = BigInt(Date.now()) * 1_000_000n;
  const span = (
    spanId: string,
    parentId: string | undefined,
    child: Child,
    offsetMs: number,
    durationMs: number,
    error: boolean,
  ): ReplaySpan => {
    const begin = start + BigInt(offsetMs * 1_000_000);
    return probeSpan({
      traceId,
      spanId,
      ...(parentId ? { parentSpanId: parentId } : {}),
      name: child.name,
      kind: child.kind,
      start: begin,
      end: begin + BigInt(durationMs * 1_000_000),
      status: error
        ? { code: SpanStatusCode.ERROR, message: 'upstream failed' }
        : { code: SpanStatusCode.UNSET },
      attributes: child.attributes,
      resource,
    });
  };
  const urlPath = route.replace(/\{[^}]+\}|:[A-Za-z_]+/g, String(1000 + index));
  const spans = [
    span(
      rootId,
      undefined,
      {
        name: `GET ${route}`,
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': 'GET',
          'http.route': route,
          'url.path': urlPath,
          'url.scheme': 'http',
          'http.response.status_code': failed ? 500 : 200,
          'server.address': service.name,
          'server.port': 8080,
          'client.address': '10.1.3.17',
          'user_agent.original':
            'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36',
          'network.protocol.version': '1.1',
          // a value the redaction processor's patterns must catch, as a careless app would set it
          'enduser.id': `customer${index}@example.com`,
        },
      },
      0,
      48,
      failed,
    ),
  ];
  const calls = service.dependencies.map((dependency) => dependencyCall(dependency, service));
  for (let child = 1; child < SPANS_PER_TRACE; child++) {
    const call = calls.length > 0 && child % 3 !== 0 ? calls[child % calls.length]! : undefined;
    const shape = call ?? {
      name: child % 2 ? 'validate request' : 'render response',
      kind: SpanKind.INTERNAL,
      attributes: { 'code.function.name': child % 2 ? 'validateRequest' : 'renderResponse' },
    };
    const spanId = (index * 16 + 1 + child).toString(16).padStart(16, '0');
    spans.push(span(spanId, rootId, shape, child * 4, 3, failed && child === SPANS_PER_TRACE - 1));
  }
  return spans;
}

/** An Export request as a gRPC message, and where each of its traces' ids sits in it. */
function template(model: Model): { frame: Buffer; traceIdOffsets: number[][] } {
  const spans = Array.from({ length: TRACES_PER_REQUEST }, (_, index) => traceSpans(model, index)).flat();
  const message = ProtobufTraceSerializer.serializeRequest(spans);
  if (!message) throw new Error('internal: the OTLP protobuf serializer produced nothing');
  const frame = Buffer.alloc(GRPC_FRAME_HEADER + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, GRPC_FRAME_HEADER);
  const traceIdOffsets = Array.from({ length: TRACES_PER_REQUEST }, (_, index) => {
    const marker = Buffer.from(markerTraceId(index), 'hex');
    const offsets: number[] = [];
    for (let at = frame.indexOf(marker); at !== -1; at = frame.indexOf(marker, at + 1)) offsets.push(at);
    if (offsets.length !== SPANS_PER_TRACE)
      throw new Error(
        `internal: trace ${index}'s id occurs ${offsets.length} times in the request, not once per span`,
      );
    return offsets;
  });
  return { frame, traceIdOffsets };
}

export interface ReplayResult {
  offeredSpansPerS: number;
  /** spans the Collector answered OK for, per second of the step */
  acceptedSpansPerS: number;
  sentSpans: number;
  acceptedSpans: number;
  /** requests answered with a gRPC status other than OK (refused by the memory limiter, or failed) */
  rejectedRequests: number;
  /** statuses seen other than OK, e.g. { "8": 3 } */
  statuses: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
  seconds: number;
}

export interface Replayer {
  run(spansPerSecond: number, seconds: number): Promise<ReplayResult>;
  close(): void;
}

/** Replays the spec's traces to an OTLP/gRPC endpoint (host:port, plaintext). */
export function replayer(model: Model, endpoint: string): Replayer {
  const { frame, traceIdOffsets } = template(model);
  const session = http2.connect(`http://${endpoint}`);
  session.on('error', () => undefined);
  const runPrefix = randomBytes(8);
  let counter = BigInt(Date.now()) << 20n;

  function nextRequest(): Buffer {
    const copy = Buffer.from(frame);
    for (const offsets of traceIdOffsets) {
      counter++;
      for (const at of offsets) {
        runPrefix.copy(copy, at);
        copy.writeBigUInt64BE(counter, at + 8);
      }
    }
    return copy;
  }

  function send(body: Buffer): Promise<{ status: string; ms: number }> {
    const began = performance.now();
    return new Promise((resolve) => {
      let status: string | undefined;
      const stream = session.request({
        ':method': 'POST',
        ':path': EXPORT_PATH,
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      // a refusal comes as a trailers-only response: grpc-status in the headers
      stream.on('response', (headers) => (status ??= headers['grpc-status'] as string | undefined));
      stream.on(
        'trailers',
        (trailers) => (status = (trailers['grpc-status'] as string | undefined) ?? status),
      );
      stream.on('error', () => (status ??= 'stream-error'));
      stream.on('close', () => resolve({ status: status ?? 'no-status', ms: performance.now() - began }));
      stream.resume();
      stream.end(body);
    });
  }

  async function run(spansPerSecond: number, seconds: number): Promise<ReplayResult> {
    const intervalMs = (SPANS_PER_REQUEST / spansPerSecond) * 1000;
    const requests = Math.round((seconds * 1000) / intervalMs);
    const latencies: number[] = [];
    const statuses: Record<string, number> = {};
    const inFlight = new Set<Promise<void>>();
    const started = performance.now();
    for (let sent = 0; sent < requests; sent++) {
      const wait = started + sent * intervalMs - performance.now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      // the Collector answering slower than the rate holds the next request back: the step then
      // falls short of its offered rate and is not sustained
      while (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight);
      const request = send(nextRequest()).then(({ status, ms }) => {
        latencies.push(ms);
        if (status !== '0') statuses[status] = (statuses[status] ?? 0) + 1;
        inFlight.delete(request);
      });
      inFlight.add(request);
    }
    await Promise.all(inFlight);
    const elapsed = (performance.now() - started) / 1000;
    const rejectedRequests = Object.values(statuses).reduce((sum, count) => sum + count, 0);
    const acceptedSpans = (requests - rejectedRequests) * SPANS_PER_REQUEST;
    latencies.sort((a, b) => a - b);
    const quantile = (q: number) =>
      Number((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0).toFixed(1));
    return {
      offeredSpansPerS: spansPerSecond,
      acceptedSpansPerS: Math.round(acceptedSpans / elapsed),
      sentSpans: requests * SPANS_PER_REQUEST,
      acceptedSpans,
      rejectedRequests,
      statuses,
      p50Ms: quantile(0.5),
      p99Ms: quantile(0.99),
      seconds: Number(elapsed.toFixed(2)),
    };
  }

  return { run, close: () => session.close() };
}
