import { Hono } from 'hono';
import type { z } from 'zod';
import type { AppEnv } from '../auth.ts';
import type { RouteDeps } from '../deps.ts';
import { ApiError, badInput } from '../http-error.ts';
import { queryInput } from '../query.ts';
import { isoDate, taskName, tasksQuery, type tasksResponse } from '../schemas.ts';
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

/** `GET /api/tasks` and `GET /api/tasks/:name/:slot`. */
export function tasksRoutes(deps: RouteDeps) {
  return new Hono<AppEnv>()
    .get('/', async (c) => {
      const query = tasksQuery.parse(queryInput(c, ['state']));
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
      return c.json(body);
    })
    .get('/:name/:slot', async (c) => {
      const name = taskName.parse(c.req.param('name'));
      const slot = isoDate.parse(c.req.param('slot'));
      const task = await deps.tm.getTask(name, slot);
      if (!task) {
        throw new ApiError(404, 'NOT_FOUND', `no slot ${JSON.stringify(name)} @ ${slot.toISOString()}`);
      }
      const history = await deps.tm.history(name, slot);
      return c.json({ task: toWireTask(task), history: history.map(toWireHistory) });
    });
}
