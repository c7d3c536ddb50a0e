import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { execa } from 'execa';
import { dump, load } from 'js-yaml';
import { buildCatalogue } from '../../../generator/alerting/catalogue.ts';
import { render } from '../../../generator/emit/emit.ts';
import type { Model } from '../../../generator/model/model.ts';
import { loadSpec } from '../../../generator/spec/load.ts';
import { expectedAlerts } from '../../../generator/targets/alert-tests.ts';
import { generateArtifacts } from '../../../generator/targets/index.ts';
import { REPO, tempDir } from '../../support/helpers.ts';

/**
 * Gateway mode: Prometheus scrapes every gateway Collector as well as the agent, and the
 * Collector alerts name the instance, so a gateway that dies or loses data is seen (real promtool).
 */

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let model: Model;
const files = new Map<string, string>();
let promtool: string;

beforeAll(async () => {
  const built = await execa(path.join(REPO, 'scripts/build-backends.sh'), ['promtool'], {
    reject: false,
    all: true,
  });
  if (built.exitCode !== 0) throw new Error(`building promtool failed:\n${built.all?.slice(-3000)}`);
  promtool = /^promtool=(.*)$/m.exec(built.stdout)![1]!;
  model = (await loadSpec(path.join(REPO, 'examples/gateway/otelkit.yaml'))).model;
  for (const [relative, content] of render(generateArtifacts(model), 'examples/gateway/otelkit.yaml'))
    files.set(relative, content);
}, 45 * 60_000);

const collectorTargets = () => {
  const config = load(files.get('stacks/prometheus/prometheus.yml')!) as Json;
  const job = (config.scrape_configs as Json[]).find((j) => j.job_name === 'otel-collector')!;
  return (job.static_configs as Json[]).flatMap((c) => c.targets as string[]);
};

describe('gateway Collectors are scraped and alerted on', () => {
  it('the Collector job scrapes the agent and every gateway replica at its compose name and metrics port', () => {
    expect(model.collector.mode).toBe('gateway');
    const compose = load(files.get('compose/docker-compose.yml')!) as Json;
    const gateways = Object.keys(compose.services).filter((name) =>
      name.startsWith('otel-collector-gateway'),
    );
    expect(gateways).toHaveLength(model.collector.gatewayReplicas);
    const gatewayConfig = load(files.get('stacks/collector/gateway.yaml')!) as Json;
    const port = gatewayConfig.service.telemetry.metrics.readers[0].pull.exporter.prometheus.port;
    expect(gatewayConfig.service.telemetry.metrics.readers[0].pull.exporter.prometheus.host).toBe('0.0.0.0');
    expect(collectorTargets().sort()).toEqual(
      [`otel-collector:${port}`, ...gateways.map((name) => `${name}:${port}`)].sort(),
    );
  });

  it('CollectorDown and the pipeline alerts fire for a gateway, naming it (promtool)', async () => {
    const gateway = collectorTargets().find((t) => t.startsWith('otel-collector-gateway'))!;
    const { alerts } = buildCatalogue(model);
    const down = alerts.find((a) => a.rule.alert === 'CollectorDown')!;
    const lost = alerts.find((a) => a.rule.alert === 'CollectorDroppingData')!;
    const dir = await tempDir('gateway-alerts');
    await writeFile(path.join(dir, 'targets.rules.yml'), files.get('alerts/targets.rules.yml')!);
    await writeFile(path.join(dir, 'pipeline.rules.yml'), files.get('alerts/pipeline.rules.yml')!);
    const at = (definition: typeof down) =>
      expectedAlerts({ ...definition, exprLabels: { ...definition.exprLabels, instance: gateway } });
    const tests = {
      rule_files: ['targets.rules.yml', 'pipeline.rules.yml'],
      evaluation_interval: '1m',
      tests: [
        {
          name: 'a gateway down, the agent up',
          interval: '1m',
          input_series: collectorTargets().map((instance) => ({
            series: `up{job="otel-collector", instance="${instance}"}`,
            values: instance === gateway ? '0x10' : '1x10',
          })),
          alert_rule_test: [{ eval_time: '5m', alertname: 'CollectorDown', exp_alerts: at(down) }],
        },
        {
          name: 'a gateway drops data',
          interval: '1m',
          input_series: [
            {
              series: `otelcol_exporter_enqueue_failed_spans{job="otel-collector", instance="${gateway}", exporter="${lost.exprLabels.exporter}"}`,
              values: '0+10x20',
            },
          ],
          alert_rule_test: [{ eval_time: '8m', alertname: 'CollectorDroppingData', exp_alerts: at(lost) }],
        },
      ],
    };
    await writeFile(path.join(dir, 'gateway.test.yml'), dump(tests, { lineWidth: -1 }));
    const result = await execa(promtool, ['test', 'rules', 'gateway.test.yml'], {
      cwd: dir,
      reject: false,
      all: true,
    });
    expect({ exitCode: result.exitCode, output: result.all }).toEqual({
      exitCode: 0,
      output: expect.stringMatching(/SUCCESS/),
    });
  });
});
