import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openDatabase } from '@dtm/dev-db';

/** The repository's root folder (this file is packages/cli/src/database.ts). */
export const REPO_ROOT = join(import.meta.dirname, '..', '..', '..');

/** Where the embedded PostgreSQL keeps its data; shared by `dtm`, the API server and `pnpm start`. */
export const DEFAULT_DATA_DIR = join(REPO_ROOT, '.data', 'pg');

/** A PostgreSQL to use and how to let go of it. */
export interface Database {
  url: string;
  /** How it was found, for messages: `DATABASE_URL`, `running embedded server`, `embedded server`. */
  source: string;
  stop(): Promise<void>;
}

/**
 * `DATABASE_URL` when set; else the embedded server that `pnpm start` or `dtm serve` already runs on
 * `dataDir` (found through PostgreSQL's own `postmaster.pid`, so that both see the same data); else an
 * embedded server started for this command and stopped by `stop()`.
 */
export async function connectDatabase(
  options: { dataDir?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Database> {
  const env = options.env ?? process.env;
  const dataDir = options.dataDir ?? env.DTM_DATA_DIR ?? DEFAULT_DATA_DIR;
  if (env.DATABASE_URL) return { url: env.DATABASE_URL, source: 'DATABASE_URL', stop: async () => {} };
  const running = await findRunningServer(dataDir);
  if (running) return { url: running, source: `running embedded server (${dataDir})`, stop: async () => {} };
  const db = await openDatabase({ dataDir });
  return { url: db.url, source: `embedded server (${dataDir})`, stop: () => db.stop() };
}

/**
 * The URL of a live PostgreSQL on `dataDir`, from `postmaster.pid` (line 1 the pid, line 4 the port, line 8
 * the status), or null when none runs there. The embedded server's credentials are fixed by @dtm/dev-db.
 */
export async function findRunningServer(dataDir: string): Promise<string | null> {
  let text: string;
  try {
    text = await readFile(join(dataDir, 'postmaster.pid'), 'utf8');
  } catch {
    return null;
  }
  const lines = text.split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  const status = lines[7]?.trim();
  if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(port) || port <= 0) return null;
  if (status !== undefined && status !== 'ready') return null;
  if (!isAlive(pid)) return null;
  return `postgres://postgres:postgres@127.0.0.1:${port}/postgres`;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user (PostgreSQL runs as `postgres` when we are root).
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
