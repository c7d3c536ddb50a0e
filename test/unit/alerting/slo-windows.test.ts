import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { buildCatalogue, type RuleFile } from '../../../generator/alerting/catalogue.ts';
import { RULE } from '../../../generator/model/rule-names.ts';
import { longWindowsMs, sloWindowsMs } from '../../../generator/model/slo.ts';
import { DAY_MS, HOUR_MS, formatDuration } from '../../../generator/model/duration.ts';
import { loadSpec } from '../../../generator/spec/load.ts';
import { REPO, tempDir } from '../../support/helpers.ts';

/**
 * SLO long windows are summed from pre-aggregated base rates (model/slo.ts, BASE_WINDOW_MS): which
 * windows, in which rule group and order, and that the raw rules stay buildable for bench:rules.
 * promtool proves the values (the generated recording cases in alerts/tests).
 */

const RECORDED = /\b(?:service|service_route|service_route_frontend|slo):[a-z_]+:[a-z0-9_]+\b/g;

const example = async (name: string) =>
  (await loadSpec(path.join(REPO, 'examples', name, 'otelkit.yaml'))).model;

const sloFiles = (files: RuleFile[]) => files.filter((f) => f.file.startsWith('slo-'));

describe.each(['shop', 'gateway'])('SLO rules of examples/%s', (name) => {
  it('read only series their own group records earlier, so one evaluation sees one timestamp', async () => {
    const { files } = buildCatalogue(await example(name));
    const recordedAnywhere = new Set(files.flatMap((f) => f.recording.map((r) => r.record)));
    for (const file of sloFiles(files)) {
      const before = new Set<string>();
      const late: string[] = [];
      const exprs = [
        ...file.recording.map((r) => ({ name: r.record, expr: r.expr })),
        ...file.alerts.map((a) => ({ name: a.rule.alert, expr: a.rule.expr })),
      ];
      for (const { name: rule, expr } of exprs) {
        for (const read of expr.match(RECORDED) ?? []) {
          expect(recordedAnywhere).toContain(read);
          if (!before.has(read)) late.push(`${file.groupName}: ${rule} reads ${read} before it is recorded`);
        }
        before.add(rule);
      }
      expect(late).toEqual([]);
    }
  });

  it('sum every long window of an hour or more from the 5m base rates, and read the short windows raw', async () => {
    const model = await example(name);
    for (const service of model.services) {
      const file = buildCatalogue(model).files.find((f) => f.file === `slo-${service.name}`);
      for (const slo of service.slos) {
        const rules = new Map(
          file!.recording.filter((r) => r.labels?.slo === slo.name).map((r) => [r.record, r.expr]),
        );
        const bad = `${RULE.sloErrors(5 * 60_000)}{service_name="${service.name}",slo="${slo.name}"}`;
        const all = `${RULE.sloRequests(5 * 60_000)}{service_name="${service.name}",slo="${slo.name}"}`;
        expect(rules.get(RULE.sloErrors(5 * 60_000))).toMatch(/^sum\(rate\(traces_span_metrics_/);
        for (const ms of [...sloWindowsMs(slo.periodMs), slo.periodMs]) {
          const expr = rules.get(RULE.sloErrorRatio(ms))!;
          if (ms === 5 * 60_000) expect(expr).toBe(`${bad} / ${all}`);
          else if (ms >= HOUR_MS && longWindowsMs(slo.periodMs).includes(ms))
            expect(expr).toMatch(/^sum_over_time\(slo:sli_errors:rate5m\{.*\}\[\w+\]\) \/ sum_over_time\(/);
          else expect(expr).toMatch(/^\(?(1 - \()?sum\(rate\(traces_span_metrics_/);
        }
        expect(rules.get(RULE.sloErrorRatio(slo.periodMs))).toContain(`[${formatDuration(slo.periodMs)}]`);
        // the traffic guards' request rates too
        for (const ms of longWindowsMs(slo.periodMs).filter((w) => w >= HOUR_MS && w !== slo.periodMs))
          expect(rules.get(RULE.sloRequests(ms))).toMatch(
            /^sum_over_time\(slo:sli_requests:rate5m\{.*\}\[\w+\]\) \/ count_over_time\(slo:sli_requests:rate5m\{.*\}\[5m\]\) \* [0-9.e-]+$/,
          );
      }
    }
  });

  it('can still be built with every window read raw (bench:rules measures against it), as before', async () => {
    const model = await example(name);
    for (const file of sloFiles(buildCatalogue(model, { sloWindows: 'raw' }).files)) {
      expect(file.recording.map((r) => r.expr).join('\n')).not.toMatch(/_over_time|slo:sli_errors:/);
      expect(file.recordingCases).toEqual([]);
      // the same alerts, reading the same recorded names
      const generated = buildCatalogue(model).files.find((f) => f.file === file.file)!;
      expect(file.alerts.map((a) => a.rule.expr)).toEqual(generated.alerts.map((a) => a.rule.expr));
    }
  });
});

describe('periods other than 30 days', () => {
  it('a 7d SLO sums its 84m and longer long windows and reads 14m raw; a slow scrape widens the base window', async () => {
    const dir = await tempDir('slo-windows');
    const specFile = path.join(dir, 'otelkit.yaml');
    const spec = (scrape: string) => `version: 1
project: windows
signals: { metrics: { scrape_interval: ${scrape}, retention: 90d } }
services:
  - name: api
    runtime: node
    team: core
    routes: ["/items/{id}"]
    slos:
      - { name: avail, kind: availability, objective: 99.9, period: ${scrape === '15s' ? '7d' : '60d'} }
alerting:
  default_receiver: hook
  receivers:
    - { name: hook, type: webhook, url: "http://host.docker.internal:9095/" }
`;
    await writeFile(specFile, spec('15s'));
    const week = buildCatalogue((await loadSpec(specFile)).model).files.find((f) => f.file === 'slo-api')!;
    const expr = (record: string) => week.recording.find((r) => r.record === record)!.expr;
    expect(expr(RULE.sloErrorRatio(14 * 60_000))).toMatch(/^\(sum\(rate\(/);
    for (const minutes of [84, 336, 1008, 7 * 24 * 60])
      expect(expr(RULE.sloErrorRatio(minutes * 60_000))).toMatch(/^sum_over_time\(slo:sli_errors:rate5m/);

    // four 2m scrapes do not fit in 5m: the base window is 8m (and the period long enough for 2m scrapes)
    await writeFile(specFile, spec('2m'));
    const slow = buildCatalogue((await loadSpec(specFile)).model).files.find((f) => f.file === 'slo-api')!;
    const records = slow.recording.map((r) => r.record);
    expect(records).toContain(RULE.sloErrors(8 * 60_000));
    expect(records).not.toContain(RULE.sloErrors(5 * 60_000));
    expect(slow.recording.find((r) => r.record === RULE.sloErrorRatio(60 * DAY_MS))!.expr).toMatch(
      /^sum_over_time\(slo:sli_errors:rate8m/,
    );
  });
});
