import { UsageError } from './args.ts';

/** A PostgreSQL to use and how to let go of it. */
export interface Database {
  url: string;
  /** How it was found, for messages: `DATABASE_URL`, `running embedded server`, `embedded server`. */
  source: string;
  stop(): Promise<void>;
}

/**
 * `DATABASE_URL` when set. Without it, in the DTM repository (whose @dtm/dev-db, a development dependency,
 * is not part of the published CLI): the embedded server that `pnpm start` or `dtm serve` already runs on
 * `DTM_DATA_DIR` (default <repo>/.data/pg), found through PostgreSQL's own `postmaster.pid` so that both see
 * the same data; else an embedded server started for this command and stopped by `stop()`.
 */
export async function connectDatabase(options: { env?: NodeJS.ProcessEnv } = {}): Promise<Database> {
  const env = options.env ?? process.env;
  if (env.DATABASE_URL) return { url: env.DATABASE_URL, source: 'DATABASE_URL', stop: async () => {} };
  const devDb = await importDevDb();
  if (devDb === null) {
    throw new UsageError(
      'DATABASE_URL is not set: set it to the PostgreSQL that holds the DTM schema (postgres://user:password@host:5432/database)',
    );
  }
  const dataDir = env.DTM_DATA_DIR ?? devDb.DEV_DATA_DIR;
  const running = await devDb.findRunningServer(dataDir);
  if (running) return { url: running, source: `running embedded server (${dataDir})`, stop: async () => {} };
  const db = await devDb.openDatabase({ dataDir });
  return { url: db.url, source: `embedded server (${dataDir})`, stop: () => db.stop() };
}

/** @dtm/dev-db where it is installed (this repository), else null. */
async function importDevDb(): Promise<typeof import('@dtm/dev-db') | null> {
  try {
    return await import('@dtm/dev-db');
  } catch (error) {
    const isMissing =
      (error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' &&
      String(error).includes("'@dtm/dev-db'");
    if (isMissing) return null;
    throw error;
  }
}
