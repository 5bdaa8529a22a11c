import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { type AppEnv, actorOf, checkBearer } from '../auth.ts';
import type { RouteDeps } from '../deps.ts';
import { ERRORS, jsonResponse } from '../openapi.ts';
import { whoamiResponse } from '../schemas.ts';

const whoamiRoute = createRoute({
  method: 'get',
  path: '/',
  summary: 'Whether the server takes writes and whether the bearer token sent (if any) may write',
  responses: { 200: jsonResponse('Who the request is', whoamiResponse), 401: ERRORS[401] },
});

/** `GET /api/whoami`: whether this server takes writes, and whether the token sent (if any) may write. */
export function whoamiRoutes(deps: RouteDeps) {
  return new OpenAPIHono<AppEnv>().openapi(whoamiRoute, (c) => {
    const isReadOnly = deps.auth.token === null;
    const canWrite = checkBearer(deps.auth, c);
    return c.json({ isReadOnly, canWrite, actor: canWrite ? actorOf(deps.auth, c) : null }, 200);
  });
}
