import { type ParseArgsConfig, parseArgs } from 'node:util';

/** Bad command line: unknown command or option, missing argument, unreadable value. Exit status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Options every command takes. */
export const COMMON_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
  schema: { type: 'string' },
} as const satisfies Options;

/** `parseArgs` in strict mode whose complaints become `UsageError`s. */
export function parseCommandArgs<O extends Options>(args: string[], options: O) {
  try {
    return parseArgs({
      args,
      options: { ...COMMON_OPTIONS, ...options },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

const RELATIVE = /^now(?:([+-])(\d+)(s|m|h|d|w))?$/;
const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/**
 * A time from the command line: ISO-8601 (`2026-11-28T04:05:00Z`, `2026-11-28`), `now`, or `now-24h`,
 * `now+1d` (units s, m, h, d, w). `now` is passed in so that one invocation uses one instant.
 */
export function parseTime(value: string, what: string, now: Date): Date {
  const relative = RELATIVE.exec(value.trim());
  if (relative) {
    const [, sign, amount, unit] = relative;
    if (!sign || !amount || !unit) return new Date(now.getTime());
    const delta = Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
    return new Date(now.getTime() + (sign === '-' ? -delta : delta));
  }
  // Date-time strings without a zone would be read in the local zone; slots are UTC instants, so ask for one.
  if (/T\d{2}:\d{2}/.test(value) && !/(Z|[+-]\d{2}:?\d{2})$/i.test(value.trim())) {
    throw new UsageError(
      `${what} ${JSON.stringify(value)} has no time zone: add Z (UTC) or an offset such as +01:00`,
    );
  }
  const date = new Date(value);
  if (value.trim() === '' || Number.isNaN(date.getTime())) {
    throw new UsageError(
      `${what} must be an ISO-8601 time (2026-11-28T04:05:00Z), now, or now-24h; got ${JSON.stringify(value)}`,
    );
  }
  return date;
}

/** `--from` and `--to` together, or neither; `from` must not be after `to`. */
export function parseRange(
  values: { from?: string | undefined; to?: string | undefined },
  now: Date,
): { from: Date; to: Date } | null {
  if (values.from === undefined && values.to === undefined) return null;
  if (values.from === undefined || values.to === undefined) throw new UsageError('give both --from and --to');
  const from = parseTime(values.from, '--from', now);
  const to = parseTime(values.to, '--to', now);
  if (from > to)
    throw new UsageError(`inverted range: --from ${from.toISOString()} is after --to ${to.toISOString()}`);
  return { from, to };
}

/** A required, non-blank text option such as `--reason`. */
export function requireText(value: string | undefined, flag: string): string {
  if (value === undefined || value.trim() === '')
    throw new UsageError(`${flag} is required and must not be blank`);
  return value;
}
