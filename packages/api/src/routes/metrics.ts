import { Hono } from 'hono';
import type { Registry } from 'prom-client';
import type { AppEnv } from '../auth.ts';

/** `GET /metrics`: the registry's series in Prometheus text format (see metrics.ts). */
export function metricsRoutes(registry: Registry) {
  return new Hono<AppEnv>().get('/', async (c) =>
    c.body(await registry.metrics(), 200, { 'Content-Type': registry.contentType }),
  );
}
