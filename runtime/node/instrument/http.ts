import { randomFillSync } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import { AsyncResource } from 'node:async_hooks';
import { IncomingMessage, ServerResponse, type ClientRequest } from 'node:http';
import net from 'node:net';
import {
  SpanKind,
  SpanStatusCode,
  context,
  propagation,
  trace,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { isTracingSuppressed } from '@opentelemetry/core';
import { HEALTH_ROUTES } from '../../standard.ts';
import { ADMIN_SERVER } from '../admin/admin.ts';
import { DeferredServerSpan } from '../trace/tracer.ts';
import { REQUEST_STATE, RequestContext, THROWN_IN, type RequestState } from '../trace/context.ts';
import { DEBUG_SECRET_ENV, DEBUG_TOKEN_HEADER, verifyDebugToken } from '../../debug-token.ts';
import type { Instrumentation, InstrumentationContext } from './registry.ts';
import { createPathNormaliser, createRouteLabeller } from './routes.ts';
import { OVERFLOW_ROUTE, REQUEST_ID_ATTRIBUTE, UNKNOWN_FRONTEND } from '../settings.ts';

/**
 * HTTP server and client spans from Node's diagnostics channels instead of monkey-patching
 * `http`: no wrapper closures per request and nothing to re-patch for https. This is most of the
 * difference in throughput against the stock http instrumentation.
 */

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

const UUIDS_PER_REFILL = 128;
const uuidRandom = Buffer.allocUnsafeSlow(16 * UUIDS_PER_REFILL);
let uuidAt = uuidRandom.length;
const uuidText = Buffer.from('xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx', 'latin1');
const UUID_DIGITS = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
const HEX_DIGIT = Buffer.from('0123456789abcdef', 'latin1');

/**
 * A random (version 4) UUID for requests that come without an id. crypto.randomUUID builds its
 * string from 36 one-character pieces, ~600 bytes of garbage per request, which alone moved V8's
 * young-generation growth seconds earlier under load; this writes the text into one buffer and
 * makes a single string of it, from random bytes fetched 128 ids at a time, as Node's own does.
 */
function newRequestId(): string {
  if (uuidAt === uuidRandom.length) {
    randomFillSync(uuidRandom);
    uuidAt = 0;
  }
  for (let byte = 0; byte < 16; byte++) {
    let value = uuidRandom[uuidAt + byte]!;
    if (byte === 6) value = (value & 0x0f) | 0x40;
    else if (byte === 8) value = (value & 0x3f) | 0x80;
    const at = UUID_DIGITS[byte]!;
    uuidText[at] = HEX_DIGIT[value >>> 4]!;
    uuidText[at + 1] = HEX_DIGIT[value & 0x0f]!;
  }
  uuidAt += 16;
  return uuidText.toString('latin1');
}

/**
 * Each response's request state, on the response only: a property added to an object Node already
 * built gives it a second hidden class, which slows the code in Node and Express that then sees
 * both, so the request is left alone. (A WeakMap avoids that too, but its entries outlive young
 * collections: +15 MiB of peak RSS under load.)
 */
const STATE = Symbol('otelkit.request');
type WithState = ServerResponse & { [STATE]?: RequestState };

const ROUTE = Symbol('otelkit.route');
type ExpressRequest = IncomingMessage & { baseUrl?: string; res?: WithState; [ROUTE]?: unknown };

/**
 * Express (4 and 5) assigns `req.route` when a route matches, while `req.baseUrl` is still its
 * router's mount path; by the time a later middleware outside that router sends the response
 * (json-server's renderer does), `req.baseUrl` is the outer router's again and only the route's own
 * path is left (`/:id` for `/posts/:id`). So the template is taken at that assignment, the last
 * match winning as it does for `req.route`. An accessor on IncomingMessage.prototype rather than a
 * patch of Express's Route: it covers every copy of Express an app loads (json-server nests its own
 * Express 4), required, imported or bundled, with no module hook. Express adds `route` to each
 * request anyway; the value goes to a symbol instead, so requests get no extra hidden class.
 */
function captureExpressRoutes() {
  if (Object.getOwnPropertyDescriptor(IncomingMessage.prototype, 'route')) return;
  Object.defineProperty(IncomingMessage.prototype, 'route', {
    configurable: true,
    get(this: ExpressRequest) {
      return this[ROUTE];
    },
    set(this: ExpressRequest, route: { path?: unknown } | undefined) {
      this[ROUTE] = route;
      const path = route?.path;
      // Express's own init middleware links the request to its response before any route runs
      const state = this.res?.[STATE];
      if (state && typeof path === 'string') state.route = `${this.baseUrl ?? ''}${path}` || '/';
    },
  });
}

let refusing = false;

/**
 * After an uncaught exception the process only flushes before it exits: connections and requests
 * that arrive meanwhile are dropped, as they would be by the process bare Node had already ended.
 */
export function refuseRequests() {
  refusing = true;
}

function instrumentHttp(options: InstrumentationContext) {
  const { tracer, duration, debugRejected, contextManager, settings, env } = options;
  const frontends = new Set(settings.frontends);
  const normalise = createPathNormaliser(settings.routes);
  // declared templates always keep their label (scanners' 404s must not push them into the
  // overflow route); only other routes share what is left of the budget
  const declared = new Set(settings.routes);
  const undeclaredBudget = Math.max((settings.maxRoutes ?? 200) - declared.size, 0);
  const knownRoutes = new Set<string>();
  // raw path -> route; ids make this unbounded, so it is simply cleared when full
  const routeCache = new Map<string, string>();

  const bounded = (route: string) => {
    if (declared.has(route) || knownRoutes.has(route)) return route;
    if (knownRoutes.size >= undeclaredBudget) return OVERFLOW_ROUTE;
    knownRoutes.add(route);
    return route;
  };

  const frameworkLabel = createRouteLabeller(settings.routes);

  const routeOf = (state: RequestState, path: string) => {
    if (state.route) return bounded(frameworkLabel(state.route));
    let route = routeCache.get(path);
    if (route === undefined) {
      route = bounded(options.redactText(normalise(path)));
      // long paths (a scanner's, up to the header size limit) are not worth their memory here
      if (path.length <= 256) {
        if (routeCache.size > 5000) routeCache.clear();
        routeCache.set(path, route);
      }
    }
    return route;
  };

  const finish = (response: ServerResponse, state: RequestState, aborted: boolean) => {
    if (state.ended) return;
    state.ended = true;
    state.route ??= state.rpc?.route;
    const route = routeOf(state, state.path);
    const status = response.statusCode;
    const { span } = state;
    // unsampled requests carry a non-recording span: nothing to finish
    if (span instanceof DeferredServerSpan) span.endRequest({ route, status, aborted });
    // contexts captured by lingering timers keep only this small stand-in, not the finished span
    state.span = trace.wrapSpanContext(span.spanContext());
    state.context = undefined;
    duration.record(
      (performance.now() - state.startedAt) / 1000,
      state.method,
      status,
      route,
      state.frontend,
    );
  };

  const onRequest = ({
    request,
    response,
    socket,
    server,
  }: {
    request: IncomingMessage;
    response: ServerResponse;
    socket?: net.Socket;
    server?: object;
  }) => {
    // probes on the admin endpoint are not the app's traffic
    if (server && (server as Record<symbol, unknown>)[ADMIN_SERVER]) return;
    // nor are the app's own health and scrape endpoints: untraced, in no RED metric
    if (isHealthRoute(request.url)) return;
    const headers = request.headers;
    const startedAt = performance.now();
    const given = headers['x-request-id'];
    // a generated id is safe; a given one is redacted once here (it is echoed, logged and exported)
    const requestId =
      typeof given === 'string' && REQUEST_ID.test(given) ? options.redactText(given) : newRequestId();
    const frontendHeader = headers['x-frontend-id'];
    const frontend =
      typeof frontendHeader === 'string' && frontends.has(frontendHeader) ? frontendHeader : UNKNOWN_FRONTEND;
    const method = request.method ?? 'GET';
    let debug = false;
    let debugExpiresAt = 0;
    const token = headers[DEBUG_TOKEN_HEADER];
    if (typeof token === 'string') {
      const verdict = verifyDebugToken(token, env[DEBUG_SECRET_ENV]);
      if (verdict.valid) {
        debug = true;
        debugExpiresAt = verdict.expiresAt;
      } else debugRejected.add(1, { reason: verdict.reason });
    }
    const active = contextManager.active();
    // most requests carry neither header; extracting from nothing still allocates
    const parent =
      headers.traceparent !== undefined || headers.baggage !== undefined
        ? propagation.extract(active, headers)
        : active;
    const url = request.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    const span = tracer.startServerSpan(
      {
        method,
        path,
        scheme: (request.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http',
        requestId,
        frontend,
        debug,
        userAgent: headers['user-agent'],
      },
      parent,
    );
    const state: RequestState = {
      span,
      requestId,
      frontend,
      debug,
      method,
      path,
      startedAt,
      route: undefined,
      ended: false,
    };
    (response as WithState)[STATE] = state;
    response.setHeader('x-request-id', requestId);
    state.context = new RequestContext(parent, state);
    if (debug)
      options.audit('debug token used', {
        [REQUEST_ID_ATTRIBUTE]: requestId,
        'debug_token.expires_at': new Date(debugExpiresAt).toISOString(),
      });
    // a connection whose client leaves mid-request ends that request's span as aborted; one
    // listener per connection rather than one per response
    if (socket && !watchedSockets.has(socket)) {
      watchedSockets.add(socket);
      socket.on('close', onSocketClose);
    }
  };
  const watchedSockets = new WeakSet<net.Socket>();
  function onSocketClose(this: net.Socket & { _httpMessage?: WithState | null }) {
    // the response being written on the connection, if any (later pipelined ones are not yet assigned)
    const response = this._httpMessage;
    const state = response?.[STATE];
    if (response && state) finish(response, state, !response.writableFinished);
  }
  // a finished response: published by Node right after 'finish', with no listener per response
  diagnostics.subscribe('http.server.response.finish', (message) => {
    const { response } = message as { response: WithState };
    const state = response[STATE];
    if (state) finish(response, state, false);
  });

  diagnostics.subscribe('http.server.request.start', onRequest as (message: unknown) => void);

  // The handler runs inside the request's context. Entering it from the channel above (enterWith)
  // would leave it on the parser's async frame, where keep-alive timers captured it and kept every
  // request's span alive long enough to be promoted: +50 MiB of heap under load.
  // http and https servers share net.Server's emit; patching it there spares loading https and tls
  // in apps that never serve TLS themselves.
  const emit = net.Server.prototype.emit as (this: unknown, ...args: unknown[]) => boolean;
  net.Server.prototype.emit = function (
    this: unknown,
    event: string | symbol,
    request?: unknown,
    response?: ServerResponse,
  ) {
    if (refusing && (event === 'connection' || event === 'request')) {
      ((event === 'connection' ? request : response?.socket) as net.Socket | undefined)?.destroy();
      return true;
    }
    if (event === 'request' && arguments.length === 3) {
      const state = (response as WithState | undefined)?.[STATE];
      if (state?.context) {
        try {
          return contextManager.with(state.context, emit, this, event, request, response);
        } catch (error) {
          // a synchronous throw leaves the request's context before Node reports it as uncaught
          if (error !== null && (typeof error === 'object' || typeof error === 'function'))
            THROWN_IN.set(error, state.context);
          throw error;
        }
      }
    }
    // eslint-disable-next-line prefer-rest-params
    return emit.apply(this, arguments as unknown as unknown[]);
  } as typeof net.Server.prototype.emit;

  // X-Response-Time must be set before the head goes out; every path to the head (explicit
  // writeHead, implicit on write/end) goes through writeHead.
  const writeHead = ServerResponse.prototype.writeHead;
  ServerResponse.prototype.writeHead = function (this: WithState) {
    const state = this[STATE];
    if (state && !this.headersSent) {
      this.setHeader('x-response-time', `${(performance.now() - state.startedAt).toFixed(3)}ms`);
    }
    // arguments, not a rest parameter: passed straight through without an array per response
    // eslint-disable-next-line prefer-rest-params
    return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, arguments as unknown as unknown[]);
  } as typeof writeHead;

  // Fastify reports the matched route template on its own tracing channel.
  diagnostics.subscribe('tracing:fastify.request.handler:start', (message) => {
    const { reply, route } = message as { reply?: { raw?: ServerResponse }; route?: { url?: string } };
    const state = (reply?.raw as WithState | undefined)?.[STATE];
    if (state && route?.url) state.route = route.url;
  });

  captureExpressRoutes();
  keepIdleTimersOutOfRequests();
  // a malformed endpoint fails its exports, with a warning; it must not stop the preload here
  const exportPaths = options.exportUrls.flatMap((url) => (URL.canParse(url) ? [new URL(url).pathname] : []));
  instrumentHttpClient(tracer, new Set(exportPaths));
  instrumentFetch(tracer);
}

/** HTTP servers and clients, fetch, Express and Fastify routes: Node's channels, no module hook. */
export const httpInstrumentation: Instrumentation = {
  name: 'otelkit-http',
  kind: 'channel',
  modules: [],
  enable: (context) => instrumentHttp(context),
};

/**
 * After each response Node re-arms the connection's keep-alive timer from inside the request's
 * async context, so every idle connection's timer held its last request's context (state, ids,
 * strings: ~800 bytes) until the next request. Under load that is most of what survives each young
 * collection, and V8 grows the young generation in proportion to what survives: +8 MiB of RSS in the
 * benchmark. A timeout without a callback belongs to the connection, not to a request, so it is
 * armed in the context the process started with; one with a callback keeps its caller's context.
 */
function keepIdleTimersOutOfRequests() {
  const outsideRequests = new AsyncResource('otelkit.connection-timers');
  const setTimeout = net.Socket.prototype.setTimeout;
  net.Socket.prototype.setTimeout = function (this: net.Socket, timeout: number, callback?: () => void) {
    if (callback !== undefined) return setTimeout.call(this, timeout, callback);
    return outsideRequests.runInAsyncScope(setTimeout, this, timeout);
  } as typeof setTimeout;
}

const healthRoutes: ReadonlySet<string> = new Set(HEALTH_ROUTES);
const isHealthRoute = (url = '/') => {
  const query = url.indexOf('?');
  return healthRoutes.has(query === -1 ? url : url.slice(0, query));
};

const clientSpans = new WeakMap<object, Span>();

function startClientSpan(
  tracer: Tracer,
  method: string,
  url: string,
  inject: (name: string, value: string) => void,
) {
  const active = context.active();
  if (isTracingSuppressed(active)) return undefined;
  let host = '';
  try {
    host = new URL(url).host;
  } catch {
    // a relative or malformed URL still gets a span, just without a peer
  }
  const span = tracer.startSpan(
    method,
    { kind: SpanKind.CLIENT, attributes: { 'http.request.method': method, 'server.address': host } },
    active,
  );
  propagation.inject(trace.setSpan(active, span), undefined, {
    set: (_carrier, name, value) => inject(name, value),
  });
  return span;
}

/** The standard: the request's X-Request-ID is propagated to all downstream calls (unless the app set its own). */
function forwardRequestId(inject: (name: string, value: string) => void, has: () => boolean) {
  const state = context.active().getValue(REQUEST_STATE) as RequestState | undefined;
  if (state && !has()) inject('x-request-id', state.requestId);
}

function endClientSpan(span: Span | undefined, status: number | undefined, error?: unknown) {
  if (!span) return;
  if (status !== undefined) span.setAttribute('http.response.status_code', status);
  if (error || (status ?? 0) >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
  if (error) span.setAttribute('error.type', (error as Error).name ?? 'Error');
  span.end();
}

/**
 * An export's socket must not keep the process alive when the app is done (the bounded flush
 * decides how long the process waits for telemetry). The agent refs a kept-alive socket again each
 * time it hands it to a request, so it is unreferenced per request.
 */
const unrefSocket = (socket: net.Socket) => socket.unref();

function instrumentHttpClient(tracer: Tracer, exportPaths: ReadonlySet<string>) {
  diagnostics.subscribe('http.client.request.created', (message) => {
    const { request } = message as { request: ClientRequest };
    if (request.headersSent) return;
    if (exportPaths.has(request.path) && isTracingSuppressed(context.active())) {
      request.once('socket', unrefSocket);
      return;
    }
    const url = `${request.protocol}//${request.host}${request.path}`;
    const set = (name: string, value: string) => request.setHeader(name, value);
    forwardRequestId(set, () => request.hasHeader('x-request-id'));
    const span = startClientSpan(tracer, request.method, url, set);
    if (span) clientSpans.set(request, span);
  });
  diagnostics.subscribe('http.client.response.finish', (message) => {
    const { request, response } = message as { request: ClientRequest; response: IncomingMessage };
    endClientSpan(clientSpans.get(request), response.statusCode);
    clientSpans.delete(request);
  });
  diagnostics.subscribe('http.client.request.error', (message) => {
    const { request, error } = message as { request: ClientRequest; error: unknown };
    endClientSpan(clientSpans.get(request), undefined, error);
    clientSpans.delete(request);
  });
}

function instrumentFetch(tracer: Tracer) {
  type UndiciRequest = {
    method: string;
    origin: string;
    path: string;
    headers?: unknown;
    addHeader(name: string, value: string): void;
  };
  diagnostics.subscribe('undici:request:create', (message) => {
    const { request } = message as { request: UndiciRequest };
    forwardRequestId(
      (name, value) => request.addHeader(name, value),
      // undici keeps headers as "name: value\r\n" text or a flat [name, value, ...] array
      () => /(^|\n|,)x-request-id(:|,)/i.test(String(request.headers ?? '')),
    );
    const span = startClientSpan(tracer, request.method, `${request.origin}${request.path}`, (name, value) =>
      request.addHeader(name, value),
    );
    if (span) clientSpans.set(request, span);
  });
  diagnostics.subscribe('undici:request:headers', (message) => {
    const { request, response } = message as { request: object; response: { statusCode: number } };
    endClientSpan(clientSpans.get(request), response.statusCode);
    clientSpans.delete(request);
  });
  diagnostics.subscribe('undici:request:error', (message) => {
    const { request, error } = message as { request: object; error: unknown };
    endClientSpan(clientSpans.get(request), undefined, error);
    clientSpans.delete(request);
  });
}
