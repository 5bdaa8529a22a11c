import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { z } from 'zod';
import type { AppEnv } from '../auth.ts';
import type { RouteDeps } from '../deps.ts';
import { type EncodedJson, encodeJson, sendEncoded } from '../encoded-json.ts';
import { jsonResponse } from '../openapi.ts';
import { namesResponse } from '../schemas.ts';
import type { VersionedSingleFlight } from '../single-flight.ts';
import { isoOrNull } from '../wire.ts';

/** The body of `GET /api/names`: the core's `listNames`. */
async function readNamesBody(deps: RouteDeps): Promise<z.output<typeof namesResponse>> {
  const summaries = await deps.tm.listNames();
  return {
    names: summaries.map((s) => ({
      name: s.name,
      interval: s.interval,
      intervalMs: s.intervalMs,
      maxAttempts: s.maxAttempts,
      firstSlot: isoOrNull(s.firstSlot),
      lastSlot: isoOrNull(s.lastSlot),
      counts: s.counts,
      failing: s.failing,
      oldestDueSlot: isoOrNull(s.oldestDueSlot),
    })),
  };
}

const namesRoute = createRoute({
  method: 'get',
  path: '/',
  summary:
    'Every task name with its interval, first and last slot, counts by live state, failing and oldest due slot',
  responses: { 200: jsonResponse('The names', namesResponse) },
});

/**
 * `GET /api/names`. Requests share computations through `flights` as grid requests do (see `gridRoutes`):
 * concurrent ones share one, one within `namesCacheMs` reuses the last, never one that started before a
 * change the event stream announced.
 */
export function namesRoutes(deps: RouteDeps, flights: VersionedSingleFlight<EncodedJson>) {
  return new OpenAPIHono<AppEnv>().openapi(namesRoute, async (c) => {
    const names = await flights.run('names', async () =>
      encodeJson(JSON.stringify(await readNamesBody(deps))),
    );
    return sendEncoded<z.output<typeof namesResponse>>(c, names);
  });
}
