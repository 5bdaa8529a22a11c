import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { z } from 'zod';
import type { AppEnv } from '../auth.ts';
import type { RouteDeps } from '../deps.ts';
import { ApiError, badInput } from '../http-error.ts';
import { ERRORS, jsonResponse } from '../openapi.ts';
import { isoDate, taskName, taskParams, taskResponse, tasksQuery, tasksResponse } from '../schemas.ts';
import { toWireHistory, toWireTask } from '../wire.ts';

const DEFAULT_LIMIT = 100;

interface Cursor {
  name: string;
  slot: Date;
}

/** The cursor is the last row's (name, slot), opaque to clients: base64url of JSON. */
export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.name, cursor.slot.toISOString()]), 'utf8').toString('base64url');
}

function decodeCursor(text: string): Cursor {
  try {
    const value: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2) {
      const name = taskName.parse(value[0]);
      const slot = isoDate.parse(value[1]);
      return { name, slot };
    }
  } catch {
    // falls through to the error below
  }
  throw badInput('cursor is not one this server handed out');
}

async function assertNameExists(deps: RouteDeps, name: string): Promise<void> {
  if (!(await deps.tm.getTaskName(name))) throw badInput(`unknown task name ${JSON.stringify(name)}`);
}

const tasksRoute = createRoute({
  method: 'get',
  path: '/',
  summary: 'Task rows with the live ACQUIRED overlay, ordered by name then slot, with cursor pagination',
  request: { query: tasksQuery },
  responses: { 200: jsonResponse('A page of tasks', tasksResponse), 400: ERRORS[400] },
});

const taskRoute = createRoute({
  method: 'get',
  path: '/{name}/{slot}',
  summary: 'One slot with its history (oldest first)',
  request: { params: taskParams },
  responses: {
    200: jsonResponse('The slot and its history', taskResponse),
    400: ERRORS[400],
    404: ERRORS[404],
  },
});

/** `GET /api/tasks` and `GET /api/tasks/{name}/{slot}`. */
export function tasksRoutes(deps: RouteDeps) {
  return new OpenAPIHono<AppEnv>()
    .openapi(tasksRoute, async (c) => {
      const query = c.req.valid('query');
      if (query.from && query.to && query.from > query.to) {
        throw badInput(
          `inverted range: from ${query.from.toISOString()} is after to ${query.to.toISOString()}`,
        );
      }
      if (query.name !== undefined) await assertNameExists(deps, query.name);
      const limit = query.limit ?? DEFAULT_LIMIT;
      const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
      // One more than asked tells whether there is a next page.
      const tasks = await deps.tm.listTasks({
        ...(query.name === undefined ? {} : { name: query.name }),
        ...(query.from === undefined ? {} : { from: query.from }),
        ...(query.to === undefined ? {} : { to: query.to }),
        ...(query.state === undefined || query.state.length === 0 ? {} : { states: query.state }),
        ...(after === undefined ? {} : { after }),
        isFailing: query.failing ?? false,
        limit: limit + 1,
      });
      const page = tasks.slice(0, limit);
      const last = page.at(-1);
      const body: z.output<typeof tasksResponse> = {
        tasks: page.map(toWireTask),
        nextCursor: tasks.length > limit && last ? encodeCursor(last) : null,
      };
      return c.json(body, 200);
    })
    .openapi(taskRoute, async (c) => {
      const { name, slot } = c.req.valid('param');
      const task = await deps.tm.getTask(name, slot);
      if (!task) {
        throw new ApiError(404, 'NOT_FOUND', `no slot ${JSON.stringify(name)} @ ${slot.toISOString()}`);
      }
      const history = await deps.tm.history(name, slot);
      return c.json({ task: toWireTask(task), history: history.map(toWireHistory) }, 200);
    });
}
