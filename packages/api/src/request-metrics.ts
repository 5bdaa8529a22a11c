import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';

/** Upper bounds of the latency histogram, in seconds. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

interface Series {
  method: string;
  route: string;
  status: number;
  count: number;
}

interface Histogram {
  method: string;
  route: string;
  buckets: number[];
  sum: number;
  count: number;
}

/**
 * Request counts and latencies, labelled by method, route pattern (never the raw path, so labels stay
 * few) and status. Kept in memory; `/metrics` renders them.
 */
export class RequestMetrics {
  readonly #counts = new Map<string, Series>();
  readonly #latencies = new Map<string, Histogram>();

  /** The middleware that records every request. */
  middleware(): MiddlewareHandler {
    return async (c, next) => {
      const started = performance.now();
      try {
        await next();
      } finally {
        // After next(), routeIndex points at the handler that answered: its pattern is the route label.
        this.record(c.req.method, routeLabel(routePath(c)), c.res.status, performance.now() - started);
      }
    };
  }

  record(method: string, route: string, status: number, ms: number): void {
    const methodLabel = ['GET', 'POST', 'HEAD', 'OPTIONS'].includes(method) ? method : 'OTHER';
    const countKey = `${methodLabel} ${route} ${status}`;
    const series = this.#counts.get(countKey);
    if (series) series.count += 1;
    else this.#counts.set(countKey, { method: methodLabel, route, status, count: 1 });
    const latencyKey = `${methodLabel} ${route}`;
    let histogram = this.#latencies.get(latencyKey);
    if (!histogram) {
      histogram = { method: methodLabel, route, buckets: LATENCY_BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.#latencies.set(latencyKey, histogram);
    }
    const seconds = ms / 1000;
    LATENCY_BUCKETS.forEach((bound, i) => {
      if (seconds <= bound) histogram.buckets[i] = (histogram.buckets[i] ?? 0) + 1;
    });
    histogram.sum += seconds;
    histogram.count += 1;
  }

  /** The Prometheus text of the request series. */
  render(): string {
    const lines = [
      '# HELP dtm_http_requests_total HTTP requests answered, by method, route and status.',
      '# TYPE dtm_http_requests_total counter',
    ];
    for (const s of this.#counts.values()) {
      lines.push(
        `dtm_http_requests_total{method="${s.method}",route="${escapeLabel(s.route)}",status="${s.status}"} ${s.count}`,
      );
    }
    lines.push(
      '# HELP dtm_http_request_duration_seconds Time to answer HTTP requests (SSE streams: until headers).',
      '# TYPE dtm_http_request_duration_seconds histogram',
    );
    for (const h of this.#latencies.values()) {
      const labels = `method="${h.method}",route="${escapeLabel(h.route)}"`;
      LATENCY_BUCKETS.forEach((bound, i) => {
        lines.push(`dtm_http_request_duration_seconds_bucket{${labels},le="${bound}"} ${h.buckets[i] ?? 0}`);
      });
      lines.push(`dtm_http_request_duration_seconds_bucket{${labels},le="+Inf"} ${h.count}`);
      lines.push(`dtm_http_request_duration_seconds_sum{${labels}} ${h.sum}`);
      lines.push(`dtm_http_request_duration_seconds_count{${labels}} ${h.count}`);
    }
    return `${lines.join('\n')}\n`;
  }
}

function routeLabel(path: string): string {
  if (path.startsWith('/api/') || path === '/metrics') return path;
  return path === '*' || path === '/*' ? 'other' : 'dashboard';
}

/** Escapes a Prometheus label value. */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
