import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type HistoryPruning, type HistoryPruningOptions, TaskManager } from '@dtm/core';
import { serve } from '@hono/node-server';
import { type AppType, createApp } from './app.ts';
import { createApiManager } from './database.ts';
import type { AuthConfig, Limits, Logger } from './deps.ts';
import { EventHub } from './event-hub.ts';
import { createLogger } from './logger.ts';

/**
 * The dashboard build served by default: the copy an installed package carries (`dist/dashboard`, made by
 * its build), or, run from this repository's sources, packages/dashboard/dist.
 */
export const DEFAULT_DASHBOARD_DIR = import.meta.url.endsWith('.ts')
  ? join(import.meta.dirname, '..', '..', 'dashboard', 'dist')
  : join(import.meta.dirname, 'dashboard');

/** Options of {@link startServer}. */
export interface StartServerOptions {
  /** PostgreSQL connection string. */
  databaseUrl: string;
  /** A streaming replica for the reads of committed rows (see `ApiManagerOptions.readConnectionString`). */
  readDatabaseUrl?: string;
  /** Default `dtm`. */
  schema?: string;
  /** Interface to listen on. Default `127.0.0.1` (loopback only). */
  host?: string;
  /** Port; 0 picks a free one. Default 8080. */
  port?: number;
  /** Default: read-only (no token), reads open. */
  auth?: AuthConfig;
  /** Default {@link DEFAULT_DASHBOARD_DIR}; null serves no dashboard. */
  dashboardDir?: string | null;
  /** Origins allowed by CORS. Default none (CORS off). */
  corsOrigins?: readonly string[];
  limits?: Partial<Limits>;
  /** Default: `createLogger()` (pino at level info: JSON lines, or pretty ones on a terminal). */
  logger?: Logger;
  /** Connections of the API's own pool. Default 5. */
  poolSize?: number;
  /** `statement_timeout` of the API's connections. Default 10,000 ms. */
  statementTimeoutMs?: number;
  /** Create or upgrade the schema before listening. Default true. */
  isMigrating?: boolean;
  /**
   * Prune the history on the API's pool (`tm.startHistoryPruning()`): rows older than `olderThan` (default
   * `P30D`), except each slot's latest transition, a minute after the start and then every hour; of several
   * sidecars on one schema, one prunes at a time. Its log lines go to `logger`. Default `{}` (those
   * defaults); null: no pruning.
   */
  historyPruning?: Omit<HistoryPruningOptions, 'logger'> | null;
}

/** A listening API server. */
export interface RunningServer {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** True when the server has no token and accepts no writes. */
  isReadOnly: boolean;
  app: AppType;
  /** The API's own TaskManager. */
  tm: TaskManager;
  /** Stops listening, ends open event streams, closes the subscription and the pool. Idempotent. */
  close(): Promise<void>;
}

/** How long in-flight requests get to finish on close before their connections are cut. */
const CLOSE_GRACE_MS = 2_000;

/**
 * Migrates (by default), builds the app on a pool of its own and listens. Used by `server.ts`, `dtm serve`
 * and the e2e suite.
 */
export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const logger = options.logger ?? createLogger();
  const schema = options.schema ?? 'dtm';
  if (options.isMigrating ?? true) {
    // On a connection without the API's statement_timeout: a migration may legitimately take longer.
    const migrator = new TaskManager({ connectionString: options.databaseUrl, schema, poolSize: 1 });
    try {
      await migrator.migrate();
    } finally {
      await migrator.close();
    }
  }
  const database = createApiManager({
    connectionString: options.databaseUrl,
    ...(options.readDatabaseUrl === undefined ? {} : { readConnectionString: options.readDatabaseUrl }),
    schema,
    ...(options.poolSize === undefined ? {} : { poolSize: options.poolSize }),
    ...(options.statementTimeoutMs === undefined ? {} : { statementTimeoutMs: options.statementTimeoutMs }),
    onIdleError: (error) => logger.warn({ err: error }, 'an idle database connection failed'),
  });
  let pruning: HistoryPruning | null = null;
  try {
    pruning =
      options.historyPruning === null
        ? null
        : database.tm.startHistoryPruning({ ...options.historyPruning, logger });
  } catch (error) {
    await database.close();
    throw error;
  }
  const auth = options.auth ?? { token: null };
  const events = new EventHub(database.tm, logger);
  // The stored slot counts that wide reads add up are kept current here, off the workers' path (one sidecar
  // at a time; reads are exact without it, only slower the further behind it is).
  const recounting = database.tm.startRecounting({
    onError: (error) => logger.warn({ err: error }, 'recounting the slot counts failed'),
  });
  const app = createApp({
    tm: database.tm,
    auth,
    events,
    logger,
    dashboardDir: options.dashboardDir === undefined ? DEFAULT_DASHBOARD_DIR : options.dashboardDir,
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.corsOrigins ? { corsOrigins: options.corsOrigins } : {}),
  });
  const host = options.host ?? '127.0.0.1';
  let server: Server;
  try {
    server = await new Promise<Server>((resolve, reject) => {
      const started = serve({ fetch: app.fetch, hostname: host, port: options.port ?? 8080 }) as Server;
      started.once('listening', () => resolve(started));
      started.once('error', reject);
    });
  } catch (error) {
    await pruning?.stop();
    await recounting.stop();
    await database.close();
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | null = null;
  return {
    url: `http://${urlHost}:${port}`,
    isReadOnly: auth.token === null,
    app,
    tm: database.tm,
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        // Ends the event streams; their keep-alive connections then turn idle and are closed below.
        await events.close();
        server.closeIdleConnections();
        const sweep = setInterval(() => server.closeIdleConnections(), 50);
        // Whatever is still busy after the grace period is cut.
        const grace = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
        await closed;
        clearInterval(sweep);
        clearTimeout(grace);
        await pruning?.stop();
        await recounting.stop();
        await database.close();
      })();
      return closing;
    },
  };
}
