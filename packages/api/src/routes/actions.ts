import { fixedCadence, formatInterval, type SlotSelection, slotsIn } from '@dtm/core';
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { z } from 'zod';
import { type AppEnv, requireWriter } from '../auth.ts';
import type { AuthConfig, RouteDeps } from '../deps.ts';
import { ApiError, badInput } from '../http-error.ts';
import { ERRORS, jsonResponse, WRITE_SECURITY } from '../openapi.ts';
import {
  backfillBody,
  backfillResponse,
  errorResponse,
  requeueBody,
  requeueResponse,
  skipBody,
  skipResponse,
} from '../schemas.ts';
import { toWireRequeue, toWireSkip } from '../wire.ts';

/** The declaration of a write: a JSON body of `body`, the write token, and the errors every write may answer. */
function writeRoute<B extends z.ZodType, R extends z.ZodType>(
  auth: AuthConfig,
  route: { path: string; summary: string; description?: string; body: B; response: R },
) {
  return createRoute({
    method: 'post',
    path: route.path,
    summary: route.summary,
    ...(route.description === undefined ? {} : { description: route.description }),
    middleware: requireWriter(auth),
    security: WRITE_SECURITY,
    request: { body: { required: true, content: { 'application/json': { schema: route.body } } } },
    responses: {
      200: jsonResponse('What was done (or, with dryRun, would be)', route.response),
      400: ERRORS[400],
      401: ERRORS[401],
      403: ERRORS[403],
      404: ERRORS[404],
      409: jsonResponse(
        'BUSY: nothing changed because workers hold the slots (with the outcomes and counts); CONFLICT',
        errorResponse,
      ),
      413: ERRORS[413],
    },
  });
}

/**
 * Refuses a range that spans more slots than one request may touch, before the core expands it (the core
 * has its own, fixed cap; this one is the operator's). Unknown names answer 404, as the core would.
 */
async function checkRange(deps: RouteDeps, name: string, from: Date, to: Date): Promise<void> {
  if (from > to) throw badInput(`inverted range: from ${from.toISOString()} is after to ${to.toISOString()}`);
  const settings = await deps.tm.getTaskName(name);
  if (!settings) throw new ApiError(404, 'NOT_FOUND', `no task name ${JSON.stringify(name)}`);
  const { first, end } = slotsIn(
    fixedCadence(settings.intervalMs, settings.origin.getTime()),
    from.getTime(),
    to.getTime(),
  );
  const count = end - first;
  if (count > deps.limits.maxSlotsPerRequest) {
    throw badInput(
      `the range holds ${count} slots of ${formatInterval(settings.intervalMs)}; at most ${deps.limits.maxSlotsPerRequest} per request`,
    );
  }
}

async function toSelection(
  deps: RouteDeps,
  body: { name: string; slots?: Date[] | undefined; from?: Date | undefined; to?: Date | undefined },
): Promise<SlotSelection> {
  if (body.slots) return { name: body.name, slots: body.slots };
  // The schema guarantees both ends when there are no slots.
  const from = body.from ?? new Date(Number.NaN);
  const to = body.to ?? new Date(Number.NaN);
  await checkRange(deps, body.name, from, to);
  return { name: body.name, from, to };
}

/**
 * The HTTP status of a guarded operation: 200 when something changed (or would), 409 when nothing did
 * because slots were busy, 404 when none of the slots exist, 200 otherwise (all already as asked).
 */
function statusOf(counts: { changed: number; busy: number; isNoneFound: boolean }): 200 | 404 | 409 {
  if (counts.changed > 0) return 200;
  if (counts.busy > 0) return 409;
  if (counts.isNoneFound) return 404;
  return 200;
}

/** `POST /api/requeue`, `POST /api/skip` and `POST /api/backfill`: every one needs the write token. */
export function actionRoutes(deps: RouteDeps) {
  const maxSlots = deps.limits.maxSlotsPerRequest;
  const requeueRoute = writeRoute(deps.auth, {
    path: '/requeue',
    summary:
      'Guarded re-queue: COMPLETE/SKIP become AVAILABLE, a backing-off slot becomes due; held slots are never touched',
    description: `At most ${maxSlots} slots per request. 409 (with the outcomes) when nothing was re-queued because slots are busy; 404 when none of the slots exist.`,
    body: requeueBody(maxSlots),
    response: requeueResponse,
  });
  const skipRoute = writeRoute(deps.auth, {
    path: '/skip',
    summary: 'Mark AVAILABLE (failing included) and MISSING slots SKIP; COMPLETE only with includeComplete',
    description: `At most ${maxSlots} slots per request. 409 (with the outcomes) when nothing was skipped because slots are busy.`,
    body: skipBody(maxSlots),
    response: skipResponse,
  });
  const backfillRoute = writeRoute(deps.auth, {
    path: '/backfill',
    summary: 'Create the missing slots of an existing name in [from, to) as AVAILABLE (idempotent)',
    body: backfillBody,
    response: backfillResponse,
  });
  return new OpenAPIHono<AppEnv>()
    .openapi(requeueRoute, async (c) => {
      const body = c.req.valid('json');
      const selection = await toSelection(deps, body);
      const result = await deps.tm.requeue(selection, {
        reason: body.reason,
        actor: c.get('actor'),
        dryRun: body.dryRun ?? false,
      });
      const wire = toWireRequeue(result);
      const status = statusOf({
        changed: wire.counts.requeued,
        busy: wire.counts.busy,
        isNoneFound: wire.outcomes.length === wire.counts.notFound,
      });
      if (status === 409) {
        throw new ApiError(409, 'BUSY', 'nothing was re-queued: a worker holds the slots right now', wire);
      }
      if (status === 404) {
        throw new ApiError(404, 'NOT_FOUND', `no such slots of ${JSON.stringify(body.name)}`, wire);
      }
      return c.json(wire, 200);
    })
    .openapi(skipRoute, async (c) => {
      const body = c.req.valid('json');
      const selection = await toSelection(deps, body);
      const result = await deps.tm.skip(selection, {
        reason: body.reason,
        actor: c.get('actor'),
        dryRun: body.dryRun ?? false,
        includeComplete: body.includeComplete ?? false,
      });
      const wire = toWireSkip(result);
      const status = statusOf({
        changed: wire.counts.skipped,
        busy: wire.counts.busy,
        isNoneFound: false,
      });
      if (status === 409) {
        throw new ApiError(409, 'BUSY', 'nothing was skipped: a worker holds the slots right now', wire);
      }
      return c.json(wire, 200);
    })
    .openapi(backfillRoute, async (c) => {
      const body = c.req.valid('json');
      await checkRange(deps, body.name, body.from, body.to);
      const slots = await deps.tm.backfill({
        name: body.name,
        from: body.from,
        to: body.to,
        createdBy: c.get('actor'),
        dryRun: body.dryRun ?? false,
      });
      return c.json({ created: slots.length, slots: slots.map((slot) => slot.toISOString()) }, 200);
    });
}
