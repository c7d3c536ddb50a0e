import type { Model } from '../model/model.ts';
import { address } from '../model/topology.ts';

/** Compose service (and so host) name of each gateway Collector replica. */
export function gatewayCollectorNames(model: Model): string[] {
  return model.collector.mode === 'gateway'
    ? Array.from({ length: model.collector.gatewayReplicas }, (_, i) => `otel-collector-gateway-${i + 1}`)
    : [];
}

/** Scrape jobs of the stack; prometheus.ts, the target alerts and the spec rules read this one list. */
export const BACKEND_JOBS = [
  { job: 'otel-collector', target: address('collector', 'metrics'), title: 'Collector' },
  { job: 'prometheus', target: address('prometheus', 'http', 'localhost'), title: 'Prometheus' },
  { job: 'alertmanager', target: address('alertmanager', 'http'), title: 'Alertmanager' },
  { job: 'loki', target: address('loki', 'http'), title: 'Loki' },
  { job: 'tempo', target: address('tempo', 'http'), title: 'Tempo' },
] as const;

export type BackendJob = (typeof BACKEND_JOBS)[number];

/**
 * Every instance a job scrapes. The gateways are Collectors like the agent: one job, so
 * CollectorDown and the pipeline alerts (by instance) cover every one of them.
 */
export function backendTargets(model: Model, backend: BackendJob): string[] {
  if (backend.job !== 'otel-collector') return [backend.target];
  return [
    backend.target,
    ...gatewayCollectorNames(model).map((name) => address('collector', 'metrics', name)),
  ];
}
