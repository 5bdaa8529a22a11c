import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, pastSlot, snapshot, TOKEN, uniqueName } from './helpers.ts';

const { app, worker, tm } = await createTestApp();
const AUTH = { authorization: `Bearer ${TOKEN}` };
const JSON_AUTH = { ...AUTH, 'content-type': 'application/json' };

let name = '';
let slot = '';
let before = '';

beforeAll(async () => {
  name = uniqueName('hostile');
  const first = pastSlot(10);
  slot = first.toISOString();
  await worker.createTasks({
    name,
    from: first,
    to: new Date(first.getTime() + 5 * 300_000),
    interval: 'PT5M',
  });
  await (await worker.acquire(name, first)).complete('seed');
  before = await snapshot(tm);
});

interface Case {
  what: string;
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string | (() => string);
  body?: string | (() => string);
  headers?: Record<string, string>;
  status: number;
}

const iso = (ms: number) => new Date(ms).toISOString();
const body = (value: unknown) => () => JSON.stringify(typeof value === 'function' ? value() : value);

const cases: Case[] = [
  // queries
  { what: 'garbage date', path: '/api/tasks?from=garbage', status: 400 },
  { what: 'month 13', path: '/api/tasks?from=2026-13-01T00:00:00Z', status: 400 },
  { what: 'date without time zone', path: '/api/tasks?from=2026-01-01T00:00:00', status: 400 },
  { what: 'date only', path: '/api/tasks?from=2026-01-01', status: 400 },
  { what: 'year 0', path: '/api/tasks?from=0000-01-01T00:00:00Z', status: 400 },
  { what: 'six-digit year', path: '/api/tasks?from=%2B275760-09-13T00:00:00Z', status: 400 },
  { what: 'inverted range', path: () => `/api/tasks?from=${iso(Date.now())}&to=${iso(0)}`, status: 400 },
  { what: 'limit 0', path: '/api/tasks?limit=0', status: 400 },
  { what: 'limit over 1000', path: '/api/tasks?limit=1001', status: 400 },
  { what: 'negative limit', path: '/api/tasks?limit=-1', status: 400 },
  { what: 'limit in exponent form', path: '/api/tasks?limit=1e3', status: 400 },
  { what: 'limit not a number', path: '/api/tasks?limit=abc', status: 400 },
  { what: 'huge limit', path: '/api/tasks?limit=99999999999999999999999', status: 400 },
  { what: 'repeated limit', path: '/api/tasks?limit=10&limit=20', status: 400 },
  { what: 'unknown state', path: '/api/tasks?state=RUNNING', status: 400 },
  { what: 'lower-case state', path: '/api/tasks?state=complete', status: 400 },
  { what: 'failing=yes', path: '/api/tasks?failing=yes', status: 400 },
  { what: 'garbage cursor', path: '/api/tasks?cursor=!!!', status: 400 },
  {
    what: 'cursor of the wrong shape',
    path: `/api/tasks?cursor=${Buffer.from('{"a":1}').toString('base64url')}`,
    status: 400,
  },
  { what: 'unknown name', path: '/api/tasks?name=does-not-exist', status: 400 },
  { what: 'name of 201 characters', path: `/api/tasks?name=${'x'.repeat(201)}`, status: 400 },
  { what: 'name with NUL', path: '/api/tasks?name=a%00b', status: 400 },
  {
    what: 'SQL in a name',
    path: `/api/tasks?name=${encodeURIComponent("x'; DROP TABLE tasks; --")}`,
    status: 400,
  },
  { what: 'grid without a range', path: '/api/grid', status: 400 },
  { what: 'grid without to', path: () => `/api/grid?from=${iso(0)}`, status: 400 },
  { what: 'grid inverted', path: () => `/api/grid?from=${iso(Date.now())}&to=${iso(0)}`, status: 400 },
  { what: 'grid columns 0', path: () => `/api/grid?from=${iso(0)}&to=${iso(1)}&columns=0`, status: 400 },
  {
    what: 'grid columns 2001',
    path: () => `/api/grid?from=${iso(0)}&to=${iso(1)}&columns=2001`,
    status: 400,
  },
  { what: 'grid unknown name', path: () => `/api/grid?names=nope&from=${iso(0)}&to=${iso(1)}`, status: 404 },
  {
    what: 'grid with 501 names',
    path: () =>
      `/api/grid?names=${Array.from({ length: 501 }, (_, i) => `n${i}`).join(',')}&from=${iso(0)}&to=${iso(1)}`,
    status: 400,
  },
  { what: 'slot not a date', path: () => `/api/tasks/${name}/yesterday`, status: 400 },
  { what: 'malformed percent-encoding', path: '/api/tasks/%ZZ/%E0%A4%A', status: 400 },
  { what: 'unknown slot', path: () => `/api/tasks/nope/${iso(0)}`, status: 404 },
  { what: 'unknown route', path: '/api/nothing-here', status: 404 },
  { what: 'path traversal', path: '/api/../../etc/passwd', status: 404 },
  { what: 'encoded traversal', path: '/%2e%2e/%2e%2e/etc/passwd', status: 404 },
  {
    what: 'PUT on a write route',
    method: 'PUT',
    path: '/api/requeue',
    body: '{}',
    headers: JSON_AUTH,
    status: 404,
  },
  {
    what: 'DELETE a task',
    method: 'DELETE',
    path: () => `/api/tasks/${name}/${slot}`,
    headers: AUTH,
    status: 404,
  },
  {
    what: 'POST on a read route',
    method: 'POST',
    path: '/api/names',
    body: '{}',
    headers: JSON_AUTH,
    status: 404,
  },
  // bodies
  { what: 'malformed JSON', method: 'POST', path: '/api/requeue', body: '{"name":', status: 400 },
  { what: 'JSON array', method: 'POST', path: '/api/requeue', body: '[]', status: 400 },
  { what: 'JSON null', method: 'POST', path: '/api/requeue', body: 'null', status: 400 },
  { what: 'empty body', method: 'POST', path: '/api/skip', body: '', status: 400 },
  {
    what: 'text/plain body',
    method: 'POST',
    path: '/api/requeue',
    body: body(() => ({ name, slots: [slot], reason: 'x' })),
    headers: { ...AUTH, 'content-type': 'text/plain' },
    status: 400,
  },
  {
    what: 'no reason',
    method: 'POST',
    path: '/api/requeue',
    body: body(() => ({ name, slots: [slot] })),
    status: 400,
  },
  {
    what: 'blank reason',
    method: 'POST',
    path: '/api/requeue',
    body: body(() => ({ name, slots: [slot], reason: '   ' })),
    status: 400,
  },
  {
    what: 'reason of 501 characters',
    method: 'POST',
    path: '/api/skip',
    body: body(() => ({ name, slots: [slot], reason: 'r'.repeat(501) })),
    status: 400,
  },
  {
    what: 'reason not a string',
    method: 'POST',
    path: '/api/requeue',
    body: body(() => ({ name, slots: [slot], reason: { $ne: null } })),
    status: 400,
  },
  {
    what: 'slots not an array',
    method: 'POST',
    path: '/api/requeue',
    body: body(() => ({ name, slots: slot, reason: 'x' })),
    status: 400,
  },
  {
    what: 'empty slots',
    method: 'POST',
    path: '/api/requeue',
    body: body(() => ({ name, slots: [], reason: 'x' })),
    status: 400,
  },
  {
    what: 'a slot that is not a date',
    method: 'POST',
    path: '/api/skip',
    body: body(() => ({ name, slots: [slot, 'tomorrow'], reason: 'x' })),
    status: 400,
  },
  {
    what: 'a slot as epoch number',
    method: 'POST',
    path: '/api/requeue',
    body: body(() => ({ name, slots: [Date.parse(slot)], reason: 'x' })),
    status: 400,
  },
  {
    what: 'a misaligned slot',
    method: 'POST',
    path: '/api/requeue',
    body: body(() => ({ name, slots: [iso(Date.parse(slot) + 1000)], reason: 'x' })),
    status: 400,
  },
  {
    what: 'slots and a range at once',
    method: 'POST',
    path: '/api/requeue',
    body: body(() => ({ name, slots: [slot], from: slot, to: slot, reason: 'x' })),
    status: 400,
  },
  {
    what: 'only from',
    method: 'POST',
    path: '/api/skip',
    body: body(() => ({ name, from: slot, reason: 'x' })),
    status: 400,
  },
  {
    what: 'an unknown field',
    method: 'POST',
    path: '/api/requeue',
    body: body(() => ({ name, slots: [slot], reason: 'x', state: 'COMPLETE' })),
    status: 400,
  },
  {
    what: '__proto__ pollution',
    method: 'POST',
    path: '/api/requeue',
    body: () => `{"name":"${name}","slots":["${slot}"],"reason":"x","__proto__":{"isAdmin":true}}`,
    status: 400,
  },
  {
    what: 'name a number',
    method: 'POST',
    path: '/api/requeue',
    body: body(() => ({ name: 42, slots: [slot], reason: 'x' })),
    status: 400,
  },
  {
    what: 'name with NUL',
    method: 'POST',
    path: '/api/skip',
    body: body(() => ({ name: 'a\u0000b', slots: [slot], reason: 'x' })),
    status: 400,
  },
  {
    what: 'dryRun as a string',
    method: 'POST',
    path: '/api/requeue',
    body: body(() => ({ name, slots: [slot], reason: 'x', dryRun: 'false' })),
    status: 400,
  },
  {
    what: '10,001 slots',
    method: 'POST',
    path: '/api/requeue',
    body: body(() => ({
      name,
      slots: Array.from({ length: 10_001 }, (_, i) => iso(i * 300_000)),
      reason: 'x',
    })),
    status: 400,
  },
  {
    what: 'a range of a century',
    method: 'POST',
    path: '/api/skip',
    body: body(() => ({ name, from: '1950-01-01T00:00:00Z', to: '2050-01-01T00:00:00Z', reason: 'x' })),
    status: 400,
  },
  {
    what: 'an inverted range',
    method: 'POST',
    path: '/api/requeue',
    body: body(() => ({ name, from: iso(Date.now()), to: slot, reason: 'x' })),
    status: 400,
  },
  {
    what: 'a body over the size cap',
    method: 'POST',
    path: '/api/requeue',
    body: () => JSON.stringify({ name, slots: [slot], reason: 'x', pad: 'p'.repeat(2 * 1024 * 1024) }),
    status: 413,
  },
  {
    what: 'deeply nested JSON',
    method: 'POST',
    path: '/api/backfill',
    body: () => `${'['.repeat(5000)}${']'.repeat(5000)}`,
    status: 400,
  },
  {
    what: 'backfill with slots',
    method: 'POST',
    path: '/api/backfill',
    body: body(() => ({ name, slots: [slot] })),
    status: 400,
  },
  {
    what: 'backfill of an unknown name',
    method: 'POST',
    path: '/api/backfill',
    body: body(() => ({ name: 'nope', from: slot, to: iso(Date.parse(slot) + 600_000), dryRun: false })),
    status: 404,
  },
  {
    what: 'skip of an unknown name',
    method: 'POST',
    path: '/api/skip',
    body: body(() => ({ name: 'nope', slots: [slot], reason: 'x' })),
    status: 404,
  },
  {
    what: 'a write without a token',
    method: 'POST',
    path: '/api/skip',
    body: body(() => ({ name, slots: [slot], reason: 'x', includeComplete: true })),
    headers: { 'content-type': 'application/json' },
    status: 401,
  },
];

