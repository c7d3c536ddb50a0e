/**
 * Grafana's Tempo → Loki link, run against a real Loki on the generated config: the query is
 * built exactly as Grafana builds it from the provisioned datasource (provisioning turns `$$`
 * into `$`, then `${__tags}` becomes the mapped span tags and `${__span.traceId}` the trace id).
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { DATASOURCES } from '../../../generator/dashboards/common.ts';
import { datasources } from '../../../generator/targets/grafana.ts';
import { lokiConfig } from '../../../generator/targets/loki.ts';
import { exampleModel } from '../../support/collector-spec.ts';
import { spanId, traceId } from '../../support/otlp.ts';
import { startLoki, type Loki } from '../../support/processes.ts';

type Tag = { key: string; value?: string };
interface TracesToLogs {
  tags: Tag[];
  customQuery?: boolean;
  query?: string;
  filterByTraceID?: boolean;
}

/** Grafana's getFormattedTags: configured tags present on the span, as `label="value"` pairs. */
function formattedTags(configured: Tag[], spanTags: Record<string, string>) {
  return configured
    .filter((tag) => spanTags[tag.key] !== undefined)
    .map((tag) => `${tag.value ?? tag.key}="${spanTags[tag.key]}"`)
    .join(', ');
}

function interpolate(template: string, vars: Record<string, string>) {
  return template.replace(/\$\{([^}]+)\}/g, (whole, name: string) => vars[name] ?? whole);
}

let loki: Loki | undefined;
afterAll(async () => loki?.stop());

describe('traces → logs link (real Loki)', () => {
  it("finds the span's log line by its trace_id structured metadata", async () => {
    const model = await exampleModel('shop');
    loki = await startLoki(lokiConfig(model) as Record<string, unknown>);
    const trace = traceId();
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const pushed = await fetch(`${loki.url}/otlp/v1/logs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        resourceLogs: [
          {
            resource: { attributes: [{ key: 'service.name', value: { stringValue: 'storefront' } }] },
            scopeLogs: [
              {
                logRecords: [
                  {
                    timeUnixNano: String(nowNs),
                    severityText: 'ERROR',
                    body: { stringValue: 'payment declined' },
                    traceId: trace,
                    spanId: spanId(),
                  },
                ],
              },
            ],
          },
        ],
      }),
    });
    expect(pushed.status).toBeLessThan(300);

    const tempo = datasources().datasources.find((d) => d.uid === DATASOURCES.tempo.uid)!;
    const link = (tempo.jsonData as { tracesToLogsV2: TracesToLogs }).tracesToLogsV2;
    expect(link.customQuery).toBe(true);
    const vars = {
      __tags: formattedTags(link.tags, { 'service.name': 'storefront' }),
      '__span.traceId': trace,
    };
    const provisioned = link.query!.replaceAll('$$', '$');
    const query = interpolate(provisioned, vars);
    // what filterByTraceID builds: a line filter on the body
    const lineFilter = interpolate('{${__tags}} |="${__span.traceId}"', vars);

    const lines = async (expr: string) => {
      const params = new URLSearchParams({
        query: expr,
        start: String(nowNs - 600_000_000_000n),
        end: String(nowNs + 60_000_000_000n),
      });
      const response = await fetch(`${loki!.url}/loki/api/v1/query_range?${params}`);
      const body = (await response.json()) as {
        data: { result: { stream: Record<string, string>; values: [string, string][] }[] };
      };
      return body.data.result.flatMap((r) => r.values.map(([, line]) => ({ line, labels: r.stream })));
    };
    const found = await (async () => {
      for (let i = 0; i < 60; i++) {
        const result = await lines(query);
        if (result.length > 0) return result;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      return [];
    })();
    expect(query).toBe(`{service_name="storefront"} | trace_id="${trace}"`);
    expect(found.map((f) => f.line)).toEqual(['payment declined']);
    // the Loki derived field (matcherType: label) reads this to link back to the trace
    expect(found[0]!.labels.trace_id).toBe(trace);
    expect(await lines(lineFilter)).toEqual([]);
  }, 180_000);
});
