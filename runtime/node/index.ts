import { context, metrics, propagation, trace, logs, type Attributes } from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  detectResources,
  envDetector,
  osDetector,
  processDetector,
  resourceFromAttributes,
  type ResourceDetector,
} from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider, PeriodicExportingMetricReader, type MetricReader } from '@opentelemetry/sdk-metrics';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ADMIN_SERVER, startAdmin, type Admin } from './admin/admin.ts';
import { EnterableContextManager } from './trace/context.ts';
import { captureExceptions } from './logs/exceptions.ts';
import { CONCURRENCY_LIMIT, logExporter, metricExporter, otlpOptions } from './export/exporters.ts';
import { DurationHistogram } from './metrics/histogram.ts';
import { refuseRequests } from './instrument/http.ts';
import { enableInstrumentations } from './instrument/registry.ts';
import { captureConsole, createLogSink } from './logs/sink.ts';
import { createRedactor } from './redact/redact.ts';
import { logRedaction, spanRedaction } from './redact/signals.ts';
import { createRouteLabeller } from './instrument/routes.ts';
import { createSampler } from './trace/sampler.ts';
import { parseSettings, type PreloadSettings } from './settings.ts';
import { EagerSpanProcessor, loadSpanTransport } from './export/span-export.ts';
import { LeanTracerProvider } from './trace/tracer.ts';
import {
  createResilience,
  type BreakerState,
  type ExecutorFigures,
  type Resilience,
  type ResilienceDetails,
  type RetryOutcome,
} from './instrument/resilience.ts';

export {
  mintDebugToken,
  verifyDebugToken,
  MAX_DEBUG_TOKEN_TTL_MS,
  DEBUG_SECRET_ENV,
} from '../debug-token.ts';
export { createPathNormaliser } from './instrument/routes.ts';
export { createRedactor, re2ToRegExp, REDACTED } from './redact/redact.ts';
export type { PreloadSettings, AdminSettings } from './settings.ts';
export type {
  BreakerState,
  ExecutorFigures,
  ResilienceDetails,
  RetryOutcome,
} from './instrument/resilience.ts';

let resilience: Resilience | undefined;

/**
 * Resilience events from code that is not an opossum breaker (hand-written retries, timeouts,
 * semaphores). They become the standard metrics labelled by dependency and a structured log
 * record; before the preload starts, or with telemetry disabled, they do nothing.
 */
export const recordRetry = (dependency: string, details?: ResilienceDetails) =>
  resilience?.recordRetry(dependency, details);
export const recordRetryOutcome = (dependency: string, outcome: RetryOutcome, details?: ResilienceDetails) =>
  resilience?.recordRetryOutcome(dependency, outcome, details);
export const recordRetryExhausted = (dependency: string, details?: ResilienceDetails) =>
  resilience?.recordRetryExhausted(dependency, details);
export const recordBulkheadContention = (dependency: string, details?: ResilienceDetails) =>
  resilience?.recordBulkheadContention(dependency, details);
/** A worker pool's figures (`executor_*{pool_type}`): worker_threads pools, child-process pools. */
export const recordExecutor = (poolType: string, figures: ExecutorFigures) =>
  resilience?.recordExecutor(poolType, figures);
export const recordSemaphore = (dependency: string, available: number) =>
  resilience?.recordSemaphore(dependency, available);
export const recordTimeout = (dependency: string, details?: ResilienceDetails) =>
  resilience?.recordTimeout(dependency, details);
export const recordBulkheadRejection = (dependency: string, details?: ResilienceDetails) =>
  resilience?.recordBulkheadRejection(dependency, details);
export const recordFallback = (dependency: string, details?: ResilienceDetails) =>
  resilience?.recordFallback(dependency, details);
export const recordCircuitBreakerState = (
  dependency: string,
  state: BreakerState,
  details?: ResilienceDetails,
) => resilience?.recordBreakerState(dependency, state, details);

const SCOPE = 'otelkit-preload';
let started = false;

function warnOnce() {
  const seen = new Set<string>();
  return (message: string) => {
    if (seen.has(message)) return;
    seen.add(message);
    process.stderr.write(`otelkit: ${message}\n`);
  };
}

const positive = (text: string | undefined, fallback: number) => {
  const value = Number(text);
  return text && Number.isFinite(value) && value > 0 ? value : fallback;
};