describe('hostile and malformed requests', () => {
  it(`the table holds at least 40 cases (${cases.length})`, () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  it.each(cases.map((c) => [c.what, c] as const))('%s answers the expected 4xx', async (_, c) => {
    const path = typeof c.path === 'function' ? c.path() : c.path;
    const method = c.method ?? 'GET';
    const requestBody = typeof c.body === 'function' ? c.body() : c.body;
    const response = await app.request(path, {
      method,
      headers: c.headers ?? (method === 'GET' ? {} : JSON_AUTH),
      ...(requestBody === undefined ? {} : { body: requestBody }),
    });
    const text = await response.text();
    expect(response.status, text).toBe(c.status);
    const json = JSON.parse(text) as { error: { code: string; message: string } };
    expect(typeof json.error.code).toBe('string');
    expect(json.error.message.length).toBeGreaterThan(0);
    expect(text).not.toMatch(/at .*\.ts:\d+|node_modules|SELECT /);
  });

  it('changed no data', async () => {
    expect(await snapshot(tm)).toBe(before);
  });
});

describe('dates of every year from 1 to 9999', () => {
  it.each(['1850-01-01T00:00:00Z', '1900-12-31T23:59:59Z', '0099-01-01T00:00:00Z', '0001-01-01T00:00:00Z'])(
    '%s is a date like any other in a query',
    async (from) => {
      const response = await app.request(`/api/tasks?name=${name}&from=${from}`);
      const text = await response.text();
      expect(response.status, text).toBe(200);
      // Every seeded slot is after it.
      expect((JSON.parse(text) as { tasks: unknown[] }).tasks).toHaveLength(5);
    },
  );

  it('in a path and in a body', async () => {
    expect((await app.request(`/api/tasks/${name}/1850-01-01T00:00:00Z`)).status).toBe(404);
    const response = await app.request('/api/backfill', {
      method: 'POST',
      headers: JSON_AUTH,
      body: JSON.stringify({ name, from: '0099-01-01T00:00:00Z', to: '0099-01-01T00:30:00Z', dryRun: true }),
    });
    const text = await response.text();
    expect(response.status, text).toBe(200);
    expect((JSON.parse(text) as { created: number }).created).toBe(6);
    expect(await snapshot(tm)).toBe(before);
  });
});

const tricky = fc.constantFrom(
  '',
  ' ',
  '%',
  '%00',
  '0',
  '-1',
  'null',
  'undefined',
  'true',
  'NaN',
  'Infinity',
  '1e309',
  '2026-02-30T00:00:00Z',
  '2026-01-01T00:00:00Z',
  '2026-01-01T00:00:00.123456789+14:00',
  '9999-12-31T23:59:59.999Z',
  '0001-01-01T00:00:00Z',
  'COMPLETE',
  'AVAILABLE,SKIP',
  "'; SELECT pg_sleep(10); --",
  '\u0000',
  '\uD800',
  '😀'.repeat(100),
);
const queryValue = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 10 }),
  tricky,
);
const queryKey = fc.oneof(
  fc.constantFrom('name', 'names', 'from', 'to', 'state', 'failing', 'limit', 'cursor', 'columns'),
  fc.string({ maxLength: 10 }),
);

