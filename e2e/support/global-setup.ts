import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { quietLogger, type RunningServer, startServer } from '@dtm/api';
import { TaskManager } from '@dtm/core';
import { openDatabase } from '@dtm/dev-db';
import pg from 'pg';
import { noChromium } from './chromium.ts';
import { exportStackEnv, FLEET_NAMES, harnessSql } from './stack-env.ts';
import { startWorker, type WorkerProcess } from './workers.ts';

const REPO_ROOT = join(import.meta.dirname, '..', '..');

/**
 * Starts the real stack for the browser tests: PostgreSQL (DATABASE_URL or a throwaway embedded server), a
 * fresh schema, the API serving the built dashboard on a free port, and two worker processes. Returns the
 * teardown that stops them all.
 */
export default async function globalSetup(): Promise<() => Promise<void>> {
  if (noChromium !== null) {
    // The flows all skip (see fixtures.ts); the stack would serve nobody.
    console.log(`[e2e] skipping the browser tests: ${noChromium}`);
    return async () => {};
  }
  buildDashboardIfMissing();
  const db = await openDatabase({
    dataDir: join(REPO_ROOT, '.data', `e2e-${randomBytes(4).toString('hex')}`),
    isThrowaway: true,
  });
  const schema = `e2e_${randomBytes(5).toString('hex')}`;
  const token = randomBytes(18).toString('base64url');
  const workers: WorkerProcess[] = [];
  let server: RunningServer | null = null;
  const stop = async () => {
    await Promise.all(workers.map((worker) => worker.stop()));
    await server?.close();
    const client = new pg.Client(db.url);
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
    await db.stop();
  };
  try {
    const tm = new TaskManager({ connectionString: db.url, schema });
    await tm.migrate();
    await tm.pool.query(harnessSql(schema));
    await tm.close();
    server = await startServer({
      databaseUrl: db.url,
      schema,
      auth: { token },
      host: '127.0.0.1',
      port: 0,
      logger: quietLogger,
    });
    for (const name of ['e2e-worker-a', 'e2e-worker-b']) {
      workers.push(
        await startWorker({ name, names: Object.values(FLEET_NAMES), databaseUrl: db.url, schema }),
      );
    }
  } catch (error) {
    // Leave nothing running when the stack cannot come up.
    await stop().catch(() => {});
    throw error;
  }
  exportStackEnv({ baseUrl: server.url, token, databaseUrl: db.url, schema });
  console.log(`[e2e] stack up: ${server.url} (schema ${schema})`);
  return stop;
}

/** Builds the dashboard when packages/dashboard/dist is missing or older than any of its sources. */
function buildDashboardIfMissing(): void {
  const dashboard = join(REPO_ROOT, 'packages', 'dashboard');
  const built = join(dashboard, 'dist', 'index.html');
  if (existsSync(built)) {
    const builtAt = statSync(built).mtimeMs;
    const sources = [join(dashboard, 'index.html'), ...listFiles(join(dashboard, 'src'))];
    if (sources.every((file) => statSync(file).mtimeMs <= builtAt)) return;
  }
  const result = spawnSync('pnpm', ['--filter', '@dtm/dashboard', 'build'], {
    cwd: REPO_ROOT,
    stdio: 'inherit',
  });
  if (result.status !== 0) throw new Error('building the dashboard failed');
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}
