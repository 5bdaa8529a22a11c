import { Hono } from 'hono';
import { type AppEnv, actorOf, checkBearer } from '../auth.ts';
import type { RouteDeps } from '../deps.ts';

/** `GET /api/whoami`: whether this server takes writes, and whether the token sent (if any) may write. */
export function whoamiRoutes(deps: RouteDeps) {
  return new Hono<AppEnv>().get('/', (c) => {
    const isReadOnly = deps.auth.token === null;
    const canWrite = checkBearer(deps.auth, c);
    return c.json({
      isReadOnly,
      canWrite,
      actor: canWrite ? actorOf(deps.auth, c) : null,
    });
  });
}
