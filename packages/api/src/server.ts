#!/usr/bin/env node
// The API sidecar's entry point, the `dtm-api` bin: the only module that reads the environment.
import { parseRetention } from '@dtm/core';
import type { AuthConfig } from './deps.ts';
import { createLogger } from './logger.ts';
import { startServer } from './start-server.ts';

const env = process.env;
// JSON lines on stdout (pretty on a terminal); the level from DTM_LOG_LEVEL.
const logger = (() => {
  try {
    return createLogger({ level: env.DTM_LOG_LEVEL || 'info' });
  } catch (error) {
    return fail(`DTM_LOG_LEVEL: ${error instanceof Error ? error.message : String(error)}`);
  }
})();

/** A configuration the server cannot start with: one line on stderr, as a command says it, and exit 2. */
function fail(message: string): never {
  console.error(`dtm-api: ${message}`);
  process.exit(2);
}

const databaseUrl = env.DATABASE_URL;
if (!databaseUrl) {
  fail(
    'DATABASE_URL is not set: set it to the PostgreSQL that holds the DTM schema (postgres://user:password@host:5432/database)',
  );
}
const port = Number(env.PORT ?? '8080');
if (!Number.isInteger(port) || port < 0 || port > 65_535) fail(`PORT must be 0–65535, got ${env.PORT}`);
const token = env.DTM_API_TOKEN && env.DTM_API_TOKEN.length > 0 ? env.DTM_API_TOKEN : null;
if (token !== null && token.length < 16) fail('DTM_API_TOKEN must be at least 16 characters');
const readUser = env.DTM_READ_USER ?? '';
const readPassword = env.DTM_READ_PASSWORD ?? '';
if ((readUser === '') !== (readPassword === ''))
  fail('set both DTM_READ_USER and DTM_READ_PASSWORD, or neither');
const auth: AuthConfig = {
  token,
  tokenName: env.DTM_API_TOKEN_NAME || 'api',
  readAuth: readUser === '' ? null : { user: readUser, password: readPassword },
};
const corsOrigins = (env.DTM_CORS_ORIGINS ?? '')
  .split(',')
  .map((origin) => origin.trim())
  .filter((origin) => origin !== '');

const gridCacheMs = Number(env.DTM_GRID_CACHE_MS ?? '1000');
if (!Number.isInteger(gridCacheMs) || gridCacheMs < 0) fail('DTM_GRID_CACHE_MS must be a whole number of ms');

// History older than this is pruned (each slot keeps its latest transition); `off` keeps it all.
const retention = (env.DTM_HISTORY_RETENTION ?? '').trim() || 'P30D';
const historyPruning = retention.toLowerCase() === 'off' ? null : { olderThan: retention };
if (historyPruning) {
  try {
    parseRetention(historyPruning.olderThan, 'DTM_HISTORY_RETENTION');
  } catch (error) {
    fail(error instanceof Error ? `${error.message}, or off` : String(error));
  }
}

let server: Awaited<ReturnType<typeof startServer>>;
try {
  server = await startServer({
    databaseUrl,
    ...(env.DTM_READ_DATABASE_URL ? { readDatabaseUrl: env.DTM_READ_DATABASE_URL } : {}),
    schema: env.DTM_SCHEMA || 'dtm',
    host: env.DTM_HOST || '127.0.0.1',
    port,
    auth,
    corsOrigins,
    limits: { gridCacheMs },
    historyPruning,
    logger,
    ...(env.DTM_DASHBOARD_DIR ? { dashboardDir: env.DTM_DASHBOARD_DIR } : {}),
  });
} catch (error) {
  fail(`cannot start: ${error instanceof Error ? error.message : String(error)}`);
}

logger.info({ url: server.url }, `DTM API listening on ${server.url} (dashboard at ${server.url}/)`);
logger.info(
  { isReadOnly: server.isReadOnly },
  server.isReadOnly
    ? 'Read-only: no DTM_API_TOKEN is set, so re-queue, skip and backfill answer 403.'
    : `Writes need Authorization: Bearer <DTM_API_TOKEN>; recorded as ${auth.tokenName}@<client address>.`,
);
if (auth.readAuth) logger.info({}, 'Reads need basic auth (DTM_READ_USER / DTM_READ_PASSWORD).');
logger.info(
  { historyRetention: historyPruning?.olderThan ?? 'off' },
  historyPruning
    ? `History older than ${historyPruning.olderThan} is pruned hourly, each slot's latest transition kept (DTM_HISTORY_RETENTION).`
    : 'History is kept for good (DTM_HISTORY_RETENTION=off).',
);
if (env.DTM_READ_DATABASE_URL) logger.info({}, 'Reads of committed rows: DTM_READ_DATABASE_URL (a replica)');

let isStopping = false;
async function stop(signal: string): Promise<void> {
  if (isStopping) return;
  isStopping = true;
  logger.info({ signal }, 'shutting down');
  try {
    await server.close();
    process.exit(0);
  } catch (error) {
    logger.error({ err: error }, 'shutdown failed');
    process.exit(1);
  }
}
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
