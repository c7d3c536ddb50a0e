import { timingSafeEqual } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { AdminSettings } from '../settings.ts';
import type { BreakerState } from '../instrument/resilience.ts';

/**
 * The admin endpoint: liveness, readiness, detailed health and optional Prometheus metrics on a
 * port of their own, so probes never queue behind the app's traffic and never show up in its RED
 * metrics. Liveness never looks at dependencies. Readiness is 503 while the app starts, from the
 * moment SIGTERM or SIGINT arrives (before the telemetry flush, so load balancers drain first),
 * while the event loop's delay stays above the threshold, and while a critical dependency's
 * circuit breaker is open. Details and metrics need a bearer token unless bound to loopback.
 */

export const ADMIN_SERVER = Symbol('otelkit.admin');
const WINDOW_MS = 1000;
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export interface AdminOptions {
  settings: AdminSettings;
  service: string;
  version: string | undefined;
  criticalDependencies: string[];
  breakerStates(): Record<string, BreakerState>;
  /** Serves Prometheus text for GET /metrics, when metrics are enabled. */
  metricsHandler?: (request: IncomingMessage, response: ServerResponse) => void;
  env: Readonly<Record<string, string | undefined>>;
  warn(message: string): void;
}

export interface Admin {
  /** The app is up: for http services, its server listens. */
  markStarted(): void;
  markShuttingDown(): void;
  readiness(): { ready: boolean; reason?: string };
  close(): void;
}

export function startAdmin(options: AdminOptions): Admin {
  const { settings } = options;
  let started = false;
  let shuttingDown = false;
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  let lastWindow = { p50: 0, p99: 0, max: 0 };
  let utilisationMark = performance.eventLoopUtilization();
  let utilisation = 0;
  const window = setInterval(() => {
    lastWindow = { p50: delay.percentile(50) / 1e6, p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 };
    delay.reset();
    const now = performance.eventLoopUtilization();
    utilisation = performance.eventLoopUtilization(now, utilisationMark).utilization;
    utilisationMark = now;
  }, WINDOW_MS).unref();

  const readiness = (): { ready: boolean; reason?: string } => {
    if (shuttingDown) return { ready: false, reason: 'shutting down' };
    if (!started) return { ready: false, reason: 'starting' };
    // the current window counts too: a loop that was blocked a moment ago is not ready yet
    const current = delay.count > 0 ? delay.percentile(99) / 1e6 : 0;
    const loopDelay = Math.max(lastWindow.p99, current);
    if (loopDelay > settings.eventLoopDelayMs) {
      return {
        ready: false,
        reason: `event loop delay ${Math.round(loopDelay)} ms is above ${settings.eventLoopDelayMs} ms`,
      };
    }
    const breakers = options.breakerStates();
    for (const dependency of options.criticalDependencies) {
      if (breakers[dependency] === 'open') {
        return { ready: false, reason: `circuit breaker for critical dependency ${dependency} is open` };
      }
    }
    return { ready: true };
  };

  const token = options.env[settings.tokenEnv];
  const open = LOOPBACK.has(settings.bind);
  if (!open && !token) {
    options.warn(
      `admin endpoint on ${settings.bind}:${settings.port}: /health/detailed and /metrics answer 401 until ${settings.tokenEnv} holds a bearer token`,
    );
  }
  const authorised = (request: IncomingMessage) => {
    if (open) return true;
    const header = request.headers.authorization;
    if (!token || typeof header !== 'string' || !header.startsWith('Bearer ')) return false;
    const given = Buffer.from(header.slice('Bearer '.length));
    const expected = Buffer.from(token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  };

  const json = (response: ServerResponse, status: number, body: unknown) => {
    response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    response.end(`${JSON.stringify(body)}\n`);
  };

  const details = () => {
    const memory = process.memoryUsage();
    const { ready, reason } = readiness();
    return {
      status: ready ? 'ready' : 'not ready',
      ...(reason ? { reason } : {}),
      service: options.service,
      version: options.version,
      uptime_s: Math.round(process.uptime() * 10) / 10,
      node: process.version,
      event_loop: {
        delay_ms: { p50: round(lastWindow.p50), p99: round(lastWindow.p99), max: round(lastWindow.max) },
        utilization: round(utilisation),
      },
      memory_mib: {
        rss: mib(memory.rss),
        heap_used: mib(memory.heapUsed),
        heap_total: mib(memory.heapTotal),
      },
      active_handles: process.getActiveResourcesInfo().length,
      circuit_breakers: options.breakerStates(),
    };
  };

  const server = http.createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD')
      return json(response, 405, { error: 'method not allowed' });
    if (path === '/livez') return json(response, 200, { status: 'alive' });
    if (path === '/readyz') {
      const { ready, reason } = readiness();
      return json(response, ready ? 200 : 503, ready ? { status: 'ready' } : { status: 'not ready', reason });
    }
    if (path === '/health/detailed' || (path === '/metrics' && options.metricsHandler)) {
      if (!authorised(request)) {
        response.setHeader('www-authenticate', 'Bearer');
        return json(response, 401, { error: `send Authorization: Bearer <token from ${settings.tokenEnv}>` });
      }
      if (path === '/metrics') return options.metricsHandler!(request, response);
      return json(response, 200, details());
    }
    return json(response, 404, {
      error: 'not found',
      endpoints: ['/livez', '/readyz', '/health/detailed', ...(options.metricsHandler ? ['/metrics'] : [])],
    });
  });
  (server as unknown as Record<symbol, boolean>)[ADMIN_SERVER] = true;
  server.on('error', (error) =>
    options.warn(`admin endpoint not started on ${settings.bind}:${settings.port}: ${error.message}`),
  );
  server.listen(settings.port, settings.bind);
  // the admin endpoint never keeps a process alive that would otherwise have exited
  server.unref();

  return {
    markStarted: () => {
      started = true;
    },
    markShuttingDown: () => {
      shuttingDown = true;
    },
    readiness,
    close: () => {
      clearInterval(window);
      delay.disable();
      server.close();
    },
  };
}

const round = (value: number) => Math.round(value * 1000) / 1000;
const mib = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10;
