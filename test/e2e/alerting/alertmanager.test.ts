import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execa } from 'execa';
import { dump } from 'js-yaml';
import { buildCatalogue, type AlertDefinition } from '../../../generator/alerting/catalogue.ts';
import type { Model } from '../../../generator/model/model.ts';
import { loadSpec } from '../../../generator/spec/load.ts';
import { alertmanagerConfig } from '../../../generator/targets/alertmanager.ts';
import { REPO, freePort, tempDir } from '../../support/helpers.ts';

/**
 * The generated routing and inhibition in a real Alertmanager on loopback: alerts posted to its
 * API, and its own view of which are inhibited and which receiver each reaches.
 */

let model: Model;
let child: ChildProcess | undefined;
let url = '';

interface Seen {
  labels: Record<string, string>;
  status: { state: string; inhibitedBy: string[] };
  receivers: { name: string }[];
}

beforeAll(async () => {
  const built = await execa(path.join(REPO, 'scripts/build-backends.sh'), ['alertmanager'], {
    reject: false,
    all: true,
  });
  if (built.exitCode !== 0) throw new Error(`building alertmanager failed:\n${built.all?.slice(-3000)}`);
  const binary = /^alertmanager=(.*)$/m.exec(built.stdout)![1]!;
  model = (await loadSpec(path.join(REPO, 'examples/shop/otelkit.yaml'))).model;
  const config = alertmanagerConfig(model);
  // receivers keep their names and lose their integrations: routing and inhibition are what is tested
  config.receivers = config.receivers.map((r) => ({ name: r.name })) as typeof config.receivers;
  const dir = await tempDir('alertmanager');
  await writeFile(path.join(dir, 'alertmanager.yml'), dump(config));
  const port = await freePort();
  child = spawn(
    binary,
    [
      `--config.file=${path.join(dir, 'alertmanager.yml')}`,
      `--storage.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=',
    ],
    { stdio: 'ignore' },
  );
  url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 120; i++) {
    if ((await fetch(`${url}/-/ready`).catch(() => undefined))?.ok) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error('Alertmanager did not become ready');
}, 45 * 60_000);

afterAll(() => {
  child?.kill('SIGTERM');
});

const definition = (alert: string): AlertDefinition => {
  const found = buildCatalogue(model).alerts.find((a) => a.rule.alert === alert);
  if (!found) throw new Error(`no alert ${alert} in the shop catalogue`);
  return found;
};

/** The labels a firing alert carries in Prometheus: its name, the expression's and the rule's. */
const firing = (alert: string, extra: Record<string, string> = {}) => {
  const d = definition(alert);
  return {
    labels: { alertname: alert, ...d.exprLabels, ...d.rule.labels, ...extra },
    annotations: d.rule.annotations,
  };
};

async function post(alerts: ReturnType<typeof firing>[]) {
  const response = await fetch(`${url}/api/v2/alerts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(alerts.map((a) => ({ ...a, startsAt: new Date().toISOString() }))),
  });
  expect(response.status).toBe(200);
}

/** Alertmanager's state for each alert name, once every posted alert is known to it. */
async function states(names: string[]): Promise<Record<string, string>> {
  for (let i = 0; i < 60; i++) {
    const seen = (await (await fetch(`${url}/api/v2/alerts`)).json()) as Seen[];
    const byKey = Object.fromEntries(
      seen.map((a) => [[a.labels.alertname, a.labels.exporter].filter(Boolean).join(' '), a.status.state]),
    );
    if (names.every((n) => byKey[n] !== undefined))
      return Object.fromEntries(names.map((n) => [n, byKey[n]!]));
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`Alertmanager did not list ${names.join(', ')}`);
}

describe('Alertmanager inhibition (real Alertmanager)', () => {
  it('a page hides only the tickets of its own SLO, not another SLO of the same service', async () => {
    await post([
      firing('CheckoutAvailabilityBurnRate1h'),
      firing('CheckoutAvailabilityBurnRate1d'),
      firing('CheckoutLatencyBurnRate1d'),
    ]);
    // inhibition settles after the source is in; re-read until stable
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(
      await states([
        'CheckoutAvailabilityBurnRate1h',
        'CheckoutAvailabilityBurnRate1d',
        'CheckoutLatencyBurnRate1d',
      ]),
    ).toEqual({
      CheckoutAvailabilityBurnRate1h: 'active',
      CheckoutAvailabilityBurnRate1d: 'suppressed',
      CheckoutLatencyBurnRate1d: 'active',
    });
  });

  it('an open circuit breaker hides warnings about that dependency only', async () => {
    expect(definition('CheckoutPaymentGatewayCircuitBreakerOpen').rule.labels.severity).toBe('critical');
    await post([
      firing('CheckoutPaymentGatewayCircuitBreakerOpen'),
      firing('CheckoutPaymentGatewayTimeouts'),
      firing('CheckoutOrdersDbTimeouts'),
    ]);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(
      await states([
        'CheckoutPaymentGatewayCircuitBreakerOpen',
        'CheckoutPaymentGatewayTimeouts',
        'CheckoutOrdersDbTimeouts',
      ]),
    ).toEqual({
      CheckoutPaymentGatewayCircuitBreakerOpen: 'active',
      CheckoutPaymentGatewayTimeouts: 'suppressed',
      CheckoutOrdersDbTimeouts: 'active',
    });
  });

  it('data loss on one exporter hides that exporter’s early warning, not another’s', async () => {
    await post([
      firing('CollectorDroppingData', { exporter: 'otlp_grpc/tempo' }),
      firing('CollectorExporterQueueGrowing', { exporter: 'otlp_grpc/tempo' }),
      firing('CollectorExporterQueueGrowing', { exporter: 'otlp_http/loki' }),
    ]);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(
      await states([
        'CollectorDroppingData otlp_grpc/tempo',
        'CollectorExporterQueueGrowing otlp_grpc/tempo',
        'CollectorExporterQueueGrowing otlp_http/loki',
      ]),
    ).toEqual({
      'CollectorDroppingData otlp_grpc/tempo': 'active',
      'CollectorExporterQueueGrowing otlp_grpc/tempo': 'suppressed',
      'CollectorExporterQueueGrowing otlp_http/loki': 'active',
    });
  });

  it('the Watchdog reaches only its own receiver and is never inhibited', async () => {
    await post([firing('Watchdog')]);
    for (let i = 0; i < 60; i++) {
      const seen = (await (await fetch(`${url}/api/v2/alerts`)).json()) as Seen[];
      const watchdog = seen.find((a) => a.labels.alertname === 'Watchdog');
      if (watchdog) {
        expect({ state: watchdog.status.state, receivers: watchdog.receivers.map((r) => r.name) }).toEqual({
          state: 'active',
          receivers: ['watchdog'],
        });
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new Error('Alertmanager did not list the Watchdog');
  });
});
