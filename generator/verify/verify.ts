import { randomBytes } from 'node:crypto';
import { SeverityNumber, SpanKind, SpanStatusCode, TraceFlags } from '@opentelemetry/api';
import { JsonLogsSerializer, JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { RULE } from '../model/rule-names.ts';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { LOG_CLASS_ATTRIBUTE, REQUEST_ID_ATTRIBUTE, SPAN_METRICS } from '../model/conventions.ts';
import type { Model, ServiceModel } from '../model/model.ts';
import { collectQueries } from '../validate/dashboards.ts';
import { interpolate, type FoundQuery } from '../validate/queries.ts';
import { LOCAL } from './stack.ts';

/**
 * The end-to-end proof: a probe sends a trace, logs and (through span metrics) RED metrics into
 * the Collector of a running stack, then every backend is asked for them, every rule must load and
 * evaluate cleanly, and every dashboard query must run.
 */

/** Where the checks reach the stack: the compose stack's published ports, or port-forwards. */
export type Endpoints = Record<'otlpHttp' | 'prometheus' | 'alertmanager' | 'loki' | 'tempo', string>;

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
}

export interface Probe {
  service: ServiceModel;
  route: string;
  traceId: string;
  spanId: string;
  requestId: string;
  startedAt: number;
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

type ProbeSpan = Parameters<typeof JsonTraceSerializer.serializeRequest>[0][number];
type ProbeLogRecord = Parameters<typeof JsonLogsSerializer.serializeRequest>[0][number];

/** The probe is sent as an SDK would send it: OTLP/JSON from the OpenTelemetry serializers. */
async function post(url: string, body: Uint8Array | undefined) {
  if (!body) throw new Error(`internal: the OTLP serializer produced nothing for ${url}`);
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    signal: AbortSignal.timeout(5000),
  });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status} ${await response.text()}`);
}

const PROBE_SCOPE = { name: 'otelkit-probe' };

function resource(model: Model, service: string) {
  return resourceFromAttributes({
    'service.name': service,
    'deployment.environment.name': model.environment,
  });
}

/** Nanoseconds since the epoch as the SDK's HrTime. */
const hrTime = (nanos: bigint): [number, number] => [
  Number(nanos / 1_000_000_000n),
  Number(nanos % 1_000_000_000n),
];

export function probeSpan(
  span: Pick<ProbeSpan, 'name' | 'kind' | 'attributes' | 'status' | 'resource'> & {
    traceId: string;
    spanId: string;
    parentSpanId?: string;
    start: bigint;
    end: bigint;
  },
): ProbeSpan {
  const context = { traceId: span.traceId, spanId: span.spanId, traceFlags: TraceFlags.SAMPLED };
  return {
    name: span.name,
    kind: span.kind,
    spanContext: () => context,
    ...(span.parentSpanId
      ? {
          parentSpanContext: {
            traceId: span.traceId,
            spanId: span.parentSpanId,
            traceFlags: TraceFlags.SAMPLED,
          },
        }
      : {}),
    startTime: hrTime(span.start),
    endTime: hrTime(span.end),
    duration: hrTime(span.end - span.start),
    ended: true,
    status: span.status,
    attributes: span.attributes,
    links: [],
    events: [],
    resource: span.resource,
    instrumentationScope: PROBE_SCOPE,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

/** One request of the probe: a failing server span (kept by tail sampling) and a client span. */
export async function sendRequest(
  model: Model,
  probe: Probe,
  options: { traceId?: string; error: boolean },
  endpoints: Endpoints = LOCAL,
) {
  const traceId = options.traceId ?? hex(16);
  const serverSpanId = options.traceId ? probe.spanId : hex(8);
  const now = BigInt(Date.now()) * 1_000_000n;
  const start = now - 120_000_000n;
  const urlPath = probe.route.replace(/\{[^}]+\}|:[A-Za-z_]+/g, '42');
  const serviceResource = resource(model, probe.service.name);
  const server = probeSpan({
    traceId,
    spanId: serverSpanId,
    name: `GET ${probe.route}`,
    kind: SpanKind.SERVER,
    start,
    end: now,
    attributes: {
      'http.request.method': 'GET',
      'url.path': urlPath,
      'http.route': probe.route,
      'http.response.status_code': options.error ? 500 : 200,
      frontend: probe.service.frontends[0] ?? 'unknown',
      [REQUEST_ID_ATTRIBUTE]: probe.requestId,
    },
    status: { code: options.error ? SpanStatusCode.ERROR : SpanStatusCode.UNSET },
    resource: serviceResource,
  });
  const client = probeSpan({
    traceId,
    spanId: hex(8),
    parentSpanId: serverSpanId,
    name: 'SELECT',
    kind: SpanKind.CLIENT,
    start: start + 10_000_000n,
    end: now - 10_000_000n,
    attributes: { 'db.system': 'postgresql' },
    status: { code: SpanStatusCode.UNSET },
    resource: serviceResource,
  });
  await post(`${endpoints.otlpHttp}/v1/traces`, JsonTraceSerializer.serializeRequest([server, client]));
  return traceId;
}

export async function sendLog(model: Model, probe: Probe, message: string, endpoints: Endpoints = LOCAL) {
  const now = hrTime(BigInt(Date.now()) * 1_000_000n);
  const record: ProbeLogRecord = {
    hrTime: now,
    hrTimeObserved: now,
    severityNumber: SeverityNumber.ERROR,
    severityText: 'ERROR',
    body: message,
    spanContext: { traceId: probe.traceId, spanId: probe.spanId, traceFlags: TraceFlags.SAMPLED },
    attributes: { [REQUEST_ID_ATTRIBUTE]: probe.requestId, [LOG_CLASS_ATTRIBUTE]: 'application' },
    resource: resource(model, probe.service.name),
    instrumentationScope: PROBE_SCOPE,
    droppedAttributesCount: 0,
  };
  await post(`${endpoints.otlpHttp}/v1/logs`, JsonLogsSerializer.serializeRequest([record]));
}

export function newProbe(model: Model): Probe {
  const service = model.services.find((s) => s.kind === 'http' && s.routes.length > 0) ?? model.services[0]!;
  const route = service.routes.find((r) => /[{:]/.test(r)) ?? service.routes[0] ?? '/';
  return {
    service,
    route,
    traceId: hex(16),
    spanId: hex(8),
    requestId: `probe-${hex(6)}`,
    startedAt: Date.now(),
  };
}

async function getJson(url: string): Promise<unknown> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  if (!response.ok) throw new Error(`HTTP ${response.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

/** Retries `attempt` until it returns a result or the time is up; the last error is the detail. */
async function eventually<T>(timeoutMs: number, attempt: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError = 'no result';
  for (;;) {
    try {
      const result = await attempt();
      if (result !== undefined) return result;
    } catch (error) {
      lastError = (error as Error).message;
    }
    if (Date.now() > deadline) throw new Error(lastError);
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

type PromResult = { status: string; data: { result: { metric: Record<string, string> }[] }; error?: string };

export const promQuery = (query: string, endpoints: Endpoints = LOCAL) =>
  getJson(`${endpoints.prometheus}/api/v1/query?query=${encodeURIComponent(query)}`) as Promise<PromResult>;

export async function traceInTempo(
  traceId: string,
  endpoints: Endpoints = LOCAL,
): Promise<number | undefined> {
  const trace = (await getJson(`${endpoints.tempo}/api/traces/${traceId}`).catch(() => undefined)) as
    { batches?: { scopeSpans?: { spans: unknown[] }[] }[] } | undefined;
  const spans = (trace?.batches ?? []).flatMap((b) => (b.scopeSpans ?? []).flatMap((s) => s.spans)).length;
  return spans > 0 ? spans : undefined;
}

export async function lokiLines(query: string, sinceMs: number, endpoints: Endpoints = LOCAL) {
  const start = (BigInt(sinceMs) - 60_000n) * 1_000_000n;
  const result = (await getJson(
    `${endpoints.loki}/loki/api/v1/query_range?query=${encodeURIComponent(query)}&start=${start}&limit=5000`,
  )) as { data: { result: { stream: Record<string, string>; values: [string, string][] }[] } };
  return result.data.result.flatMap((r) => r.values.map(([, line]) => ({ stream: r.stream, line })));
}

async function runPanelQuery(query: FoundQuery, probe: Probe, endpoints: Endpoints): Promise<number> {
  const text = interpolate(
    query.query,
    { service: probe.service.name, frontend: '.*', environment: '.*' },
    '2m',
  );
  const now = Date.now();
  if (query.language === 'promql') {
    const result = await promQuery(text, endpoints);
    if (result.status !== 'success') throw new Error(result.error ?? 'query failed');
    return result.data.result.length;
  }
  if (query.language === 'logql') {
    const start = BigInt(now - 3_600_000) * 1_000_000n;
    const result = (await getJson(
      `${endpoints.loki}/loki/api/v1/query_range?query=${encodeURIComponent(text)}&start=${start}&limit=100&step=60`,
    )) as { data: { result: unknown[] } };
    return result.data.result.length;
  }
  const result = (await getJson(
    `${endpoints.tempo}/api/search?q=${encodeURIComponent(text)}&start=${Math.floor(now / 1000) - 3600}&end=${Math.ceil(now / 1000) + 60}&limit=20`,
  )) as { traces?: unknown[] };
  return (result.traces ?? []).length;
}

export interface VerifyOptions {
  outDir: string;
  model: Model;
  progress: (line: string) => void;
  timeoutMs?: number;
  endpoints?: Endpoints;
}

/** Runs the probe and every check against a running stack; never throws for a failed check. */
export async function verifyStack(options: VerifyOptions): Promise<CheckResult[]> {
  const { model, progress } = options;
  const timeout = options.timeoutMs ?? 120_000;
  const endpoints = options.endpoints ?? LOCAL;
  const probe = newProbe(model);
  const results: CheckResult[] = [];
  const check = async (name: string, run: () => Promise<string>) => {
    progress(`checking ${name} …`);
    try {
      results.push({ name, ok: true, detail: await run() });
    } catch (error) {
      results.push({ name, ok: false, detail: (error as Error).message.split('\n')[0]!.slice(0, 300) });
    }
    const last = results.at(-1)!;
    progress(`  ${last.ok ? 'ok' : 'MISSING'}: ${last.detail}`);
  };

  progress(
    `probe: service ${probe.service.name}, route ${probe.route}, trace ${probe.traceId}, request ${probe.requestId}`,
  );
  await sendRequest(model, probe, { traceId: probe.traceId, error: true }, endpoints);
  await sendLog(model, probe, `probe failure for request ${probe.requestId}`, endpoints);
  // a steady trickle of requests so rates and recording rules have samples to work on
  const trickle = setInterval(() => {
    void sendRequest(model, probe, { error: false }, endpoints).catch(() => undefined);
  }, 1000);

  try {
    await check('trace stored in Tempo with its spans', async () => {
      const spans = await eventually(timeout, () => traceInTempo(probe.traceId, endpoints));
      if (spans < 2) throw new Error(`trace ${probe.traceId} has ${spans} span(s), expected 2`);
      return `trace ${probe.traceId}: ${spans} spans`;
    });
    await check('logs in Loki with trace_id and request_id', async () => {
      const query = `{service_name="${probe.service.name}"} | trace_id="${probe.traceId}"`;
      const lines = await eventually(timeout, async () => {
        const found = await lokiLines(query, probe.startedAt, endpoints);
        return found.length > 0 ? found : undefined;
      });
      const withRequestId = lines.filter((l) => JSON.stringify(l).includes(probe.requestId));
      if (withRequestId.length === 0) throw new Error('log line found but without request_id');
      return `${lines.length} line(s) for ${query}`;
    });
    await check('RED metrics in Prometheus with service and route labels', async () => {
      const query = `${SPAN_METRICS.calls}{service_name="${probe.service.name}",http_route="${probe.route}"}`;
      const result = await eventually(timeout, async () => {
        const r = await promQuery(query, endpoints);
        return r.data.result.length > 0 ? r : undefined;
      });
      return `${result.data.result.length} series for ${query}`;
    });
    await check('every recording and alerting rule loaded and evaluating without error', async () => {
      const groups = await eventually(timeout, async () => {
        const rules = (await getJson(`${endpoints.prometheus}/api/v1/rules`)) as {
          data: { groups: { name: string; rules: { name: string; health: string; lastError?: string }[] }[] };
        };
        const all = rules.data.groups.flatMap((g) => g.rules.map((r) => ({ ...r, group: g.name })));
        if (all.length === 0 || all.some((r) => r.health === 'unknown')) return undefined;
        return all;
      });
      const files = (await readdir(path.join(options.outDir, 'alerts'))).filter((f) =>
        f.endsWith('.rules.yml'),
      );
      const failing = groups.filter((r) => r.health !== 'ok');
      if (failing.length > 0)
        throw new Error(
          `${failing.length} rule(s) failing, e.g. ${failing[0]!.group}/${failing[0]!.name}: ${failing[0]!.lastError}`,
        );
      return `${groups.length} rules from ${files.length} files, all healthy`;
    });
    await check('every dashboard query runs; RED and SLO panels return data', async () => {
      const dashboards = (await readdir(path.join(options.outDir, 'grafana/dashboards'))).map(
        (f) => `grafana/dashboards/${f}`,
      );
      const { queries } = await collectQueries(options.outDir, dashboards);
      const mustHaveData = [RULE.routeFrontendRequests, RULE.sloBudgetRemaining];
      // recording rules need two evaluations of a 5m rate before they show anything
      await eventually(timeout, async () => {
        const r = await promQuery(
          `${RULE.sloBudgetRemaining}{service_name="${probe.service.name}"}`,
          endpoints,
        );
        const red = await promQuery(
          `${RULE.routeFrontendRequests}{service_name="${probe.service.name}"}`,
          endpoints,
        );
        return r.data.result.length > 0 && red.data.result.length > 0 ? true : undefined;
      });
      const failures: string[] = [];
      let withData = 0;
      for (const query of queries) {
        try {
          const rows = await runPanelQuery(query, probe, endpoints);
          if (rows > 0) withData++;
          if (rows === 0 && mustHaveData.some((rule) => query.query.includes(rule)))
            failures.push(`${query.where}: no data`);
        } catch (error) {
          failures.push(`${query.where}: ${(error as Error).message.slice(0, 200)}`);
        }
      }
      if (failures.length > 0)
        throw new Error(`${failures.length} query problem(s): ${failures.slice(0, 3).join('; ')}`);
      return `${queries.length} queries ran without error, ${withData} returned data`;
    });
    await check('Alertmanager runs the generated config', async () => {
      const status = (await getJson(`${endpoints.alertmanager}/api/v2/status`)) as {
        config: { original: string };
      };
      const missing = model.alerting.receivers.filter((r) => !status.config.original.includes(r.name));
      if (missing.length > 0)
        throw new Error(`receivers not loaded: ${missing.map((r) => r.name).join(', ')}`);
      return `${model.alerting.receivers.length} receivers loaded`;
    });
  } finally {
    clearInterval(trickle);
  }
  return results;
}

export function summaryTable(results: readonly CheckResult[]): string[] {
  const width = Math.max(...results.map((r) => r.name.length));
  return [
    `${'check'.padEnd(width)}  result`,
    `${'-'.repeat(width)}  ------`,
    ...results.map((r) => `${r.name.padEnd(width)}  ${r.ok ? 'ok' : `MISSING: ${r.detail}`}`),
  ];
}
