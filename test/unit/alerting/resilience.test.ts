import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { buildCatalogue } from '../../../generator/alerting/catalogue.ts';
import { loadSpec } from '../../../generator/spec/load.ts';
import { BREAKER_STATE_VALUE } from '../../../runtime/node/instrument/resilience.ts';
import { REPO } from '../../support/helpers.ts';

/**
 * The resilience alerts read `circuit_breaker_state` in the standard's encoding (seeds/003,
 * "Resilience metrics": 0=closed, 1=half-open, 2=open) and page or warn as its alert categories say:
 * an open breaker is critical, a half-open one a warning; its example thresholds where it gives them.
 */

const STANDARD_STATE = { closed: 0, half_open: 1, open: 2 };

const example = async (name: string) =>
  (await loadSpec(path.join(REPO, 'examples', name, 'otelkit.yaml'))).model;

describe.each(['shop', 'gateway'])('resilience alerts of examples/%s', (name) => {
  it('pages on an open breaker and warns on a half-open one, for every breaker', async () => {
    const model = await example(name);
    const { alerts } = buildCatalogue(model);
    const breakers = model.services.flatMap((s) =>
      s.dependencies.filter((d) => d.circuitBreaker).map((d) => ({ service: s.name, dependency: d.name })),
    );
    expect(breakers.length).toBeGreaterThan(0);
    expect(BREAKER_STATE_VALUE).toEqual(STANDARD_STATE);
    for (const { service, dependency } of breakers) {
      const mine = alerts.filter(
        (a) =>
          a.rule.labels.alertgroup === 'resilience' &&
          a.rule.expr.includes('circuit_breaker_state') &&
          a.rule.expr.includes(`service_name="${service}"`) &&
          a.rule.expr.includes(`dependency="${dependency}"`),
      );
      const bySeverity = Object.fromEntries(
        mine.map((a) => [a.rule.labels.severity, /\) == (\d)$/.exec(a.rule.expr)?.[1]]),
      );
      expect(bySeverity).toEqual({
        critical: String(STANDARD_STATE.open),
        warning: String(STANDARD_STATE.half_open),
      });
      for (const alert of mine) expect(alert.runbook).toBeDefined();
    }
  });

  it('watches worker pools by the standard’s pool_type, one alert per service, at > 0.9 for 5m', async () => {
    const model = await example(name);
    const { alerts } = buildCatalogue(model);
    const pools = alerts.filter((a) => a.rule.expr.includes('executor_active_workers'));
    const services = model.services.filter((s) => s.dependencies.some((d) => d.bulkhead));
    expect(pools.map((a) => a.rule.alert).sort()).toEqual(
      services
        .map((s) => `${s.name.replace(/(^|-)(\w)/g, (_, __, c: string) => c.toUpperCase())}PoolSaturated`)
        .sort(),
    );
    for (const alert of pools) {
      expect(alert.rule.expr).toMatch(
        /^max by \(service_name, pool_type\) \(executor_active_workers\{[^}]*\}\) \/ max by \(service_name, pool_type\) \(executor_max_workers\{[^}]*\}\) > 0\.9$/,
      );
      expect(alert.rule.expr).not.toContain('dependency');
      expect(alert.rule.for).toBe('5m');
    }
  });

  it('fires the retry alert above the standard’s 10 retries a second for 5 minutes', async () => {
    const { alerts } = buildCatalogue(await example(name));
    const retry = alerts.filter((a) => a.rule.expr.includes('retry_attempts_total'));
    for (const alert of retry) {
      expect(alert.rule.expr).toMatch(/\[5m\]\)\) > 10$/);
      expect(alert.rule.for).toBe('5m');
    }
  });
});
