import { parseCommandArgs, UsageError } from '../args.ts';
import { COMMON_HELP, type Command, resolveSchema } from '../command.ts';
import { connectDatabase } from '../database.ts';

export const serveCommand: Command = {
  name: 'serve',
  summary: 'Run the API sidecar with the dashboard until Ctrl-C',
  help: `Usage: dtm serve [--host <host>] [--port <port>]

Runs the HTTP API (docs/http-api.md) and serves the dashboard from packages/dashboard/dist until
SIGINT or SIGTERM, then closes the server and, if it started one, the embedded PostgreSQL.
Writes (re-queue, skip, backfill) need the token in $DTM_API_TOKEN; without it the server is read-only.

Options:
  --host <host>   Interface to listen on (default: $HOST or 127.0.0.1)
  --port <port>   Port (default: $PORT or 8080; 0 picks a free one)

${COMMON_HELP}`,
  async run(args, context) {
    const { values, positionals } = parseCommandArgs(args, {
      host: { type: 'string' },
      port: { type: 'string' },
    });
    if (positionals.length > 0)
      throw new UsageError(`serve takes no arguments, got ${positionals.join(' ')}`);
    const schema = resolveSchema(values.schema, context.env);
    const host = values.host ?? context.env.HOST ?? '127.0.0.1';
    const portText = values.port ?? context.env.PORT ?? '8080';
    const port = Number(portText);
    if (!Number.isInteger(port) || port < 0 || port > 65_535) {
      throw new UsageError(`--port must be a whole number from 0 to 65535, got ${JSON.stringify(portText)}`);
    }
    throw new UsageError(
      `serve is not available yet (host ${host}, port ${port}, schema ${schema}, ${typeof connectDatabase})`,
    );
  },
};
