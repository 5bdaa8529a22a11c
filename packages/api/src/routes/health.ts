import { Hono } from 'hono';
import type { AppEnv } from '../auth.ts';
import type { RouteDeps } from '../deps.ts';

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

/** `GET /api/health`: liveness plus database reachability. */
export function healthRoutes(deps: RouteDeps) {
  return new Hono<AppEnv>().get('/', async (c) => {
    const isUp = await isDatabaseUp(deps);
    return isUp ? c.json({ ok: true, database: 'up' }, 200) : c.json({ ok: false, database: 'down' }, 503);
  });
}
