import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { execa } from 'execa';
import { dump, load } from 'js-yaml';
import {
  buildCatalogue,
  oneFailureSeries,
  type AlertDefinition,
} from '../../../generator/alerting/catalogue.ts';
import { render, specLabel } from '../../../generator/emit/emit.ts';
import type { Model } from '../../../generator/model/model.ts';
import { loadSpec } from '../../../generator/spec/load.ts';
import { expectedAlerts } from '../../../generator/targets/alert-tests.ts';
import { generateArtifacts } from '../../../generator/targets/index.ts';
import { parseDuration } from '../../../generator/model/duration.ts';
import { REPO, tempDir } from '../../support/helpers.ts';

/**
 * Burn-rate alerts for SLO periods other than the workbook's 30 days (factors kept, windows
 * scaled), and at low traffic (one failed request never pages), proven with the real promtool.
 */

const PERIODS = ['7d', '14d', '28d', '30d'];
const WORKBOOK_FACTORS = [14.4, 6, 3, 1];

const spec = `version: 1
project: burn
services:
  - name: api
    runtime: node
    team: core
    routes: ["/items/{id}"]
    slos:
${PERIODS.map((period) => `      - { name: avail-${period}, kind: availability, objective: 99.9, period: ${period} }`).join('\n')}
alerting:
  default_receiver: hook
  receivers:
    - name: hook
      type: webhook
      url: http://host.docker.internal:9095/
`;

let dir: string;
let model: Model;
let promtool: string;

beforeAll(async () => {
  const built = await execa(path.join(REPO, 'scripts/build-backends.sh'), ['promtool'], {
    reject: false,
    all: true,
  });
  if (built.exitCode !== 0) throw new Error(`building promtool failed:\n${built.all?.slice(-3000)}`);
  promtool = /^promtool=(.*)$/m.exec(built.stdout)![1]!;
  dir = await tempDir('burn-rates');
  const specFile = path.join(dir, 'otelkit.yaml');
  await writeFile(specFile, spec);
  model = (await loadSpec(specFile)).model;
  for (const [relative, content] of render(generateArtifacts(model), specLabel(specFile, dir))) {
    if (!relative.startsWith('alerts/')) continue;
    await mkdir(path.dirname(path.join(dir, relative)), { recursive: true });
    await writeFile(path.join(dir, relative), content);
  }
}, 45 * 60_000);

const burnAlerts = (period?: string) =>
  buildCatalogue(model).alerts.filter(
    (a) =>
      a.rule.labels.alertgroup === 'slo' && (period === undefined || a.exprLabels.slo === `avail-${period}`),
  );

const thresholdOf = (definition: AlertDefinition) =>
  Number(/ > ([0-9.e-]+) and /.exec(definition.rule.expr)![1]);

const runPromtool = (file: string) =>
  execa(promtool, ['test', 'rules', file], { cwd: path.join(dir, 'alerts/tests'), reject: false, all: true });

describe('burn-rate alerts for every SLO period', () => {
  it.each(PERIODS)(
    '%s: the workbook factors, never below 1, in the rule each alert loads',
    async (period) => {
      const alerts = burnAlerts(period);
      expect(alerts.map((a) => Number((thresholdOf(a) / 0.001).toFixed(6)))).toEqual(WORKBOOK_FACTORS);
      // the rule file Prometheus loads says the same as the catalogue
      const rules = load(await readFile(path.join(dir, 'alerts/slo-api.rules.yml'), 'utf8')) as {
        groups: { rules: { alert?: string; expr: string }[] }[];
      };
      for (const alert of alerts) {
        const loaded = rules.groups[0]!.rules.find((r) => r.alert === alert.rule.alert)!;
        expect(loaded.expr).toBe(alert.rule.expr);
      }
    },
  );

  it.each(PERIODS)(
    '%s: the fire case burns just over the workbook rate and the silent case just under',
    (period) => {
      for (const alert of burnAlerts(period)) {
        const ratioOf = (caseName: string) => {
          const input = alert.cases.find((c) => c.name === caseName)!.input;
          const perStep = (name: string) =>
            Number(/^0\+([0-9.]+)x/.exec(input.find((s) => s.series.includes(name))!.values)![1]);
          const bad = perStep('STATUS_CODE_ERROR');
          return bad / (bad + perStep('STATUS_CODE_UNSET')) / thresholdOf(alert);
        };
        expect(ratioOf('fires')).toBeCloseTo(1.1, 3);
        expect(ratioOf('stays silent just under the threshold')).toBeCloseTo(0.9, 3);
      }
    },
  );

  it(
    'promtool: each window pair fires at its burn rate, stays silent just under it, and resolves, for 7d, 14d, 28d and 30d',
    async () => {
      const files = (await readdir(path.join(dir, 'alerts/tests'))).filter((f) => f.startsWith('slo-api'));
      expect(files).toHaveLength(2); // the page windows at 1m, the ticket windows at 5m
      for (const file of files) {
        const result = await runPromtool(file);
        expect({ file, exitCode: result.exitCode, output: result.all }).toEqual({
          file,
          exitCode: 0,
          output: expect.stringMatching(/SUCCESS/),
        });
      }
    },
    20 * 60_000,
  );
});

