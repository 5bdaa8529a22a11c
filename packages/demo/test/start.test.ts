import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { testDatabaseUrl } from '@dtm/dev-db/test-database';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';

const databaseUrl = testDatabaseUrl();
const schema = `demo_${randomBytes(5).toString('hex')}`;
const REPO_ROOT = join(import.meta.dirname, '..', '..', '..');

afterAll(async () => {
  const client = new pg.Client(databaseUrl);
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();
});

/** Runs `pnpm start` in the repository root, in a process group of its own, as a terminal would. */
function startDemo(): {
  child: ChildProcess;
  output: () => string;
  ready: Promise<{ url: string; token: string }>;
} {
  const child = spawn('pnpm', ['start'], {
    cwd: REPO_ROOT,
    env: { ...process.env, DATABASE_URL: databaseUrl, DTM_SCHEMA: schema, PORT: '0', DTM_API_TOKEN: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let text = '';
  const ready = new Promise<{ url: string; token: string }>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      const url = /Dashboard: +(\S+)/.exec(text)?.[1];
      const token = /Token: +(\S+)/.exec(text)?.[1];
      if (url && token) resolve({ url, token });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code) => reject(new Error(`demo exited (${code}) before it was ready:\n${text}`)));
  });
  return { child, output: () => text, ready };
}

function descendantsOf(pid: number): number[] {
  const table = execFileSync('ps', ['-eo', 'pid=,ppid='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number));
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift();
    for (const [child, ppid] of table) {
      if (ppid === parent && child !== undefined) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('pnpm start', () => {
  it('serves the dashboard and API with workers processing slots; Ctrl-C stops every process it started and exits 0, with no error text', async () => {
    const demo = startDemo();
    const { url, token } = await demo.ready;
    expect(token.length).toBeGreaterThanOrEqual(20);
    expect((await fetch(`${url}/api/health`)).status).toBe(200);
    const names = (await (await fetch(`${url}/api/names`)).json()) as { names: Array<{ name: string }> };
    expect(names.names.map((entry) => entry.name).sort()).toEqual([
      'daily-rollup',
      'hourly-report',
      'sensor-count',
    ]);
    const index = await fetch(url);
    expect(await index.text()).toContain('<div id="root">');
    // The workers really process slots: results appear in the demo's table.
    const client = new pg.Client(databaseUrl);
    await client.connect();
    try {
      await waitUntil('a worker wrote a result', async () => {
        const { rows } = await client.query(`SELECT count(*)::int AS n FROM "${schema}".demo_results`);
        return rows[0].n > 0;
      });
    } finally {
      await client.end();
    }
    const pid = demo.child.pid ?? 0;
    const children = descendantsOf(pid);
    expect(children.length).toBeGreaterThanOrEqual(3); // the database process and two workers

    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      demo.child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    process.kill(-pid, 'SIGINT'); // what Ctrl-C does: the whole foreground process group
    // A clean stop is a success: exit 0, not 130 or death by SIGINT, and pnpm adds no failure of its own.
    expect(await exited).toEqual({ code: 0, signal: null });
    await waitUntil('every child process ended', () => children.every((child) => !isAlive(child)), 20_000);
    expect(demo.output()).toContain('[demo] stopped.');
    expect(demo.output()).not.toMatch(/ERR_PNPM|ELIFECYCLE|Command failed/);
  });
});
