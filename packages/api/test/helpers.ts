import { randomBytes } from 'node:crypto';
import { CELL_STATE_CODES, CELL_STATES_WORST_FIRST, type CellState, type TaskManager } from '@dtm/core';
import { afterAll, expect } from 'vitest';
import type { z } from 'zod';
import { createManager, databaseUrl, dropSchema } from '../../core/test/helpers.ts';
import { type AppType, createApp } from '../src/app.ts';
import { createApiManager } from '../src/database.ts';
import type { AppDeps, AuthConfig, Limits, Logger } from '../src/deps.ts';
import { EventHub } from '../src/event-hub.ts';
import type { gridResponse } from '../src/schemas.ts';
import type { WireHolder } from '../src/wire.ts';

export { databaseUrl, pastSlot, uniqueName, waitFor } from '../../core/test/helpers.ts';

/** The write token of test apps. */
export const TOKEN = 'test-token-0123456789abcdef';

export interface TestApp {
  app: AppType;
  /** The API's own TaskManager (its pool, with the statement_timeout). */
  tm: TaskManager;
  /** A separate TaskManager playing the workers: creates, acquires, completes. */
  worker: TaskManager;
  events: EventHub;
  schema: string;
}

/**
 * An app over a schema of its own (dropped after the file), built like the server builds it: the API's own
 * pool, and a separate manager for the test's workers.
 */
export async function createTestApp(
  options: {
    auth?: Partial<AuthConfig>;
    limits?: Partial<Limits>;
    dashboardDir?: string | null;
    corsOrigins?: string[];
    now?: () => Date;
    schema?: string;
    /** Default: silent (or errors to the console with DEBUG_API set). */
    logger?: Logger;
  } = {},
): Promise<TestApp> {
  const schema = options.schema ?? `t_${randomBytes(6).toString('hex')}`;
  const worker = await createManager({ schema, workerName: 'test-worker' });
  const database = createApiManager({ connectionString: databaseUrl, schema, poolSize: 10 });
  const events = new EventHub(database.tm, silentLogger);
  afterAll(async () => {
    await events.close();
    await database.close();
  });
  const deps: AppDeps = {
    tm: database.tm,
    auth: { token: TOKEN, tokenName: 'tests', ...options.auth },
    events,
    logger: options.logger ?? (process.env.DEBUG_API ? errorLogger : silentLogger),
    dashboardDir: options.dashboardDir ?? null,
    // Tests read what they just wrote.
    limits: { gridCacheMs: 0, namesCacheMs: 0, ...options.limits },
    ...(options.corsOrigins ? { corsOrigins: options.corsOrigins } : {}),
    ...(options.now ? { now: options.now } : {}),
  };
  return { app: createApp(deps), tm: database.tm, worker, events, schema };
}

/** Drops a schema (for tests that make their own). */
export { dropSchema };

/**
 * Which pg_stat_activity rows are a schema's subscription connection (`tm.subscribe`): its last statement
 * is its LISTEN or a read of the history. $1: the schema.
 */
export const SUBSCRIPTION_SESSION = `(query = 'LISTEN "' || $1 || '.events"'
  OR (query LIKE '%pg_snapshot_xip%' AND query LIKE '%"' || $1 || '".transitions%'))
  AND pid <> pg_backend_pid()`;

export const silentLogger: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/**
 * A logger that keeps every entry but the requests' as the text an operator would read: `<level> <message>`,
 * then the error's stack (or value) on the lines below when one is given (`err`).
 */
export function recordingLogger(): { logger: Logger; entries: string[] } {
  const entries: string[] = [];
  const record = (level: string, fields: Record<string, unknown>, message: string) => {
    if (message === 'request') return;
    const error = fields.err;
    const detail = error === undefined ? '' : `\n${error instanceof Error ? error.stack : String(error)}`;
    entries.push(`${level} ${message}${detail}`);
  };
  return {
    entries,
    logger: {
      debug: () => {},
      info: (fields, message) => record('info', fields, message),
      warn: (fields, message) => record('warn', fields, message),
      error: (fields, message) => record('error', fields, message),
    },
  };
}

/** Logs server errors, so a 500 in a test shows its cause. */
export const errorLogger: Logger = {
  ...silentLogger,
  error: (fields, message) => console.error(message, fields),
};

