import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import type { AppEnv } from '../auth.ts';

const metricsRoute = createRoute({
  method: 'get',
  path: '/',
  summary:
    'Prometheus metrics (prom-client): slots by name and state, failing, oldest due age, missing slots, HTTP requests, and the process',
  responses: {
    200: { description: 'Prometheus text format', content: { 'text/plain': { schema: z.string() } } },
  },
});

/** `GET /metrics`: the registry's series in Prometheus text format (see metrics.ts). */
export function metricsRoutes(registry: Registry) {
  return new OpenAPIHono<AppEnv>().openapi(metricsRoute, async (c) =>
    c.text(await registry.metrics(), 200, { 'Content-Type': registry.contentType }),
  );
}