describe('low traffic: 80 requests an hour on a 99.9 % SLO', () => {
  const perStep = 80 / 240; // requests per 15s sample

  it(
    'one failed request fires no burn alert of any period (promtool)',
    async () => {
      const service = model.services[0]!;
      // pages at a 1m step, tickets at 5m (as the generated tests do), each past its longest window
      const tests = PERIODS.flatMap((period) => {
        const slo = service.slos.find((s) => s.name === `avail-${period}`)!;
        return (['page', 'ticket'] as const).map((tier) => {
          const alerts = burnAlerts(period).filter((a) => a.rule.labels.tier === tier);
          // pages sampled every 15s (the default scrape interval: a 7d SLO's short window is 1m), tickets
          // every minute (the long windows sum the 5m base rates, which need several samples too)
          const stepS = tier === 'page' ? 15 : 60;
          const evalMin = tier === 'page' ? 1 : 5;
          const longestMin = Math.max(...alerts.map((a) => parseDuration(a.rule.labels.window!)! / 60_000));
          const errorMin = 60;
          // whole steps of both intervals
          const endMin = errorMin + Math.ceil((longestMin + 60) / 5) * 5;
          // every evaluation of the first two hours after the failure, then every ten
          const evalMins = Array.from(
            { length: (endMin - errorMin) / evalMin + 1 },
            (_, i) => errorMin + i * evalMin,
          ).filter((m) => m - errorMin < 120 || (m / evalMin) % 10 === 0);
          return {
            name: `one failure at 80 requests/h, ${period}, ${tier} windows`,
            interval: `${stepS}s`,
            input_series: oneFailureSeries(
              service,
              slo,
              (80 * stepS) / 3600,
              (errorMin * 60) / stepS,
              (endMin * 60) / stepS,
            ),
            alert_rule_test: alerts.flatMap((a) =>
              evalMins.map((m) => ({
                eval_time: `${m}m`,
                alertname: a.rule.alert,
                exp_alerts: [],
              })),
            ),
          };
        });
      });
      for (const [tier, interval] of [
        ['page', '1m'],
        ['ticket', '5m'],
      ]) {
        const file = `one-failure-${tier}.test.yml`;
        await writeFile(
          path.join(dir, 'alerts/tests', file),
          dump(
            {
              rule_files: ['../recording.rules.yml', '../slo-api.rules.yml'],
              evaluation_interval: interval,
              tests: tests.filter((t) => t.name.endsWith(`${tier} windows`)),
            },
            { lineWidth: -1 },
          ),
        );
        const result = await runPromtool(file);
        expect({ file, exitCode: result.exitCode, output: result.all }).toEqual({
          file,
          exitCode: 0,
          output: expect.stringMatching(/SUCCESS/),
        });
      }
    },
    20 * 60_000,
  );

  it(
    'a real burn at the same traffic (10 % of requests failing) still pages, for every period (promtool)',
    async () => {
      const service = model.services[0]!;
      const labels = {
        service_name: service.name,
        span_kind: 'SPAN_KIND_SERVER',
        http_route: service.routes[0]!,
      };
      const seriesOf = (status: string) =>
        `traces_span_metrics_calls_total{${Object.entries({ ...labels, status_code: status })
          .map(([k, v]) => `${k}="${v}"`)
          .join(', ')}}`;
      const burnSteps = 3 * 240; // 3h at 15s
      const tests = PERIODS.map((period) => {
        const page = burnAlerts(period).find(
          (a) => a.rule.labels.tier === 'page' && a.rule.labels.severity === 'critical',
        )!;
        return {
          name: `10% failing at 80 requests/h pages, ${period}`,
          interval: '15s',
          input_series: [
            { series: seriesOf('STATUS_CODE_UNSET'), values: `0+${perStep * 0.9}x${burnSteps}` },
            { series: seriesOf('STATUS_CODE_ERROR'), values: `0+${perStep * 0.1}x${burnSteps}` },
          ],
          alert_rule_test: [
            { eval_time: '3h', alertname: page.rule.alert, exp_alerts: expectedAlerts(page) },
          ],
        };
      });
      await writeFile(
        path.join(dir, 'alerts/tests/real-burn.test.yml'),
        dump(
          {
            rule_files: ['../recording.rules.yml', '../slo-api.rules.yml'],
            evaluation_interval: '1m',
            tests,
          },
          { lineWidth: -1 },
        ),
      );
      const result = await runPromtool('real-burn.test.yml');
      expect({ exitCode: result.exitCode, output: result.all }).toEqual({
        exitCode: 0,
        output: expect.stringMatching(/SUCCESS/),
      });
    },
    20 * 60_000,
  );
});