/** A JSON POST with the right token (or the given headers). */
export function post(
  app: AppType,
  path: string,
  body: unknown,
  headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` },
): Promise<Response> {
  return Promise.resolve(
    app.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    }),
  );
}

/** GET and parse JSON, failing the test with the body when the status is not the expected one. */
export async function getJson<T = Record<string, unknown>>(
  app: AppType,
  path: string,
  expectedStatus = 200,
  headers: Record<string, string> = {},
): Promise<T> {
  const response = await app.request(path, { headers });
  const text = await response.text();
  if (response.status !== expectedStatus) {
    throw new Error(`GET ${path}: expected ${expectedStatus}, got ${response.status}: ${text}`);
  }
  return JSON.parse(text) as T;
}

/**
 * Everything a request could change, as one comparable string: every row of every table of the schema
 * (history ids included).
 */
export async function snapshot(tm: TaskManager): Promise<string> {
  const s = `"${tm.schema}"`;
  const [names, tasks, history] = await Promise.all([
    tm.pool.query(`SELECT * FROM ${s}.task_names ORDER BY name`),
    tm.pool.query(`SELECT * FROM ${s}.tasks ORDER BY name, slot`),
    tm.pool.query(`SELECT * FROM ${s}.task_history ORDER BY id`),
  ]);
  return JSON.stringify([names.rows, tasks.rows, history.rows]);
}

/** One Server-Sent Event. */
export interface SseEvent {
  event: string;
  data: string;
}

/**
 * Opens `/api/events` through `app.request` and reads its body: `next()` waits (with a deadline) for an
 * event matching the predicate, keeping the ones before it in `seen`.
 */
export async function openEvents(app: AppType, headers: Record<string, string> = {}) {
  const response = await app.request('/api/events', { headers });
  if (response.status !== 200 || !response.body) throw new Error(`/api/events answered ${response.status}`);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const seen: SseEvent[] = [];
  const comments: string[] = [];
  let buffer = '';
  let cursor = 0;
  let pending: ReturnType<typeof reader.read> | null = null;

  const parseFrames = () => {
    for (;;) {
      const end = buffer.indexOf('\n\n');
      if (end < 0) return;
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of frame.split('\n')) {
        if (line.startsWith(':')) comments.push(line.slice(1).trim());
        else if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (data.length > 0 || event !== 'message') seen.push({ event, data: data.join('\n') });
    }
  };

  return {
    response,
    seen,
    comments,
    /** The first event after the previous `next()` that matches, within `timeoutMs`. */
    async next(matches: (event: SseEvent) => boolean, timeoutMs = 10_000): Promise<SseEvent> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        while (cursor < seen.length) {
          const event = seen[cursor] as SseEvent;
          cursor += 1;
          if (matches(event)) return event;
        }
        const left = deadline - Date.now();
        if (left <= 0)
          throw new Error(`no matching event within ${timeoutMs} ms; seen ${JSON.stringify(seen)}`);
        pending ??= reader.read();
        let timer: NodeJS.Timeout | undefined;
        const result = await Promise.race([
          pending,
          new Promise<null>((resolve) => {
            timer = setTimeout(() => resolve(null), left);
          }),
        ]);
        clearTimeout(timer);
        if (result === null) continue;
        pending = null;
        if (result.done) throw new Error(`the stream ended; seen ${JSON.stringify(seen)}`);
        buffer += decoder.decode(result.value, { stream: true });
        parseFrames();
      }
    },
    /** Waits for a comment line (heartbeat). */
    async nextComment(timeoutMs = 10_000): Promise<string> {
      const deadline = Date.now() + timeoutMs;
      const before = comments.length;
      while (comments.length === before) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error('no comment within the deadline');
        pending ??= reader.read();
        let timer: NodeJS.Timeout | undefined;
        const result = await Promise.race([
          pending,
          new Promise<null>((resolve) => {
            timer = setTimeout(() => resolve(null), left);
          }),
        ]);
        clearTimeout(timer);
        if (result === null) continue;
        pending = null;
        if (result.done) throw new Error('the stream ended');
        buffer += decoder.decode(result.value, { stream: true });
        parseFrames();
      }
      return comments[comments.length - 1] ?? '';
    },
    async close(): Promise<void> {
      await reader.cancel().catch(() => {});
    },
  };
}

type WireGrid = z.output<typeof gridResponse>;

/** A grid cell spelled out: what a compact row (`gridRowSchema`) says of it. */
export interface ExpandedCell {
  start: string;
  end: string;
  state: CellState;
  counts: Partial<Record<CellState, number>>;
  failedAttempts: number;
  message: string | null;
  holder: WireHolder | null;
}

const stateOfCode = (code: string) => CELL_STATES_WORST_FIRST[CELL_STATE_CODES.indexOf(code)] as CellState;

/**
 * The cells of row `rowIndex` of a compact grid, decoded from the format as `docs/http-api.md` documents it
 * (independently of the dashboard's decoder), so that tests can state the semantics cell by cell.
 */
export function gridCells(grid: WireGrid, rowIndex = 0): ExpandedCell[] {
  const row = grid.rows[rowIndex];
  if (!row) throw new Error(`no row ${rowIndex}`);
  const firstMs = Date.parse(row.firstStart);
  const details = new Map(row.details.map((detail) => [detail[0], detail]));
  expect(row.states).toHaveLength(row.cellCount);
  const { firstCellSlots, slotsPerCell, slotCount } = row;
  expect(row.cellCount).toBe(
    slotCount === 0 ? 0 : 1 + Math.ceil((slotCount - firstCellSlots) / slotsPerCell),
  );
  return [...row.states].map((code, cell) => {
    const first = cell === 0 ? 0 : firstCellSlots + (cell - 1) * slotsPerCell;
    const end = Math.min(slotCount, cell === 0 ? firstCellSlots : first + slotsPerCell);
    const state = stateOfCode(code);
    const [, counted, failedAttempts, message, holder] = details.get(cell) ?? [cell];
    const counts: Partial<Record<CellState, number>> = counted ? {} : { [state]: end - first };
    for (const [, letter, n] of (counted ?? '').matchAll(/([A-Z])(\d+)/g))
      counts[stateOfCode(letter ?? '')] = Number(n);
    return {
      start: new Date(firstMs + first * row.intervalMs).toISOString(),
      end: new Date(firstMs + end * row.intervalMs).toISOString(),
      state,
      counts,
      failedAttempts: failedAttempts ?? 0,
      message: message === null || message === undefined ? null : (grid.messages[message] ?? null),
      holder: holder ?? null,
    };
  });
}
