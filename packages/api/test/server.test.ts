import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createApiManager } from '../src/database.ts';
import { startServer } from '../src/start-server.ts';
import {
  createTestApp,
  databaseUrl,
  dropSchema,
  pastSlot,
  silentLogger,
  TOKEN,
  uniqueName,
} from './helpers.ts';

const dist = await mkdtemp(join(tmpdir(), 'dtm-dashboard-'));
await mkdir(join(dist, 'assets'));
await writeFile(
  join(dist, 'index.html'),
  '<!doctype html><script type="module" src="/assets/app-1.js"></script>',
);
await writeFile(join(dist, 'assets', 'app-1.js'), 'console.log("dtm")');
await writeFile(join(dist, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
await writeFile(join(tmpdir(), 'secret.txt'), 'not for you');
afterAll(() => rm(dist, { recursive: true, force: true }));

const { app } = await createTestApp({ dashboardDir: dist, corsOrigins: ['https://ops.example.com'] });
const plain = await createTestApp();

describe('the dashboard', () => {
  it('serves index.html at / with security headers and a CSP that allows only its own scripts', async () => {
    const response = await app.request('/');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await response.text()).toContain('/assets/app-1.js');
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/script-src[^;]*unsafe/);
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    expect(response.headers.get('cache-control')).toBe('no-cache');
  });

  it('serves assets with their type, hashed ones cached for good', async () => {
    const js = await app.request('/assets/app-1.js');
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toContain('immutable');
    const svg = await app.request('/favicon.svg');
    expect(svg.headers.get('content-type')).toBe('image/svg+xml');
  });

  it('falls back to index.html for client-side routes, but not for missing files or /api', async () => {
    const route = await app.request('/failures/some-name');
    expect(route.status).toBe(200);
    expect(await route.text()).toContain('<!doctype html>');
    expect((await app.request('/assets/missing.js')).status).toBe(404);
    const api = await app.request('/api/unknown');
    expect(api.status).toBe(404);
    expect(await api.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });

  it('never serves files outside its folder', async () => {
    for (const path of [
      '/../secret.txt',
      '/%2e%2e/secret.txt',
      '/assets/%2e%2e/%2e%2e/secret.txt',
      '/..%2fsecret.txt',
    ]) {
      const response = await app.request(path);
      const text = await response.text();
      expect(text, path).not.toContain('not for you');
    }
  });

  it('answers 404 with a hint when there is no dashboard build', async () => {
    const response = await plain.app.request('/');
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({
      error: { message: expect.stringContaining('no dashboard') },
    });
  });
});

describe('CORS', () => {
  it('is off unless configured, and then allows only the configured origins', async () => {
    const off = await plain.app.request('/api/names', { headers: { origin: 'https://ops.example.com' } });
    expect(off.headers.get('access-control-allow-origin')).toBeNull();
    const allowed = await app.request('/api/names', { headers: { origin: 'https://ops.example.com' } });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://ops.example.com');
    const other = await app.request('/api/names', { headers: { origin: 'https://evil.example.com' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    const preflight = await app.request('/api/requeue', {
      method: 'OPTIONS',
      headers: { origin: 'https://ops.example.com', 'access-control-request-method': 'POST' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-headers')).toContain('Authorization');
  });
});

describe('startServer', () => {
  it('migrates, listens on loopback, records the client address as actor, and closes cleanly', async () => {
    const schema = `t_server_${process.pid}`;
    afterAll(() => dropSchema(schema));
    const server = await startServer({
      databaseUrl,
      schema,
      port: 0,
      auth: { token: TOKEN, tokenName: 'ci' },
      dashboardDir: dist,
      logger: silentLogger,
    });
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(server.isReadOnly).toBe(false);
      expect(await (await fetch(`${server.url}/api/health`)).json()).toEqual({ ok: true, database: 'up' });
      const whoami = await fetch(`${server.url}/api/whoami`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(await whoami.json()).toMatchObject({ canWrite: true, actor: 'ci@127.0.0.1' });
      expect((await fetch(`${server.url}/`)).status).toBe(200);
      // an open event stream must not keep close() waiting
      const events = await fetch(`${server.url}/api/events`);
      expect(events.status).toBe(200);
      const reader = events.body?.getReader();
      await reader?.read();
      const started = Date.now();
      await server.close();
      expect(Date.now() - started).toBeLessThan(1_500);
      await reader?.cancel().catch(() => {});
    } finally {
      await server.close();
    }
    await expect(fetch(`${server.url}/api/health`)).rejects.toThrow();
  });

  it("bounds every statement of the API's pool with statement_timeout, so no request hangs", async () => {
    const database = createApiManager({ connectionString: databaseUrl, statementTimeoutMs: 200 });
    try {
      const started = Date.now();
      await expect(database.tm.pool.query('SELECT pg_sleep(5)')).rejects.toMatchObject({ code: '57014' });
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      await database.close();
    }
  });

  it('a statement timeout answers 503 UNAVAILABLE, not a hung or 500 request', async () => {
    const slow = await createTestApp();
    const name = uniqueName();
    await slow.worker.createTask({ name, slot: pastSlot(), interval: 'PT5M' });
    const database = createApiManager({
      connectionString: databaseUrl,
      schema: slow.schema,
      statementTimeoutMs: 1,
    });
    const { createApp } = await import('../src/app.ts');
    const app1 = createApp({ tm: database.tm, auth: { token: null }, logger: silentLogger });
    try {
      const response = await app1.request('/api/names');
      expect([503]).toContain(response.status);
      expect(await response.json()).toMatchObject({ error: { code: 'UNAVAILABLE' } });
    } finally {
      await database.close();
    }
  });
});
