/** OTLP/HTTP JSON spans, as any SDK sends them, for tests that feed a real Collector. */
import { randomBytes } from 'node:crypto';

export const SPAN_KIND = { internal: 1, server: 2, client: 3 } as const;
export const STATUS = { unset: 0, ok: 1, error: 2 } as const;

export interface TestSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: keyof typeof SPAN_KIND;
  attributes?: Record<string, string | number>;
  error?: boolean;
  /** Start, in ms since the epoch (now by default). */
  startMs?: number;
  durationMs?: number;
}

export const traceId = () => randomBytes(16).toString('hex');
export const spanId = () => randomBytes(8).toString('hex');

const value = (v: string | number) => (typeof v === 'number' ? { intValue: String(v) } : { stringValue: v });
const nanos = (ms: number) => `${BigInt(Math.round(ms * 1000)) * 1000n}`;

export function tracesBody(spans: readonly TestSpan[]) {
  const byService = new Map<string, TestSpan[]>();
  for (const s of spans) byService.set(s.service, [...(byService.get(s.service) ?? []), s]);
  return {
    resourceSpans: [...byService].map(([service, list]) => ({
      resource: { attributes: [{ key: 'service.name', value: value(service) }] },
      scopeSpans: [
        {
          scope: { name: 'otelkit-test' },
          spans: list.map((s) => {
            const start = s.startMs ?? Date.now();
            return {
              traceId: s.traceId,
              spanId: s.spanId,
              ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
              name: s.name,
              kind: SPAN_KIND[s.kind],
              startTimeUnixNano: nanos(start),
              endTimeUnixNano: nanos(start + (s.durationMs ?? 5)),
              attributes: Object.entries(s.attributes ?? {}).map(([key, v]) => ({ key, value: value(v) })),
              status: { code: s.error ? STATUS.error : STATUS.unset },
            };
          }),
        },
      ],
    })),
  };
}

/** Posts spans to a Collector's OTLP/HTTP receiver; throws unless the Collector accepted them. */
export async function sendSpans(httpPort: number, spans: readonly TestSpan[]) {
  const response = await fetch(`http://127.0.0.1:${httpPort}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(tracesBody(spans)),
  });
  if (!response.ok) throw new Error(`Collector refused spans: ${response.status} ${await response.text()}`);
}