describe('property: random query strings never answer 5xx nor change data', () => {
  it('for every read route', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/api/tasks', '/api/grid', '/api/names', '/api/whoami', '/api/health', '/metrics'),
        fc.array(fc.tuple(queryKey, queryValue), { maxLength: 6 }),
        async (path, pairs) => {
          const query = new URLSearchParams();
          for (const [key, value] of pairs) query.append(key, value.replace(/[\uD800-\uDFFF]/g, ''));
          const response = await app.request(`${path}?${query.toString()}`);
          await response.arrayBuffer();
          expect(response.status, `${path}?${query}`).toBeLessThan(500);
        },
      ),
      { numRuns: 300 },
    );
    expect(await snapshot(tm)).toBe(before);
  });

  it('for task paths with arbitrary segments', async () => {
    await fc.assert(
      fc.asyncProperty(queryValue, queryValue, async (a, b) => {
        const clean = (s: string) => encodeURIComponent(s.replace(/[\uD800-\uDFFF]/g, ''));
        const response = await app.request(`/api/tasks/${clean(a)}/${clean(b)}`);
        await response.arrayBuffer();
        expect(response.status).toBeLessThan(500);
      }),
      { numRuns: 200 },
    );
  });
});

describe('property: random bodies never answer 5xx nor change data', () => {
  it('for every write route', async () => {
    const dateish = fc.oneof(
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      fc.constant(slot),
      tricky,
      fc.integer(),
      fc.constant(null),
    );
    const anyValue = fc.oneof(dateish, fc.jsonValue({ maxDepth: 2 }), fc.boolean());
    const bodyArbitrary = fc
      .record(
        {
          name: fc.oneof(fc.string({ maxLength: 30 }), fc.constant(name), anyValue),
          slots: fc.oneof(fc.array(dateish, { maxLength: 5 }), anyValue),
          from: dateish,
          to: dateish,
          reason: fc.oneof(fc.string({ maxLength: 30 }), anyValue),
          dryRun: fc.oneof(fc.boolean(), anyValue),
          includeComplete: fc.oneof(fc.boolean(), anyValue),
          extra: anyValue,
        },
        { requiredKeys: [] },
      )
      // A request that could be valid for the seeded name is made a dry run, so nothing may change.
      .map((b) => (b.name === name ? { ...b, dryRun: true } : b));
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/api/requeue', '/api/skip', '/api/backfill'),
        fc.oneof(
          bodyArbitrary.map((b) => JSON.stringify(b)),
          fc.string({ maxLength: 50 }),
          fc.jsonValue().map((v) => JSON.stringify(v)),
        ),
        async (path, text) => {
          const response = await app.request(path, { method: 'POST', headers: JSON_AUTH, body: text });
          const answer = await response.text();
          expect(response.status, `${path} ${text} → ${answer}`).toBeLessThan(500);
        },
      ),
      { numRuns: 400 },
    );
    expect(await snapshot(tm)).toBe(before);
  });
});
