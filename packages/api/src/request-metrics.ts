import { Counter, Histogram, type Registry } from 'prom-client';

/** Upper bounds of the latency histogram, in seconds. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Request counts and latencies (prom-client series on the app's registry), labelled by method, route
 * pattern (never the raw path, so labels stay few) and status.
 */
export class RequestMetrics {
  readonly #requests: Counter<'method' | 'route' | 'status'>;
  readonly #latency: Histogram<'method' | 'route'>;

  constructor(registry: Registry) {
    this.#requests = new Counter({
      name: 'dtm_http_requests_total',
      help: 'HTTP requests answered, by method, route and status.',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    });
    this.#latency = new Histogram({
      name: 'dtm_http_request_duration_seconds',
      help: 'Time to answer HTTP requests (SSE streams: until headers).',
      labelNames: ['method', 'route'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
  }

  /** Counts a request answered with `status` after `ms`; `route` is its pattern (see `routeLabel`). */
  record(method: string, route: string, status: number, ms: number): void {
    const methodLabel = ['GET', 'POST', 'HEAD', 'OPTIONS'].includes(method) ? method : 'OTHER';
    this.#requests.inc({ method: methodLabel, route, status: String(status) });
    this.#latency.observe({ method: methodLabel, route }, ms / 1000);
  }
}

/** The route label of a matched pattern: API patterns as they are, the dashboard's paths as one. */
export function routeLabel(path: string): string {
  if (path.startsWith('/api/') || path === '/metrics') return path;
  return path === '*' || path === '/*' ? 'other' : 'dashboard';
}
