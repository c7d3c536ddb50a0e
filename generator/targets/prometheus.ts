import { BACKEND_JOBS, backendTargets } from '../alerting/scrape-jobs.ts';
import type { Model } from '../model/model.ts';
import { formatDuration } from '../model/duration.ts';
import type { Artifact, Target } from './artifact.ts';
import { address } from '../model/topology.ts';

/**
 * prometheus.yml for Prometheus 3. Metrics arrive mostly by OTLP from the Collector (span metrics,
 * app metrics); scrapes cover the stack itself and any app /metrics endpoint the spec lists.
 * Rule files are referenced relative to this file (../../alerts), so `promtool check config`
 * checks them in place and the compose stack mounts alerts/ where the same path resolves.
 */

/** Resource attributes every OTLP series carries as a label; the spec's extras are added. */
export const PROMOTED_RESOURCE_ATTRIBUTES = [
  'deployment.environment.name',
  'service.instance.id',
  'service.name',
  'service.namespace',
];

export function prometheusConfig(model: Model) {
  const interval = formatDuration(model.signals.metrics.scrapeIntervalMs);
  const promoted = [
    ...new Set([...PROMOTED_RESOURCE_ATTRIBUTES, ...model.signals.metrics.resourceAttributes]),
  ].sort();
  const appJobs = model.services
    .filter((s) => s.metricsEndpoint)
    .map((s) => ({
      job_name: s.name,
      metrics_path: s.metricsEndpoint!.path,
      static_configs: [
        {
          targets: [`${s.metricsEndpoint!.host}:${s.metricsEndpoint!.port}`],
          labels: { service_name: s.name, team: s.team },
        },
      ],
    }));
  return {
    global: {
      scrape_interval: interval,
      evaluation_interval: interval,
      external_labels: { project: model.project, environment: model.environment },
    },
    otlp: {
      promote_resource_attributes: promoted,
      translation_strategy: 'UnderscoreEscapingWithSuffixes',
      keep_identifying_resource_attributes: true,
    },
    storage: {
      tsdb: { out_of_order_time_window: '30m' },
      exemplars: { max_exemplars: 100000 },
    },
    rule_files: ['../../alerts/*.rules.yml'],
    alerting: {
      alertmanagers: [{ static_configs: [{ targets: [address('alertmanager', 'http')] }] }],
    },
    scrape_configs: [
      ...BACKEND_JOBS.map((b) => ({
        job_name: b.job,
        static_configs: [{ targets: backendTargets(model, b) }],
      })),
      ...appJobs,
    ],
  };
}

export const prometheusTarget: Target = {
  name: 'prometheus',
  description: 'Prometheus 3 configuration: OTLP receive settings, scrape jobs, rule files, Alertmanager',
  generate: (model: Model): Artifact[] => [
    { path: 'stacks/prometheus/prometheus.yml', format: 'yaml', content: prometheusConfig(model) },
  ],
};
