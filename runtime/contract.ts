/**
 * The contract between the generator and the Node runtime: what a generated preload file passes
 * to `start`. The generator's preload target builds one (type-checked against this) and writes it
 * as a JSON literal, so the file stays readable and free of generator code; the runtime parses
 * what it is given against it (runtime/node/settings.ts), since a preload file can be edited by
 * hand. Both sides import this, and nothing else of each other.
 */
export interface PreloadSettings {
  service: string;
  environment: string;
  project: string;
  /** Allowed X-Frontend-ID values; anything else is recorded as `unknown`. */
  frontends: string[];
  /** Route templates such as `/orders/{orderId}` or `/orders/:orderId`. */
  routes: string[];
  redaction: {
    /** Lower-case keys whose values never leave the process. */
    blockedKeys: string[];
    /** Go RE2 syntax, as the Collector reads them; a leading `(?i)` becomes the `i` flag. */
    valuePatterns: { name: string; regex: string }[];
  };
  sampler: { type: 'parentbased_always_on' | 'parentbased_traceidratio'; ratio?: number };
  /** OTLP/HTTP base URL; OTEL_EXPORTER_OTLP_* variables take precedence. */
  endpoint: string;
  protocol?: 'http/protobuf' | 'http/json';
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  histogramBucketsMs?: number[];
  /** Distinct route values per service before the rest collapse into one overflow route. */
  maxRoutes?: number;
  /** Module system of the app, so ESM loader hooks are registered only where they are needed. */
  module?: 'esm' | 'commonjs';
  shutdownTimeoutMs?: number;
  /** The service's dependencies; a critical one with an open circuit breaker makes the service not ready. */
  dependencies?: { name: string; critical: boolean }[];
  /** Health, readiness and metrics endpoints on their own port; absent when the spec does not ask. */
  admin?: AdminSettings;
}

export interface AdminSettings {
  port: number;
  /** 127.0.0.1 by default; any other address requires the bearer token for details and metrics. */
  bind: string;
  /** The environment variable holding the bearer token for /health/detailed and /metrics. */
  tokenEnv: string;
  /** Serve Prometheus /metrics (resilience, request duration, runtime). */
  metrics: boolean;
  /** Readiness fails while the event loop's delay stays above this. */
  eventLoopDelayMs: number;
  /** `http` services are ready once they listen; workers once the preload has started. */
  readyWhen: 'listening' | 'started';
}
