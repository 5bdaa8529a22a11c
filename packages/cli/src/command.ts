import { userInfo } from 'node:os';
import { DatabaseError, DtmError, TaskManager } from '@dtm/core';
import { UsageError } from './args.ts';
import { connectDatabase } from './database.ts';
import type { Io } from './output.ts';

/** What a command runs with; `main` builds it from the process, tests may build their own. */
export interface Context {
  io: Io;
  env: NodeJS.ProcessEnv;
  /** One instant per invocation, so that `now-24h` and "is this slot in the future" agree. */
  now: Date;
}

/** One `dtm` command. `run` returns the exit status; it throws `UsageError` or `DtmError` to fail. */
export interface Command {
  name: string;
  summary: string;
  help: string;
  run(args: string[], context: Context): Promise<number>;
}

/** Help text shared by every command's `--help`. */
export const COMMON_HELP = `Common options:
  --schema <name>   Schema holding DTM's tables (default: $DTM_SCHEMA or dtm)
  --json            Machine-readable output on stdout (errors as {"error":{code,message}} on stderr)
  -h, --help        This help

Database: $DATABASE_URL. In the DTM repository, without it: the embedded PostgreSQL in .data/pg (the one
\`pnpm start\` or \`dtm serve\` runs, or one started for this command).`;

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,49}$/;

/** The schema to use, checked before anything connects. */
export function resolveSchema(value: string | undefined, env: NodeJS.ProcessEnv): string {
  const schema = value ?? env.DTM_SCHEMA ?? 'dtm';
  if (!SCHEMA_NAME.test(schema)) {
    throw new UsageError(
      `invalid schema name ${JSON.stringify(schema)}: use 1–50 lowercase letters, digits or underscores, not starting with a digit`,
    );
  }
  return schema;
}

/** Who the history records for writes from this CLI: `--actor`, else `cli:<login>`. */
export function resolveActor(value: string | undefined): string {
  if (value !== undefined) {
    if (value.trim() === '') throw new UsageError('--actor must not be blank');
    return value;
  }
  return `cli:${userInfo().username}`;
}

/** Opens the database and a TaskManager on `schema`, runs `body`, then lets both go. */
export async function withManager<T>(
  context: Context,
  schema: string,
  body: (tm: TaskManager) => Promise<T>,
): Promise<T> {
  const db = await connectDatabase({ env: context.env });
  const tm = new TaskManager({
    connectionString: db.url,
    schema,
    poolSize: 2,
    workerName: resolveActor(undefined),
  });
  try {
    return await body(tm);
  } catch (error) {
    throw explainMissingSchema(error, schema);
  } finally {
    await tm.close();
    await db.stop();
  }
}

const UNDEFINED_TABLE = '42P01';

/** "relation does not exist" means the schema was never migrated: say what to run. */
function explainMissingSchema(error: unknown, schema: string): unknown {
  const sqlState =
    error instanceof DatabaseError
      ? error.sqlState
      : error instanceof Error && 'code' in error
        ? String(error.code)
        : undefined;
  if (sqlState === UNDEFINED_TABLE) {
    return new OperationalError(
      'NOT_MIGRATED',
      `schema ${JSON.stringify(schema)} has no DTM tables: run \`dtm migrate --schema ${schema}\` first`,
    );
  }
  return error;
}

/** A failure the command itself detected (every slot busy, nothing found, …). Exit status 1. */
export class OperationalError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'OperationalError';
    this.code = code;
  }
}

/** The exit status and the `{ code, message }` an error maps to: 2 for bad input, 1 for everything else. */
export function describeError(error: unknown): { status: number; code: string; message: string } {
  if (error instanceof UsageError) return { status: 2, code: 'USAGE', message: error.message };
  if (error instanceof DtmError) {
    return { status: error.code === 'BAD_INPUT' ? 2 : 1, code: error.code, message: error.message };
  }
  if (error instanceof OperationalError) return { status: 1, code: error.code, message: error.message };
  return { status: 1, code: 'INTERNAL', message: error instanceof Error ? error.message : String(error) };
}

/** Writes `value` as JSON, with dates as ISO strings. */
export function printJson(io: Io, value: unknown): void {
  io.out(JSON.stringify(value, null, 2));
}
