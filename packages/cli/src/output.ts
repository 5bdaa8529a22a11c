/** Where a command writes, and whether it may color its text. Injected so that tests and `main` share code. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  isColor: boolean;
  /** Terminal width in characters, when writing to a terminal. */
  columns: number | undefined;
}

/**
 * Color when writing to a terminal, unless `NO_COLOR` is set (https://no-color.org); `FORCE_COLOR` (not `0`)
 * forces it on for pipes.
 */
export function isColorWanted(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false') return true;
  return stream.isTTY === true;
}

export function processIo(): Io {
  return {
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
    isColor: isColorWanted(process.stdout, process.env),
    columns: process.stdout.isTTY ? process.stdout.columns : undefined,
  };
}

const CODES = {
  bold: 1,
  dim: 2,
  red: 31,
  green: 32,
  yellow: 33,
  blue: 34,
  magenta: 35,
  cyan: 36,
  gray: 90,
} as const;

export type Color = keyof typeof CODES;

/** `text` wrapped in an ANSI color when `isColor`, else unchanged. */
export function paint(text: string, color: Color, isColor: boolean): string {
  return isColor ? `\u001b[${CODES[color]}m${text}\u001b[0m` : text;
}

/** A compact UTC time: `2026-11-28T04:05Z`, with seconds (`04:05:31Z`) only when they are not zero. */
export function formatTime(date: Date): string {
  const iso = date.toISOString();
  return iso.endsWith(':00.000Z') ? `${iso.slice(0, 16)}Z` : `${iso.slice(0, 19)}Z`;
}

/** `text` cut to `max` characters with an ellipsis; line breaks become spaces. */
export function truncate(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
