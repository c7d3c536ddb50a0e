import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { load } from 'js-yaml';
import { DATASOURCES, DASHBOARD_NAMES } from '../../../generator/dashboards/common.ts';
import { collectQueries } from '../../../generator/validate/dashboards.ts';
import { checkQueries, dashboardQueries, syntaxErrors } from '../../../generator/validate/queries.ts';
import { REPO } from '../../support/helpers.ts';

const OUTPUTS = { shop: REPO, gateway: path.join(REPO, 'test/golden/gateway') };

async function generatedFiles(dir: string) {
  const entries = await readdir(dir, { recursive: true });
  return entries
    .map((e) => e.split(path.sep).join('/'))
    .filter((f) => /^(grafana|alerts)\//.test(f) && /\.(json|yaml|yml)$/.test(f) && !f.includes('/tests/'));
}

describe('Grafana dashboards and provisioning', () => {
  it.each(Object.entries(OUTPUTS))(
    '%s: every query parses, uses a provisioned datasource and reads a produced metric',
    async (_, dir) => {
      const { queries, recorded, datasourceUids } = await collectQueries(dir, await generatedFiles(dir));
      expect(queries.filter((q) => q.language === 'logql').length).toBeGreaterThan(2);
      expect(queries.filter((q) => q.language === 'traceql').length).toBeGreaterThan(1);
      expect(checkQueries(queries, { datasourceUids, recordedMetrics: recorded })).toEqual([]);
    },
  );

  it('a deliberately broken query makes the checks fail', () => {
    const broken = {
      panels: [
        {
          title: 'broken',
          targets: [
            { refId: 'A', datasource: DATASOURCES.prometheus, expr: 'sum(rate(service:requests:rate5m[5m]' },
            { refId: 'B', datasource: DATASOURCES.prometheus, expr: 'rate(made_up_metric_total[5m])' },
            { refId: 'C', datasource: { type: 'loki', uid: 'nowhere' }, expr: '{service_name="a"} |= ' },
            { refId: 'D', datasource: DATASOURCES.tempo, query: '{ resource.service.name = }' },
          ],
        },
      ],
    };
    const problems = checkQueries(dashboardQueries('fixture.json', broken), {
      datasourceUids: Object.values(DATASOURCES).map((d) => d.uid),
      recordedMetrics: ['service:requests:rate5m'],
    }).map((p) => `${p.where}: ${p.message}`);
    expect(problems).toEqual([
      expect.stringMatching(/panel "broken" A: promql syntax error/),
      expect.stringMatching(/panel "broken" B: metric made_up_metric_total is produced by nothing/),
      expect.stringMatching(/panel "broken" C: logql syntax error/),
      expect.stringMatching(/panel "broken" C: datasource uid "nowhere" is not provisioned/),
      expect.stringMatching(/panel "broken" D: traceql syntax error/),
    ]);
    expect(
      syntaxErrors('promql', 'histogram_quantile(0.9, sum by (le) (rate(x_bucket[$__rate_interval])))'),
    ).toEqual([]);
  });

  it('provisions Prometheus, Loki, Tempo and Alertmanager wired to each other', async () => {
    const provisioning = load(
      await readFile(path.join(REPO, 'grafana/provisioning/datasources/otelkit.yaml'), 'utf8'),
    ) as { datasources: { uid: string; jsonData: Record<string, unknown> }[] };
    const byUid = Object.fromEntries(provisioning.datasources.map((d) => [d.uid, d.jsonData]));
    expect(Object.keys(byUid).sort()).toEqual(
      Object.values(DATASOURCES)
        .map((d) => d.uid)
        .sort(),
    );
    expect(byUid[DATASOURCES.prometheus.uid]).toMatchObject({
      exemplarTraceIdDestinations: [{ name: 'trace_id', datasourceUid: DATASOURCES.tempo.uid }],
    });
    expect(byUid[DATASOURCES.loki.uid]).toMatchObject({
      derivedFields: [
        {
          matcherType: 'label',
          matcherRegex: 'trace_id',
          datasourceUid: DATASOURCES.tempo.uid,
          url: '$${__value.raw}',
        },
      ],
    });
    expect(byUid[DATASOURCES.tempo.uid]).toMatchObject({
      tracesToLogsV2: { datasourceUid: DATASOURCES.loki.uid, customQuery: true, filterByTraceID: false },
      tracesToMetrics: { datasourceUid: DATASOURCES.prometheus.uid },
      serviceMap: { datasourceUid: DATASOURCES.prometheus.uid },
      nodeGraph: { enabled: true },
    });
  });

  it('has the seven dashboards with stable uids, shared tags, variables and runbook links', async () => {
    const files = (await readdir(path.join(REPO, 'grafana/dashboards'))).sort();
    expect(files).toEqual([...DASHBOARD_NAMES].map((n) => `${n}.json`).sort());
    for (const name of DASHBOARD_NAMES) {
      const json = JSON.parse(await readFile(path.join(REPO, 'grafana/dashboards', `${name}.json`), 'utf8'));
      expect(json.uid).toBe(`shop-${name}`);
      expect(json.tags).toContain('otelkit-shop');
      expect(json.links[0]).toMatchObject({ type: 'dashboards', tags: ['otelkit-shop'] });
      expect(json.templating.list.map((v: { name: string }) => v.name)).toContain('environment');
      expect(json.panels.length).toBeGreaterThanOrEqual(3);
    }
    const overview = await readFile(path.join(REPO, 'grafana/dashboards/overview.json'), 'utf8');
    expect(overview).toContain(
      'https://github.com/example/shop/blob/main/runbooks/${__data.fields.alertname}.md',
    );
  });
});