/**
 * Starts traces, metrics and logs for this process. Never throws and never blocks: a bad setting
 * or an unreachable Collector costs one warning on stderr, and the app keeps serving.
 */
export function start(given: Partial<PreloadSettings> = {}, env: NodeJS.ProcessEnv = process.env): void {
  if (started) return;
  if ((env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true') return;
  started = true;
  const warn = warnOnce();
  try {
    startUnsafe(parseSettings(given, warn), env, warn);
  } catch (error) {
    warn(`telemetry disabled, the preload could not start: ${(error as Error).message}`);
  }
}

function startUnsafe(settings: PreloadSettings, env: NodeJS.ProcessEnv, warn: (message: string) => void) {
  const redactor = createRedactor(settings.redaction.blockedKeys, settings.redaction.valuePatterns);
  let collectorWarned = false;
  const exportFailed = (signal: string) => (error: unknown) => {
    if (collectorWarned) return;
    collectorWarned = true;
    const message = (error as Error)?.message ?? 'unknown error';
    // with a Collector that accepts and never answers, the first error an export sees is the
    // exporter refusing a ninth concurrent request, which names the limit, not the cause
    const reason = /concurrent export limit/i.test(message)
      ? `it does not answer: ${CONCURRENCY_LIMIT} exports are already waiting for it`
      : message;
    warn(
      `cannot export ${signal} to the Collector (${reason}); ` +
        'the app keeps running, telemetry is dropped until it is reachable',
    );
  };

  const resource = resourceFromAttributes({
    'service.name': settings.service,
    'service.namespace': settings.project,
    'deployment.environment.name': settings.environment,
    // one per process, so replicas of a service are distinct series (Prometheus's `instance`)
    // instead of colliding in one; OTEL_RESOURCE_ATTRIBUTES may name it instead
    'service.instance.id': randomUUID(),
  }).merge(
    // env last so OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES win; no cloud detectors, so no metadata probes
    detectResources({ detectors: [hostAttributes, osDetector, processDetector, envDetector] }),
  );

  const contextManager = new EnterableContextManager();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(createPropagator(env, warn));

  const traceOptions = otlpOptions('traces', settings, env, warn);
  const metricOptions = otlpOptions('metrics', settings, env, warn);
  const logOptions = otlpOptions('logs', settings, env, warn);
  const tracerProvider = new LeanTracerProvider({
    resource,
    sampler: createSampler(settings, env, warn),
    processor: new EagerSpanProcessor({
      json: traceOptions.protocol === 'http/json',
      resource,
      load: () => loadSpanTransport(traceOptions, CONCURRENCY_LIMIT),
      redact: spanRedaction(redactor, createRouteLabeller(settings.routes)),
      redactText: redactor.text,
      onFailure: exportFailed('traces'),
      scheduledDelayMillis: positive(env.OTEL_BSP_SCHEDULE_DELAY, 5000),
      maxQueueSize: positive(env.OTEL_BSP_MAX_QUEUE_SIZE, 2048),
      maxExportBatchSize: positive(env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE, 512),
      exportTimeoutMillis: positive(env.OTEL_BSP_EXPORT_TIMEOUT, 30000),
    }),
    limits: {
      attributeCount: positive(env.OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT ?? env.OTEL_ATTRIBUTE_COUNT_LIMIT, 128),
      eventCount: positive(env.OTEL_SPAN_EVENT_COUNT_LIMIT, 128),
      linkCount: positive(env.OTEL_SPAN_LINK_COUNT_LIMIT, 128),
    },
  });
  trace.setGlobalTracerProvider(tracerProvider);

  const bucketsSeconds = (
    settings.histogramBucketsMs ?? [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]
  ).map((ms) => ms / 1000);
  const duration = new DurationHistogram(bucketsSeconds, SCOPE);
  const exportInterval = positive(env.OTEL_METRIC_EXPORT_INTERVAL, 60000);
  const pull = settings.admin?.metrics ? prometheusReader(duration) : undefined;
  const meterProvider = new MeterProvider({
    resource,
    readers: [
      ...(pull ? [pull.reader] : []),
      new PeriodicExportingMetricReader({
        exporter: metricExporter(metricOptions, exportFailed('metrics')),
        exportIntervalMillis: exportInterval,
        // the SDK refuses a timeout longer than the interval; a short interval must not disable metrics
        exportTimeoutMillis: Math.min(positive(env.OTEL_METRIC_EXPORT_TIMEOUT, 30000), exportInterval),
        metricProducers: [duration],
      }),
    ],
  });
  metrics.setGlobalMeterProvider(meterProvider);

  const loggerProvider = new LoggerProvider({
    resource,
    processors: [
      logRedaction(redactor, SCOPE),
      new BatchLogRecordProcessor({
        exporter: logExporter(logOptions, exportFailed('logs')),
        scheduledDelayMillis: positive(env.OTEL_BLRP_SCHEDULE_DELAY, 1000),
        maxQueueSize: positive(env.OTEL_BLRP_MAX_QUEUE_SIZE, 1024),
        maxExportBatchSize: positive(env.OTEL_BLRP_MAX_EXPORT_BATCH_SIZE, 128),
      }),
    ],
  });
  logs.setGlobalLoggerProvider(loggerProvider);

  const sink = createLogSink(settings, loggerProvider.getLogger(SCOPE), redactor);
  const audit = (message: string, attributes: Attributes) =>
    sink.write('info', 'otelkit.audit', message, attributes, 'audit');
  captureConsole(sink, redactor);

  const meter = meterProvider.getMeter(SCOPE);
  const debugRejected = meter.createCounter('otelkit.debug_token.rejected', {
    description: 'X-Debug-Token headers that were invalid or expired and were ignored.',
  });
  resilience = createResilience(meter, sink);
  const appResilience = resilience;
  enableInstrumentations(
    {
      settings,
      env,
      warn,
      tracer: tracerProvider.getTracer(SCOPE),
      duration,
      debugRejected,
      contextManager,
      sink,
      audit,
      redactText: redactor.text,
      exportUrls: [traceOptions.url, metricOptions.url, logOptions.url],
      resilience: appResilience,
    },
    settings.module === 'esm',
  );

  let admin: Admin | undefined;
  if (settings.admin) {
    admin = startAdmin({
      settings: settings.admin,
      service: settings.service,
      version: serviceVersion(env),
      criticalDependencies: (settings.dependencies ?? []).filter((d) => d.critical).map((d) => d.name),
      breakerStates: () => appResilience.breakerStates(),
      metricsHandler: pull?.handler,
      env,
      warn,
    });
    if (settings.admin.readyWhen === 'started') setImmediate(() => admin?.markStarted());
    else onAppListening(() => admin?.markStarted());
  }

  let flushed: Promise<void> | undefined;
  const shutdown = () => {
    flushed ??= Promise.allSettled([
      tracerProvider.shutdown(),
      meterProvider.shutdown(),
      loggerProvider.shutdown(),
    ]).then(() => undefined);
    return flushed;
  };
  const timeoutMs = settings.shutdownTimeoutMs ?? 3000;
  const flush = boundedFlush(shutdown, timeoutMs);
  installShutdown(flush, () => admin?.markShuttingDown());
  captureExceptions({
    sink,
    counter: meter.createCounter('exceptions_total', {
      description: 'Uncaught exceptions and unhandled rejections, by exception type and origin.',
    }),
    flush,
    dying: () => {
      admin?.markShuttingDown();
      refuseRequests();
    },
  });
}

/** OTEL_PROPAGATORS, as the SDK reads it; W3C trace context and baggage when unset. */
export function createPropagator(env: NodeJS.ProcessEnv, warn: (message: string) => void) {
  const names = (env.OTEL_PROPAGATORS ?? 'tracecontext,baggage')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean);
  const propagators = [];
  for (const name of new Set(names)) {
    if (name === 'tracecontext') propagators.push(new W3CTraceContextPropagator());
    else if (name === 'baggage') propagators.push(new W3CBaggagePropagator());
    else if (name !== 'none') {
      warn(
        `OTEL_PROPAGATORS: ${name} is not supported by the otelkit preload (tracecontext, baggage, none); ignored`,
      );
    }
  }
  return new CompositePropagator({ propagators: names.includes('none') ? [] : propagators });
}

const HOST_ARCH: Record<string, string> = { arm: 'arm32', ppc: 'ppc32', x64: 'amd64' };

/**
 * host.name, host.arch and host.id as the SDK's host detector reports them, but read synchronously:
 * its asynchronous machine-id read starts libuv's thread pool, four threads and ~5 MiB of resident
 * memory in an app that might never use the pool otherwise.
 */
const hostAttributes: ResourceDetector = {
  detect: () => {
    let id: string | undefined;
    for (const file of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
      try {
        id = readFileSync(file, 'utf8').trim() || undefined;
        if (id) break;
      } catch {
        // not Linux, or no machine id: host.id is optional
      }
    }
    const attributes: Record<string, string> = {
      'host.name': os.hostname(),
      'host.arch': HOST_ARCH[os.arch()] ?? os.arch(),
    };
    if (id) attributes['host.id'] = id;
    return { attributes };
  },
};

/**
 * The flush, bounded: resolves true once every signal is flushed, false when the bound passed
 * first. Every exit path shares one deadline, set by the first of them (a SIGTERM the app handles,
 * then the loop draining, wait 3 s in all, not 3 s each). The bound's timer is the one thing of the
 * preload's that keeps the process alive (the bundle unreferences the SDK's timers and the export
 * sockets), so an app that is done waits for its telemetry at most this long, and no longer than the
 * flush takes.
 */
function boundedFlush(shutdown: () => Promise<void>, timeoutMs: number) {
  let deadline: number | undefined;
  return () => {
    deadline ??= Date.now() + timeoutMs;
    const left = Math.max(deadline - Date.now(), 0);
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      shutdown().then(() => true),
      new Promise<boolean>((resolve) => {
        timer = globalThis.setTimeout(resolve, left, false);
      }),
    ]).finally(() => clearTimeout(timer));
  };
}

