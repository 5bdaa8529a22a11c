import { TaskManager } from '@dtm/core';
import pg from 'pg';

/** Options of {@link createApiManager}. */
export interface ApiManagerOptions {
  connectionString: string;
  /**
   * A streaming replica that serves the reads of committed rows (grid, names, tasks, history); writes and the
   * live holders, which only the primary knows, use `connectionString`. Default: none, everything on the primary.
   */
  readConnectionString?: string;
  /** Default `dtm`. */
  schema?: string;
  /** Connections of the API's own pool. Default 5. */
  poolSize?: number;
  /**
   * Server-side cap on every statement of the API's connections (`statement_timeout`), so that no request
   * hangs on a slow query. Default 10,000 ms.
   */
  statementTimeoutMs?: number;
  /** Told about errors of idle pooled connections (the database restarted, …). Default: ignored. */
  onIdleError?: (error: Error) => void;
}

/**
 * The API's own TaskManager over a small pool of its own (never the workers'), whose connections carry a
 * `statement_timeout` (and run no parallel query) and whose connection attempts give up after a few seconds.
 */
export function createApiManager(options: ApiManagerOptions): { tm: TaskManager; close(): Promise<void> } {
  const pool = apiPool(options.connectionString, options);
  const readPool =
    options.readConnectionString === undefined ? undefined : apiPool(options.readConnectionString, options);
  const tm = new TaskManager({
    pool,
    ...(readPool ? { readPool } : {}),
    schema: options.schema ?? 'dtm',
    workerName: 'dtm-api',
  });
  return {
    tm,
    async close() {
      await tm.close();
      await pool.end();
      await readPool?.end();
    },
  };
}

function apiPool(connectionString: string, options: ApiManagerOptions): pg.Pool {
  const statementTimeoutMs = options.statementTimeoutMs ?? 10_000;
  const pool = new pg.Pool({
    connectionString,
    max: options.poolSize ?? 5,
    application_name: 'dtm-api',
    // No parallel workers: launching them costs more than the API's reads take (60–80 ms on the benchmark's
    // 2 cores, on a machine whose cores the workers need).
    options: `-c statement_timeout=${Math.max(1, Math.floor(statementTimeoutMs))} -c max_parallel_workers_per_gather=0`,
    connectionTimeoutMillis: 5_000,
    // The server cancels the statement first; this only catches a connection that went silent.
    query_timeout: statementTimeoutMs + 5_000,
    keepAlive: true,
  });
  // Without a listener, an idle connection dropped by a database restart would crash the process.
  pool.on('error', (error) => options.onIdleError?.(error));
  return pool;
}
