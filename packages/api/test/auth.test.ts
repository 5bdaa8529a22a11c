import { describe, expect, it } from 'vitest';
import { createTestApp, getJson, pastSlot, post, snapshot, TOKEN, uniqueName } from './helpers.ts';

const writable = await createTestApp();
const readOnly = await createTestApp({ auth: { token: null } });
const guarded = await createTestApp({ auth: { readAuth: { user: 'ops', password: 'pa:ss wörd' } } });

async function seed(worker: typeof writable.worker) {
  const name = uniqueName();
  const slot = pastSlot(5);
  await worker.createTask({ name, slot, interval: 'PT5M' });
  await (await worker.acquire(name, slot)).complete();
  return { name, slot: slot.toISOString() };
}

const writes = (name: string, slot: string) => [
  { path: '/api/requeue', body: { name, slots: [slot], reason: 'x' } },
  { path: '/api/skip', body: { name, slots: [slot], reason: 'x', includeComplete: true } },
  {
    path: '/api/backfill',
    body: { name, from: slot, to: new Date(Date.parse(slot) + 900_000).toISOString() },
  },
];

describe('writes need the bearer token', () => {
  it.each([
    ['no Authorization header', {}],
    ['a wrong token', { authorization: 'Bearer wrong-token-0123456789abcdef' }],
    ['the token with one character changed', { authorization: `Bearer ${TOKEN.slice(0, -1)}X` }],
    ['the token as basic auth', { authorization: `Basic ${Buffer.from(`api:${TOKEN}`).toString('base64')}` }],
    ['an empty bearer', { authorization: 'Bearer ' }],
    ['the token with a prefix', { authorization: `Bearer x${TOKEN}` }],
  ])(
    'every mutating route answers 401 with %s and changes nothing',
    async (_, headers: Record<string, string>) => {
      const { name, slot } = await seed(writable.worker);
      const before = await snapshot(writable.tm);
      for (const { path, body } of writes(name, slot)) {
        const response = await post(writable.app, path, body, headers);
        expect(response.status, path).toBe(401);
        expect(await response.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
      }
      expect(await snapshot(writable.tm)).toBe(before);
    },
  );

  it('every mutating route works with the right token (any case of "Bearer")', async () => {
    const { name, slot } = await seed(writable.worker);
    for (const { path, body } of writes(name, slot)) {
      const response = await post(writable.app, path, body, { authorization: `bearer ${TOKEN}` });
      expect(response.status, path).toBe(200);
    }
  });

  it('whoami tells what the token allows, and a wrong token answers 401', async () => {
    expect(await getJson(writable.app, '/api/whoami')).toEqual({
      isReadOnly: false,
      canWrite: false,
      actor: null,
    });
    expect(await getJson(writable.app, '/api/whoami', 200, { authorization: `Bearer ${TOKEN}` })).toEqual({
      isReadOnly: false,
      canWrite: true,
      actor: 'tests@local',
    });
    await getJson(writable.app, '/api/whoami', 401, { authorization: 'Bearer nope' });
  });
});

describe('read-only mode (no token configured)', () => {
  it('answers every write 403 READ_ONLY with a clear message, whatever token is sent, and changes nothing', async () => {
    const { name, slot } = await seed(readOnly.worker);
    const before = await snapshot(readOnly.tm);
    const variants: Array<Record<string, string>> = [
      {},
      { authorization: `Bearer ${TOKEN}` },
      { authorization: 'Bearer other' },
    ];
    for (const headers of variants) {
      for (const { path, body } of writes(name, slot)) {
        const response = await post(readOnly.app, path, body, headers);
        expect(response.status, path).toBe(403);
        const json = (await response.json()) as { error: { code: string; message: string } };
        expect(json.error.code).toBe('READ_ONLY');
        expect(json.error.message).toMatch(/read-only.*DTM_API_TOKEN/);
      }
    }
    expect(await snapshot(readOnly.tm)).toBe(before);
  });

  it('still serves reads, and whoami says read-only', async () => {
    expect(await getJson(readOnly.app, '/api/whoami')).toEqual({
      isReadOnly: true,
      canWrite: false,
      actor: null,
    });
    await getJson(readOnly.app, '/api/names');
  });
});

describe('basic auth on reads', () => {
  const basic = (user: string, password: string) => ({
    authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
  });

  it('asks for credentials on reads, accepts the right ones or the write token, and leaves health open', async () => {
    const response = await guarded.app.request('/api/names');
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Basic realm="dtm"/);
    await getJson(guarded.app, '/api/names', 401, basic('ops', 'wrong'));
    await getJson(guarded.app, '/api/names', 401, basic('other', 'pa:ss wörd'));
    await getJson(guarded.app, '/api/names', 200, basic('ops', 'pa:ss wörd'));
    await getJson(guarded.app, '/api/names', 200, { authorization: `Bearer ${TOKEN}` });
    expect((await guarded.app.request('/metrics')).status).toBe(401);
    expect((await guarded.app.request('/api/events')).status).toBe(401);
    await getJson(guarded.app, '/api/health');
  });

  it('writes still need the bearer token, not the read credentials', async () => {
    const { name, slot } = await seed(guarded.worker);
    const response = await post(
      guarded.app,
      '/api/requeue',
      { name, slots: [slot], reason: 'x' },
      basic('ops', 'pa:ss wörd'),
    );
    expect(response.status).toBe(401);
    expect((await post(guarded.app, '/api/requeue', { name, slots: [slot], reason: 'x' })).status).toBe(200);
  });
});