/** service.version from OTEL_RESOURCE_ATTRIBUTES, else the app's package.json. */
function serviceVersion(env: NodeJS.ProcessEnv): string | undefined {
  const fromEnv = /(?:^|,)\s*service\.version=([^,]+)/.exec(env.OTEL_RESOURCE_ATTRIBUTES ?? '')?.[1];
  if (fromEnv) return decodeURIComponent(fromEnv.trim());
  try {
    const manifest = JSON.parse(readFileSync(path.join(process.cwd(), 'package.json'), 'utf8')) as {
      version?: unknown;
    };
    return typeof manifest.version === 'string' ? manifest.version : undefined;
  } catch {
    return undefined;
  }
}

/** Calls back once the app's first HTTP server (not the admin endpoint) is listening. */
function onAppListening(callback: () => void) {
  const listen = net.Server.prototype.listen;
  net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
    if (!(this as unknown as Record<symbol, boolean>)[ADMIN_SERVER]) this.once('listening', callback);
    return (listen as (...a: unknown[]) => net.Server).apply(this, args);
  } as typeof listen;
}

/** A pull reader for the admin endpoint's /metrics, rendering Prometheus text from the same instruments. */
function prometheusReader(duration: DurationHistogram): { reader: MetricReader; handler: AdminHandler } {
  const exporter = new PrometheusExporter({ preventServerStart: true, metricProducers: [duration] } as never);
  return {
    reader: exporter,
    handler: (request, response) => exporter.getMetricsRequestHandler(request, response),
  };
}

type AdminHandler = (request: IncomingMessage, response: ServerResponse) => void;

/**
 * Flush on SIGTERM/SIGINT and when the loop drains, bounded so a dead Collector cannot hold the
 * process. Listening to a signal disables Node's default exit, so when the app has no handler of its
 * own the signal is re-raised after the flush: the exit status is what it would be without us.
 */
function installShutdown(flush: () => Promise<boolean>, draining: () => void) {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const onSignal = () => {
      // readiness fails first, so load balancers stop sending before the flush and the exit
      draining();
      const appHandlesIt = process.listenerCount(signal) > 1;
      void flush().then(() => {
        if (appHandlesIt) return;
        process.removeListener(signal, onSignal);
        process.kill(process.pid, signal);
      });
    };
    process.on(signal, onSignal);
  }
  process.once('beforeExit', () => {
    void flush().then((complete) => {
      // pending exporter retries would otherwise hold the process well past its natural end
      if (!complete) process.exit();
    });
  });
}
