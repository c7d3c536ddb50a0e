import type { LoadModel, QueueItems, SizingFinding } from './capacity.ts';
import type { Component } from './versions.ts';

/**
 * The normalised model every target reads: defaults applied, durations in milliseconds,
 * objectives as fractions, built-in redaction lists merged. Targets never see the raw spec.
 */
export interface Model {
  project: string;
  environment: string;
  services: ServiceModel[];
  signals: SignalsModel;
  redaction: RedactionModel;
  alerting: AlertingModel;
  runbookBaseUrl: string | undefined;
  collector: CollectorModel;
  versions: Record<Component, string>;
  kubernetes: KubernetesModel;
}

export const RUNTIMES = ['node', 'python', 'go', 'java', 'rust', 'dotnet', 'other'] as const;
export type Runtime = (typeof RUNTIMES)[number];

export const SEVERITIES = ['critical', 'warning', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Alert routing as the spec gives it (durations stay Alertmanager's own strings). */
export interface AlertingModel {
  default_receiver: string;
  receivers: ReceiverModel[];
  routes: {
    receiver: string;
    team?: string | undefined;
    severity?: Severity[] | undefined;
    continue: boolean;
  }[];
  group_wait: string;
  group_interval: string;
  repeat_interval: string;
  slo_min_requests_per_hour: number;
}

export type ReceiverModel =
  | { name: string; type: 'webhook'; url?: string | undefined; url_file?: string | undefined }
  | { name: string; type: 'slack'; channel: string; api_url_file: string }
  | {
      name: string;
      type: 'email';
      to: string;
      from: string;
      smarthost: string;
      auth_username?: string | undefined;
      auth_password_file?: string | undefined;
    }
  | { name: string; type: 'pagerduty'; routing_key_file: string };

export type KubernetesBackend = 'prometheus' | 'alertmanager' | 'loki' | 'tempo';

/** The Kubernetes output's settings as the spec gives them (quantities stay Kubernetes' own strings). */
export interface KubernetesModel {
  namespace: string;
  storage_class?: string | undefined;
  storage: Record<KubernetesBackend | 'collector_queue', string>;
  images: Partial<Record<KubernetesBackend | 'collector', string | undefined>>;
  resources: Record<KubernetesBackend, { cpu: string; memory: string }>;
  app_dir: string;
}

export interface ServiceModel {
  name: string;
  description: string | undefined;
  runtime: Runtime;
  kind: 'http' | 'worker';
  module: 'esm' | 'commonjs';
  team: string;
  owners: { name: string; email?: string | undefined; slack?: string | undefined }[];
  frontends: string[];
  routes: string[];
  dependencies: DependencyModel[];
  slos: SloModel[];
  metricsEndpoint: { host: string; port: number; path: string } | undefined;
  admin:
    { port: number; bind: string; tokenEnv: string; metrics: boolean; eventLoopDelayMs: number } | undefined;
}

export interface DependencyModel {
  name: string;
  kind: 'database' | 'cache' | 'http' | 'queue' | 'service';
  system: string | undefined;
  service: string | undefined;
  critical: boolean;
  timeoutMs: number | undefined;
  retry: { maxAttempts: number; backoffMs: number } | undefined;
  circuitBreaker: { failureRateThreshold: number; openDurationMs: number } | undefined;
  bulkhead: { maxConcurrent: number } | undefined;
}

export interface SloModel {
  name: string;
  kind: 'availability' | 'latency';
  /** Fraction, e.g. 0.999. */
  objective: number;
  periodMs: number;
  thresholdMs: number | undefined;
  description: string | undefined;
  routes: string[] | undefined;
}

export type LogClass = 'application' | 'access' | 'audit' | 'debug';

export interface SignalsModel {
  traces: {
    keepErrors: boolean;
    slowThresholdMs: number;
    baseRate: number;
    decisionWaitMs: number;
    retentionMs: number;
  };
  logs: { level: 'debug' | 'info' | 'warn' | 'error'; retentionMs: Record<LogClass, number> };
  metrics: {
    retentionMs: number;
    scrapeIntervalMs: number;
    /** Sorted, unique, SLO latency thresholds included so latency SLIs are exact. */
    histogramBucketsMs: number[];
    maxRoutesPerService: number;
    maxSeriesPerMetric: number;
    resourceAttributes: string[];
  };
}

export interface RedactionModel {
  /** Lower-case, sorted, built-ins merged minus allowed keys. */
  blockedKeys: string[];
  valuePatterns: { name: string; regex: string }[];
}

/** Replicas, memory and queues are the sized values (capacity.ts): the spec's where it sets them. */
export interface CollectorModel {
  mode: 'single' | 'gateway';
  /** The load the spec declares (collector.expected_load). */
  load: LoadModel;
  gatewayReplicas: number;
  memoryLimitMib: number;
  persistentQueue: { enabled: boolean; directory: string };
  queueItems: QueueItems;
  /** The queue volume claim of the single Collector or each gateway (kubernetes.storage reads it). */
  queueVolume: string;
  /** Where the declared load and the spec's own values disagree: warnings, located by the loader. */
  sizingFindings: SizingFinding[];
  debugExporter: boolean;
}

/** Keys that carry credentials or personal data in HTTP headers, log fields and span attributes. */
export const BUILTIN_BLOCKED_KEYS = [
  'access_token',
  'api_key',
  'apikey',
  'authorization',
  'card_number',
  'client_secret',
  'cookie',
  'credit_card',
  'cvv',
  'id_token',
  'passwd',
  'password',
  'private_key',
  'proxy-authorization',
  'refresh_token',
  'secret',
  'session_id',
  'set-cookie',
  'token',
  'x-api-key',
] as const;

/** RE2-compatible (no look-around) so the Collector and the Node preload share one definition. */
export const BUILTIN_VALUE_PATTERNS = {
  email: '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}',
  card_number: '\\b(?:\\d[ -]?){12,18}\\d\\b',
  bearer_token: '(?i)bearer\\s+[A-Za-z0-9._~+/-]+=*',
  api_key: '\\b(?:sk|pk|rk|api|key)_[A-Za-z0-9_]{16,}\\b',
} as const;
