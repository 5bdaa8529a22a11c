/** What the global setup started, passed to the tests through the environment. */
export interface StackEnv {
  /** The API serving the dashboard, e.g. `http://127.0.0.1:41234`. */
  baseUrl: string;
  /** The write token the API accepts. */
  token: string;
  databaseUrl: string;
  schema: string;
}

const KEYS = {
  baseUrl: 'DTM_E2E_BASE_URL',
  token: 'DTM_E2E_TOKEN',
  databaseUrl: 'DTM_E2E_DATABASE_URL',
  schema: 'DTM_E2E_SCHEMA',
} as const satisfies Record<keyof StackEnv, string>;

export function exportStackEnv(env: StackEnv): void {
  for (const [key, variable] of Object.entries(KEYS)) process.env[variable] = env[key as keyof StackEnv];
}

export function readStackEnv(): StackEnv {
  const read = (variable: string) => {
    const value = process.env[variable];
    if (!value) throw new Error(`${variable} is not set: run the suite with \`pnpm --filter @dtm/e2e test\``);
    return value;
  };
  return {
    baseUrl: read(KEYS.baseUrl),
    token: read(KEYS.token),
    databaseUrl: read(KEYS.databaseUrl),
    schema: read(KEYS.schema),
  };
}

/** The interval of every e2e task name: hourly slots in the recent past are few, wide cells. */
export const E2E_INTERVAL = 'PT1H';
export const HOUR = 3_600_000;

/** Task names the shared worker fleet processes; each flow uses its own. */
export const FLEET_NAMES = {
  states: 'e2e-states',
  requeue: 'e2e-requeue',
  refuse: 'e2e-refuse',
  backfill: 'e2e-backfill',
  skip: 'e2e-skip',
  keyboard: 'e2e-keyboard',
  token: 'e2e-token',
  giveUp: 'e2e-give-up',
} as const;

/** Processed only by the workers the crash flow starts (and kills) itself. */
export const CRASH_NAME = 'e2e-crash';

/**
 * Tables of the test harness, beside DTM's: slots the workers' work waits on while a row is in e2e_holds, slots
 * whose work fails with the message in e2e_fails, and the results the work writes through the held transaction.
 */
export function harnessSql(schema: string): string {
  return `CREATE TABLE IF NOT EXISTS "${schema}".e2e_holds (
      name text NOT NULL, slot timestamptz NOT NULL, PRIMARY KEY (name, slot));
    CREATE TABLE IF NOT EXISTS "${schema}".e2e_fails (
      name text NOT NULL, slot timestamptz NOT NULL, message text NOT NULL, PRIMARY KEY (name, slot));
    CREATE TABLE IF NOT EXISTS "${schema}".e2e_results (
      name text NOT NULL, slot timestamptz NOT NULL, worker text NOT NULL, at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (name, slot, at));`;
}

/** Retry delay of the e2e workers: a failed slot stays FAILING for the whole run. */
export const E2E_RETRY = { baseMs: HOUR, maxMs: HOUR, jitter: 0 };
