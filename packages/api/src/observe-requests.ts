import type { Span } from '@opentelemetry/api';
import type { Context, MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { Logger } from './deps.ts';
import { type RequestMetrics, routeLabel } from './request-metrics.ts';

type OpenTelemetry = typeof import('@opentelemetry/api');

/** `@opentelemetry/api` when it is installed (an optional peer dependency), else null. */
const openTelemetry: Promise<OpenTelemetry | null> = import('@opentelemetry/api').catch(() => null);

/**
 * Observes every request once it is answered: a log entry (request id, method, route, status, latency in
 * ms), the request metrics, and, when `@opentelemetry/api` is installed, a server span around the request
 * (its parent read from the request's trace headers by the registered propagator; a no-op until an SDK is
 * registered). The route is the matched pattern, never the raw path. Runs after `requestId()`.
 */
export function observeRequests(logger: Logger, metrics: RequestMetrics): MiddlewareHandler {
  return async (c, next) => {
    const otel = await openTelemetry;
    const started = performance.now();
    let span: Span | null = null;
    if (otel) span = await runInSpan(otel, c, next);
    else await next();
    // After next(), routeIndex points at the handler that answered: its pattern is the route label.
    const method = c.req.method;
    const route = routeLabel(routePath(c));
    const status = c.res.status;
    const ms = performance.now() - started;
    metrics.record(method, route, status, ms);
    logger.info(
      { requestId: c.get('requestId'), method, route, status, ms: Math.round(ms * 10) / 10 },
      'request',
    );
    if (otel && span) {
      span.updateName(`${method} ${route}`);
      span.setAttributes({ 'http.route': route, 'http.response.status_code': status });
      if (status >= 500) span.setStatus({ code: otel.SpanStatusCode.ERROR });
      span.end();
    }
  };
}

/** Runs the rest of the chain as the current span's context; the span, to be ended once answered. */
async function runInSpan(otel: OpenTelemetry, c: Context, next: () => Promise<void>): Promise<Span> {
  const parent = otel.propagation.extract(otel.context.active(), c.req.raw.headers, headersGetter);
  const span = otel.trace.getTracer('@dtm/api').startSpan(
    c.req.method,
    {
      kind: otel.SpanKind.SERVER,
      attributes: { 'http.request.method': c.req.method, 'url.path': c.req.path },
    },
    parent,
  );
  await otel.context.with(otel.trace.setSpan(parent, span), next);
  return span;
}

/** How the propagator reads a Fetch API request's headers. */
const headersGetter = {
  keys: (headers: Headers) => {
    const keys: string[] = [];
    headers.forEach((_value, key) => {
      keys.push(key);
    });
    return keys;
  },
  get: (headers: Headers, key: string) => headers.get(key) ?? undefined,
};
