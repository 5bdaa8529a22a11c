// What operators scrape and read: /metrics through prom-client, and the structured logs through pino.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { createApiManager } from '../src/database.ts';
import type { Logger } from '../src/deps.ts';
import { EventHub } from '../src/event-hub.ts';
import {
  createTestApp,
  databaseUrl,
  dropSchema,
  pastSlot,
  silentLogger,
  uniqueName,
  waitFor,
} from './helpers.ts';

/** The value of the sample `name{labels}` (labels in any order), or undefined when there is none. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3]);
  }
  return undefined;
}

/** A pino logger whose entries land in `entries`, parsed. */
function capturingPino(): { logger: pino.Logger; entries: Record<string, unknown>[] } {
  const entries: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void entries.push(JSON.parse(line)) });
  return { logger, entries };
}

describe('GET /metrics through prom-client', () => {
  it("adds the process's default metrics (event-loop lag, heap, GC, resident memory) to the series, each once", async () => {
    const { app } = await createTestApp();
    const text = await (await app.request('/metrics')).text();
    expect(sample(text, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'nodejs_eventloop_lag_p99_seconds')).toBeGreaterThan(0);
    expect(sample(text, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(text).toContain('# TYPE nodejs_gc_duration_seconds histogram');
    const types = [...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]);
    expect(types.length).toBeGreaterThan(20);
    expect(new Set(types).size).toBe(types.length);
  });

  it('reads the slots at each scrape: a slot completed between two scrapes moves from AVAILABLE to COMPLETE', async () => {
    const { app, worker } = await createTestApp();
    const name = uniqueName('scraped');
    const slot = pastSlot(2);
    await worker.createTask({ name, slot, interval: 'PT5M' });
    const before = await (await app.request('/metrics')).text();
    expect(sample(before, 'dtm_slots', { name, state: 'AVAILABLE' })).toBe(1);
    expect(sample(before, 'dtm_slots', { name, state: 'COMPLETE' })).toBe(0);
    await (await worker.acquire(name, slot)).complete();
    const after = await (await app.request('/metrics')).text();
    expect(sample(after, 'dtm_slots', { name, state: 'AVAILABLE' })).toBe(0);
    expect(sample(after, 'dtm_slots', { name, state: 'COMPLETE' })).toBe(1);
    expect(sample(after, 'dtm_failing_slots', { name })).toBe(0);
    expect(sample(after, 'dtm_oldest_due_age_seconds', { name })).toBe(0);
    expect(sample(after, 'dtm_event_stream_clients')).toBe(0);
    expect(
      sample(after, 'dtm_http_requests_total', { method: 'GET', route: '/metrics', status: '200' }),
    ).toBe(1);
  });

  it('answers dtm_database_up 0 and no slot series while the database is unreachable', async () => {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    const database = createApiManager({ connectionString: 'postgres://postgres@127.0.0.1:1/none', schema });
    const events = new EventHub(database.tm, silentLogger);
    afterAll(() => database.close());
    const app = createApp({ tm: database.tm, auth: { token: null }, events, logger: silentLogger });
    const response = await app.request('/metrics');
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(sample(text, 'dtm_database_up')).toBe(0);
    expect(text).not.toMatch(/^dtm_slots\{/m);
    expect(text).toContain('# TYPE dtm_slots gauge');
    expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
  });
});

describe('request logs', () => {
  it('logs each request as one pino entry: request id, method, route pattern, status and latency', async () => {
    const captured = capturingPino();
    const logger: Logger = captured.logger;
    const { app } = await createTestApp({ logger });
    const given = await app.request('/api/tasks/no-such-name/2026-01-01T00:00:00Z', {
      headers: { 'x-request-id': 'req-from-proxy-1' },
    });
    expect(given.status).toBe(404);
    expect(given.headers.get('x-request-id')).toBe('req-from-proxy-1');
    const generated = await app.request('/api/health');
    const id = generated.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const requests = captured.entries.filter((entry) => entry.msg === 'request');
    expect(requests).toEqual([
      expect.objectContaining({
        level: 30,
        requestId: 'req-from-proxy-1',
        method: 'GET',
        route: '/api/tasks/:name/:slot',
        status: 404,
        ms: expect.any(Number),
      }),
      expect.objectContaining({ requestId: id, method: 'GET', route: '/api/health', status: 200 }),
    ]);
  });

  it('logs a failed request as an error entry with its request id and the error serialised by pino', async () => {
    const captured = capturingPino();
    const schema = `t_${randomBytes(6).toString('hex')}`;
    const database = createApiManager({ connectionString: databaseUrl, schema });
    afterAll(async () => {
      await database.close();
      await dropSchema(schema);
    });
    // No schema here: reading the names fails with a database error that the API does not expect.
    const app = createApp({ tm: database.tm, auth: { token: null }, logger: captured.logger });
    const response = await app.request('/api/names', { headers: { 'x-request-id': 'failing-1' } });
    expect(response.status).toBe(500);
    expect(captured.entries.filter((entry) => entry.level === 50)).toEqual([
      expect.objectContaining({
        requestId: 'failing-1',
        method: 'GET',
        path: '/api/names',
        msg: 'request failed',
        err: expect.objectContaining({
          message: expect.stringContaining('does not exist'),
          stack: expect.any(String),
        }),
      }),
    ]);
  });
});

describe('server.ts', () => {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  let child: ChildProcess | null = null;
  afterAll(async () => {
    if (child?.exitCode === null) child.kill('SIGKILL');
    await dropSchema(schema);
  });

  it('writes JSON lines at DTM_LOG_LEVEL, the requests among them, without @opentelemetry/api, and refuses an unknown level', async () => {
    const lines: Record<string, unknown>[] = [];
    let output = '';
    const started = spawn(
      process.execPath,
      // As installed without @opentelemetry/api (an optional peer): requests are not traced, nothing breaks.
      [
        '--import',
        'tsx',
        '--import',
        join(import.meta.dirname, '..', '..', 'core', 'test', 'fixtures', 'without-peers.mjs'),
        join(import.meta.dirname, '..', 'src', 'server.ts'),
      ],
      {
        env: {
          ...process.env,
          DATABASE_URL: databaseUrl,
          DTM_SCHEMA: schema,
          PORT: '0',
          DTM_LOG_LEVEL: 'debug',
          DTM_HISTORY_RETENTION: 'off',
          WITHOUT_PACKAGES: '@opentelemetry/api',
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    child = started;
    started.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const complete = output.split('\n');
      output = complete.pop() ?? '';
      for (const line of complete) if (line !== '') lines.push(JSON.parse(line));
    });
    const listening = await waitFor('the server to listen', () =>
      lines.find((line) => typeof line.url === 'string'),
    );
    expect(listening).toMatchObject({ level: 30, msg: expect.stringContaining('DTM API listening') });
    await (await fetch(`${listening.url}/api/health`)).arrayBuffer();
    await waitFor('the request logged', () => lines.find((line) => line.msg === 'request'));
    expect(lines.find((line) => line.msg === 'request')).toMatchObject({
      route: '/api/health',
      status: 200,
      method: 'GET',
    });
    const exited = new Promise<number | null>((resolve) => started.once('exit', (code) => resolve(code)));
    started.kill('SIGTERM');
    expect(await exited).toBe(0);

    const refused = spawn(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, '..', 'src', 'server.ts')],
      {
        env: { ...process.env, DATABASE_URL: databaseUrl, DTM_LOG_LEVEL: 'chatty' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    refused.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    expect(await new Promise((resolve) => refused.once('exit', resolve))).toBe(2);
    expect(stderr).toMatch(/DTM_LOG_LEVEL.*chatty/);
  });
});
