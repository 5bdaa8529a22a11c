import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../auth.ts';
import type { RouteDeps } from '../deps.ts';
import { jsonResponse } from '../openapi.ts';
import { healthResponse } from '../schemas.ts';

const HEALTH_TIMEOUT_MS = 3_000;

/** Whether the database (and the replica reads go to, if any) answers within a few seconds. */
export async function isDatabaseUp(deps: RouteDeps): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), HEALTH_TIMEOUT_MS);
  });
  const probe = deps.tm.ping().then(
    () => true,
    () => false,
  );
  try {
    return await Promise.race([probe, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const healthRoute = createRoute({
  method: 'get',
  path: '/',
  summary: 'Liveness plus database reachability',
  responses: {
    200: jsonResponse('The database answers', healthResponse),
    503: jsonResponse(`The database did not answer within ${HEALTH_TIMEOUT_MS / 1000} s`, healthResponse),
  },
});

/** `GET /api/health`: liveness plus database reachability. */
export function healthRoutes(deps: RouteDeps) {
  return new OpenAPIHono<AppEnv>().openapi(healthRoute, async (c) => {
    const isUp = await isDatabaseUp(deps);
    return isUp
      ? c.json({ ok: true, database: 'up' } as const, 200)
      : c.json({ ok: false, database: 'down' } as const, 503);
  });
}
