import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { buildCatalogue } from '../../../generator/alerting/catalogue.ts';
import { buildDashboards } from '../../../generator/dashboards/dashboards.ts';
import type { Model } from '../../../generator/model/model.ts';
import { loadSpec } from '../../../generator/spec/load.ts';
import { REPO } from '../../support/helpers.ts';

/** The SLO dashboard's burn-rate panels read each SLO's own windows and the alerts' own factors. */

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const example = async (name: string) =>
  (await loadSpec(path.join(REPO, 'examples', name, 'otelkit.yaml'))).model;

function burnPanels(model: Model) {
  const slo = buildDashboards(model).find((d) => d.name === 'slo')!.dashboard as Json;
  return (slo.panels as Json[]).filter((p) => String(p.title).startsWith('Burn rate'));
}

describe.each(['shop', 'gateway'])('SLO dashboard of examples/%s', (name) => {
  it('titles each burn panel with the factor its alerts fire at', async () => {
    const model = await example(name);
    const { alerts } = buildCatalogue(model);
    const panels = burnPanels(model);
    expect(panels).toHaveLength(4);
    for (const [index, panel] of panels.entries()) {
      // the factor in the alert's summary for the same window pair, for every SLO
      const factors = new Set(
        alerts
          .filter((a) => a.rule.labels.alertgroup === 'slo')
          .filter((a) => a.rule.alert.endsWith(['1h', '6h', '1d', '3d'][index]!))
          .map((a) => /budget ([0-9.]+)x faster/.exec(a.rule.annotations.summary)![1]),
      );
      expect(factors.size).toBe(1);
      expect(panel.title).toContain(`at ${[...factors][0]}x)`);
    }
  });

  it('queries, per SLO, the recording rule of that SLO’s own long window', async () => {
    const model = await example(name);
    const { alerts, files } = buildCatalogue(model);
    const recorded = new Set(files.flatMap((f) => f.recording.map((r) => r.record)));
    const panels = burnPanels(model);
    for (const service of model.services)
      for (const slo of service.slos)
        for (const [index, panel] of panels.entries()) {
          const alert = alerts.find(
            (a) =>
              a.exprLabels.slo === slo.name &&
              a.exprLabels.service_name === service.name &&
              a.rule.alert.endsWith(['1h', '6h', '1d', '3d'][index]!),
          )!;
          const rule = `slo:sli_error:ratio_rate${alert.rule.labels.window}`;
          expect(recorded.has(rule)).toBe(true);
          expect(panel.targets[0].expr).toContain(
            `${rule}{service_name=~"$service",service_name="${service.name}",slo="${slo.name}"}`,
          );
        }
  });
});
