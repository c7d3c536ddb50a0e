import { describe, expect, it } from '@jest/globals';
import {
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  context,
  defaultTextMapGetter,
  propagation,
  trace,
} from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  type ReadableSpan,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { createPropagator } from '../../../../runtime/node/index.ts';
import { ProtoBuffer } from '../../../../runtime/node/otlp/proto.ts';
import { encodeRequest, encodeServerSpan, encodeSpan } from '../../../../runtime/node/otlp/spans.ts';
import type { DeferredServerSpan, LeanSpan } from '../../../../runtime/node/trace/tracer.ts';
import { LeanTracerProvider } from '../../../../runtime/node/trace/tracer.ts';

/** Collects ended spans the way a processor sees them. */
function collector() {
  const ended: ReadableSpan[] = [];
  const processor: SpanProcessor = {
    onStart: () => undefined,
    onEnd: (span) => void ended.push(span),
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
  return { ended, processor };
}

const resource = resourceFromAttributes({
  'service.name': 'checkout',
  'service.namespace': 'shop',
  'process.pid': 4242,
  'host.name': 'h\u00e9te-1',
  'process.runtime.ratio': 0.25,
  'feature.flags': ['a', 'b'],
});

function exampleSpans() {
  const { ended, processor } = collector();
  const provider = new LeanTracerProvider({ resource, sampler: new AlwaysOnSampler(), processor });
  const tracer = provider.getTracer('otelkit-preload', '1.2.3');
  const other = provider.getTracer('@opentelemetry/instrumentation-pg');
  const remoteParent = trace.setSpanContext(context.active(), {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
    traceState: new TraceState('vendor=a,other=b'),
  });
  const server = tracer.startSpan(
    'GET',
    {
      kind: SpanKind.SERVER,
      attributes: {
        'http.request.method': 'GET',
        'url.path': '/orders/42',
        big: 2 ** 40,
        negative: -7,
        ratio: 1.5,
      },
      startTime: [1_760_000_000, 123_456_789],
      links: [
        {
          context: { traceId: '1'.repeat(32), spanId: '2'.repeat(16), traceFlags: 0 },
          attributes: { why: 'batch' },
        },
      ],
    },
    remoteParent,
  );
  server.setAttribute('http.route', '/orders/{orderId}');
  server.setAttribute('retries', [1, 2, 3]);
  server.setAttribute('ok', true);
  server.setAttribute('long', 'x'.repeat(300));
  server.setAttribute('unicode', 'caf\u00e9 \u2603 \ud83d\ude80');
  server.addEvent('cache.miss', { key: 'order:42' }, [1_760_000_000, 200_000_000]);
  server.recordException(
    Object.assign(new Error('boom'), { stack: 'Error: boom\n    at here' }),
    [1_760_000_000, 300_000_000],
  );
  server.setStatus({ code: SpanStatusCode.ERROR, message: 'payment failed' });
  server.updateName('GET /orders/{orderId}');
  const child = other.startSpan(
    'SELECT orders',
    { kind: SpanKind.CLIENT, startTime: 1_760_000_000_400 },
    trace.setSpan(context.active(), server),
  );
  child.end(1_760_000_000_450.5);
  server.end([1_760_000_001, 5]);
  const internal = tracer.startSpan('work', { root: true });
  internal.end();
  return ended;
}

describe('lean tracer', () => {
  it('encodes spans byte for byte as the OpenTelemetry protobuf serializer does', () => {
    const spans = exampleSpans();
    expect(spans).toHaveLength(3);
    const scopes = new Map<object, [{ name: string; version?: string }, ProtoBuffer]>();
    for (const span of spans) {
      let entry = scopes.get(span.instrumentationScope);
      if (!entry) {
        entry = [span.instrumentationScope, new ProtoBuffer(16)];
        scopes.set(span.instrumentationScope, entry);
      }
      encodeSpan(entry[1], span);
    }
    const ours = encodeRequest(resource.attributes, scopes.values());
    const reference = Buffer.from(ProtobufTraceSerializer.serializeRequest(spans)!);
    expect(ours.toString('hex')).toBe(reference.toString('hex'));

    // a body buffer kept from a bigger export is written from its start, with nothing left over
    const reused = new ProtoBuffer(16);
    reused.raw(Buffer.alloc(4 * ours.length, 0xee));
    const again = encodeRequest(resource.attributes, scopes.values(), reused);
    expect(again.toString('hex')).toBe(reference.toString('hex'));
    expect(again.buffer).toBe(reused.buffer.buffer);
  });

  it('follows the parent, keeps trace state and links, and freezes ended spans', () => {
    const [child, server, internal] = exampleSpans() as LeanSpan[];
    expect(server!.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(server!.parentSpanContext?.spanId).toBe('b7ad6b7169203331');
    expect(server!.spanContext().traceState?.serialize()).toBe('vendor=a,other=b');
    expect(child!.parentSpanContext?.spanId).toBe(server!.spanContext().spanId);
    expect(internal!.parentSpanContext).toBeUndefined();
    expect(internal!.spanContext().traceId).not.toBe(server!.spanContext().traceId);
    expect(server!.links).toHaveLength(1);
    expect(server!.events.map((event) => event.name)).toEqual(['cache.miss', 'exception']);
    // times are kept as epoch milliseconds: sub-microsecond digits of explicit times are not kept
    expect(server!.duration[0]).toBe(0);
    expect(Math.abs(server!.duration[1] - 876_543_216)).toBeLessThan(1000);
    server!.setAttribute('late', 1);
    server!.updateName('changed');
    expect(server!.attributes.late).toBeUndefined();
    expect(server!.name).toBe('GET /orders/{orderId}');
    expect(server!.isRecording()).toBe(false);
  });

  it('drops invalid attribute values and counts attributes beyond the limit', () => {
    const { ended, processor } = collector();
    const provider = new LeanTracerProvider({
      resource,
      sampler: new AlwaysOnSampler(),
      processor,
      limits: { attributeCount: 2 },
    });
    const span = provider.getTracer('t').startSpan('s');
    span.setAttribute('a', 1);
    span.setAttribute('nothing', undefined as never);
    span.setAttribute('object', { nested: true } as never);
    span.setAttribute('mixed', [1, 'two'] as never);
    span.setAttribute('b', 2);
    span.setAttribute('c', 3);
    span.setAttribute('a', 10);
    span.end();
    expect(ended[0]!.attributes).toEqual({ a: 10, b: 2 });
    expect(ended[0]!.droppedAttributesCount).toBe(1);
  });

  it('asks the sampler: unsampled roots record nothing, sampled parents are followed', () => {
    const { ended, processor } = collector();
    const provider = new LeanTracerProvider({
      resource,
      sampler: new ParentBasedSampler({ root: new AlwaysOffSampler() }),
      processor,
    });
    const tracer = provider.getTracer('t');
    const root = tracer.startSpan('root');
    expect(root.isRecording()).toBe(false);
    expect(root.spanContext().traceFlags & TraceFlags.SAMPLED).toBe(0);
    root.end();
    const sampledParent = trace.setSpanContext(context.active(), {
      traceId: 'a'.repeat(32),
      spanId: 'b'.repeat(16),
      traceFlags: TraceFlags.SAMPLED,
      isRemote: true,
    });
    tracer.startSpan('child', {}, sampledParent).end();
    expect(ended.map((span) => span.name)).toEqual(['child']);
  });
});

describe('OTEL_PROPAGATORS', () => {
  const carrier = {
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    baggage: 'tenant=acme',
  };
  const extracted = (value: string | undefined) => {
    const warnings: string[] = [];
    const propagator = createPropagator(value === undefined ? {} : { OTEL_PROPAGATORS: value }, (m) =>
      warnings.push(m),
    );
    const found = propagator.extract(context.active(), carrier, defaultTextMapGetter);
    return {
      traceId: trace.getSpanContext(found)?.traceId,
      tenant: propagation.getBaggage(found)?.getEntry('tenant')?.value,
      fields: propagator.fields(),
      warnings,
    };
  };

  it('defaults to W3C trace context and baggage, and honours the variable', () => {
    expect(extracted(undefined)).toMatchObject({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      tenant: 'acme',
    });
    expect(extracted('tracecontext')).toMatchObject({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      tenant: undefined,
    });
    expect(extracted('none')).toMatchObject({ traceId: undefined, tenant: undefined, fields: [] });
    const b3 = extracted('b3,baggage');
    expect(b3).toMatchObject({ traceId: undefined, tenant: 'acme' });
    expect(b3.warnings).toEqual([
      'OTEL_PROPAGATORS: b3 is not supported by the otelkit preload (tracecontext, baggage, none); ignored',
    ]);
  });
});

describe('deferred server spans', () => {
  const redact = (text: string) => text.replace(/\d{13,16}/g, '[REDACTED:card]');
  const cases = [
    {
      name: 'remote parent with trace state',
      parent: 'remote with trace state',
      path: '/pay/4111111111111111',
      debug: false,
      userAgent: 'curl/8',
      response: { route: '/orders/{orderId}', status: 200, aborted: false },
    },
    {
      name: 'debug, no user agent, aborted 503',
      parent: 'remote with trace state',
      path: '/pay/4111111111111111',
      debug: true,
      userAgent: undefined,
      response: { route: '/pay', status: 503, aborted: true },
    },
    {
      name: 'root span',
      parent: 'none',
      path: '/pay/4111111111111111',
      debug: false,
      userAgent: 'curl/8',
      response: { route: '/orders/{orderId}', status: 200, aborted: false },
    },
    {
      name: 'remote parent, debug, aborted, 200-character user agent',
      parent: 'remote',
      path: '/pay/4111111111111111',
      debug: true,
      userAgent: 'Mozilla/5.0 '.repeat(17),
      response: { route: '/pay', status: 503, aborted: true },
    },
    {
      name: 'local parent',
      parent: 'local',
      path: '/pay/4111111111111111',
      debug: false,
      userAgent: 'curl/8',
      response: { route: '/pay', status: 404, aborted: false },
    },
    {
      name: 'path that is not ASCII',
      parent: 'none',
      path: '/caf\u00e9/4111111111111111/\u2603',
      debug: false,
      userAgent: 'curl/8',
      response: { route: '/caf\u00e9/{id}', status: 200, aborted: false },
    },
    {
      name: '3000-character user agent',
      parent: 'remote',
      path: '/pay/4111111111111111',
      debug: false,
      userAgent: 'x'.repeat(3000),
      response: { route: '/pay', status: 200, aborted: false },
    },
  ];

  it.each(cases)(
    'encode from the request facts exactly as the equivalent span object ($name)',
    ({ parent: parentKind, path, debug, userAgent, response }) => {
      const ended: DeferredServerSpan[] = [];
      const processor = {
        ...collector().processor,
        onEndServer: (span: DeferredServerSpan) => void ended.push(span),
      };
      const provider = new LeanTracerProvider({ resource, sampler: new AlwaysOnSampler(), processor });
      const remote = {
        traceId: '0af7651916cd43dd8448eb211c80319c',
        spanId: 'b7ad6b7169203331',
        traceFlags: TraceFlags.SAMPLED,
        isRemote: true,
      };
      const parent =
        parentKind === 'none'
          ? context.active()
          : parentKind === 'local'
            ? trace.setSpan(context.active(), provider.getTracer('app').startSpan('parent'))
            : trace.setSpanContext(
                context.active(),
                parentKind === 'remote' ? remote : { ...remote, traceState: new TraceState('vendor=a') },
              );
      const span = provider
        .getTracer('otelkit-preload')
        .startServerSpan(
          { method: 'POST', path, scheme: 'http', requestId: 'req-1', frontend: 'web', debug, userAgent },
          parent,
        ) as DeferredServerSpan;
      span.endRequest(response);
      expect(ended).toEqual([span]);

      const fromFacts = new ProtoBuffer(16);
      fromFacts.string('bytes already in the buffer stay as they were');
      const before = fromFacts.bytes();
      // redacted where the span ends, as the span processor does
      const agent = span.facts.userAgent;
      encodeServerSpan(fromFacts, span, response, redact(span.facts.path), agent ? redact(agent) : undefined);
      expect(fromFacts.bytes().subarray(0, before.length).equals(before)).toBe(true);
      const readable = span.toReadableSpan();
      for (const key of ['url.path', 'user_agent.original']) {
        const value = readable.attributes[key];
        if (typeof value === 'string') (readable.attributes as Record<string, unknown>)[key] = redact(value);
      }
      expect(readable.attributes['url.path']).toMatch(/\[REDACTED:card\]/);
      const fromObject = new ProtoBuffer(16);
      encodeSpan(fromObject, readable);
      const scope = readable.instrumentationScope;
      const onlySpan = new ProtoBuffer(16);
      onlySpan.buffer = fromFacts.bytes().subarray(before.length);
      onlySpan.pos = onlySpan.buffer.length;
      const ours = encodeRequest(resource.attributes, [[scope, onlySpan]]);
      const reference = Buffer.from(ProtobufTraceSerializer.serializeRequest([readable])!);
      expect(ours.toString('hex')).toBe(reference.toString('hex'));
      expect(onlySpan.bytes().toString('hex')).toBe(fromObject.bytes().toString('hex'));
    },
  );

  it('turn into a full span when the app changes the active span, keeping what the preload set', () => {
    const { ended, processor } = collector();
    const provider = new LeanTracerProvider({ resource, sampler: new AlwaysOnSampler(), processor });
    const span = provider.getTracer('otelkit-preload').startServerSpan(
      {
        method: 'GET',
        path: '/orders/7',
        scheme: 'https',
        requestId: 'req-2',
        frontend: 'ios',
        debug: false,
        userAgent: undefined,
      },
      context.active(),
    ) as DeferredServerSpan;
    span.setAttribute('order.id', '7');
    expect(span.deferred).toBe(false);
    span.endRequest({ route: '/orders/{orderId}', status: 200, aborted: false });
    expect(ended).toHaveLength(1);
    expect(ended[0]!.name).toBe('GET /orders/{orderId}');
    expect(Object.keys(ended[0]!.attributes)).toEqual([
      'http.request.method',
      'url.path',
      'url.scheme',
      'request_id',
      'frontend',
      'order.id',
      'http.route',
      'http.response.status_code',
    ]);
    span.setAttribute('late', true);
    expect(ended[0]!.attributes.late).toBeUndefined();
  });
});
