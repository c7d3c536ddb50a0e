import type { Model } from '../model/model.ts';
import { burnWindows } from '../model/slo.ts';
import type { Catalogue, RuleFile } from './definitions.ts';
import { pipelineAlerts } from './pipeline.ts';
import { watchdogAlerts } from './watchdog.ts';
import { errorRateAlert, latencyAlert, telemetryMissingAlert } from './golden-signals.ts';
import { sharedRecording } from './recording.ts';
import { poolSaturatedAlert, resilienceAlerts } from './resilience.ts';
import { burnAlert, sloRecording, sloRecordingCases, type SloWindowSource } from './slo-burn.ts';
import { targetAlerts } from './targets.ts';

// targets and tests read the shared vocabulary from the catalogue, as before the split
export * from './definitions.ts';
export { BACKEND_JOBS } from './scrape-jobs.ts';
export { burnExpr, oneFailureSeries } from './slo-burn.ts';

/**
 * Every recording rule and alert, with the promtool cases that prove each alert and the facts its
 * runbook needs. Rule files, unit tests, runbooks and dashboards all read this one catalogue, so
 * a name can never differ between them.
 *
 * Recording rules follow Prometheus's `level:metric:operations` convention:
 *   service:requests:rate5m, service_route_frontend:request_errors:rate5m,
 *   service:request_duration_ms:p95_5m, slo:sli_error:ratio_rate1h, slo:error_budget_remaining:ratio.
 */

// ---------------------------------------------------------------------------------------------

/**
 * Rule files, their tests, the runbooks and the Kubernetes rules all read the catalogue of one
 * Model: built once per Model (a 500-service spec built it four times, 1.9 s each).
 */
const built: Record<SloWindowSource, WeakMap<Model, Catalogue>> = {
  preaggregated: new WeakMap(),
  raw: new WeakMap(),
};

/**
 * `sloWindows: 'raw'` builds the SLO rules as they were before long windows were summed from
 * pre-aggregated rates (every window read from the span metrics): only bench:rules asks for it.
 */
export function buildCatalogue(
  model: Model,
  { sloWindows = 'preaggregated' }: { sloWindows?: SloWindowSource } = {},
): Catalogue {
  let catalogue = built[sloWindows].get(model);
  if (!catalogue) built[sloWindows].set(model, (catalogue = assemble(model, sloWindows)));
  return catalogue;
}

function assemble(model: Model, sloWindows: SloWindowSource): Catalogue {
  const files: RuleFile[] = [];
  files.push({ file: 'recording', groupName: 'otelkit-red', recording: sharedRecording(), alerts: [] });
  for (const service of model.services) {
    if (service.slos.length === 0) continue;
    files.push({
      file: `slo-${service.name}`,
      groupName: `slo-${service.name}`,
      recording: service.slos.flatMap((slo) => sloRecording(model, service, slo, sloWindows)),
      recordingCases:
        sloWindows === 'preaggregated'
          ? service.slos.flatMap((slo) => sloRecordingCases(model, service, slo))
          : [],
      alerts: service.slos.flatMap((slo) =>
        burnWindows(slo.periodMs).map((window) => burnAlert(model, service, slo, window)),
      ),
    });
  }
  files.push({
    file: 'golden-signals',
    groupName: 'golden-signals',
    recording: [],
    alerts: model.services.flatMap((service) => [
      ...(service.kind === 'http'
        ? [errorRateAlert(model, service), latencyAlert(model, service)]
        : [errorRateAlert(model, service)]),
      telemetryMissingAlert(model, service),
    ]),
  });
  const resilience = model.services.flatMap((service) => [
    ...service.dependencies.flatMap((dependency) => resilienceAlerts(model, service, dependency)),
    ...(service.dependencies.some((dependency) => dependency.bulkhead)
      ? [poolSaturatedAlert(model, service)]
      : []),
  ]);
  if (resilience.length > 0)
    files.push({ file: 'resilience', groupName: 'resilience', recording: [], alerts: resilience });
  files.push({
    file: 'pipeline',
    groupName: 'pipeline-health',
    recording: [],
    alerts: pipelineAlerts(model),
  });
  files.push({ file: 'targets', groupName: 'targets', recording: [], alerts: targetAlerts(model) });
  files.push({ file: 'watchdog', groupName: 'watchdog', recording: [], alerts: watchdogAlerts(model) });
  return { files, alerts: files.flatMap((f) => f.alerts) };
}
