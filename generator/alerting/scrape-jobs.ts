import { ENDPOINTS } from '../conventions.ts';
import type { Model } from '../model.ts';

/** Compose service (and so host) name of each gateway Collector replica. */
export function gatewayCollectorNames(model: Model): string[] {
  return model.collector.mode === 'gateway'
    ? Array.from({ length: model.collector.gatewayReplicas }, (_, i) => `otel-collector-gateway-${i + 1}`)
    : [];
}

/** Scrape jobs of the stack; prometheus.ts, the target alerts and the spec rules read this one list. */
export const BACKEND_JOBS = [
  { job: 'otel-collector', target: `otel-collector:${ENDPOINTS.collectorMetrics}`, title: 'Collector' },
  { job: 'prometheus', target: 'localhost:9090', title: 'Prometheus' },
  { job: 'alertmanager', target: 'alertmanager:9093', title: 'Alertmanager' },
  { job: 'loki', target: 'loki:3100', title: 'Loki' },
  { job: 'tempo', target: 'tempo:3200', title: 'Tempo' },
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
    ...gatewayCollectorNames(model).map((name) => `${name}:${ENDPOINTS.collectorMetrics}`),
  ];
}
