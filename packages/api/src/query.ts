import type { Context } from 'hono';
import { badInput } from './http-error.ts';

/**
 * The query string as an object for zod: keys in `arrayKeys` keep every value, the others must appear at
 * most once (a repeated single-valued parameter is ambiguous, so it is refused rather than guessed).
 */
export function queryInput(c: Context, arrayKeys: readonly string[] = []): Record<string, string | string[]> {
  let all: Record<string, string[]>;
  try {
    all = c.req.queries();
  } catch {
    throw badInput('the query string is malformed');
  }
  const input: Record<string, string | string[]> = {};
  for (const [key, values] of Object.entries(all)) {
    if (arrayKeys.includes(key)) {
      input[key] = values;
    } else if (values.length > 1) {
      throw badInput(`query parameter ${JSON.stringify(key.slice(0, 50))} is given more than once`);
    } else if (values[0] !== undefined) {
      input[key] = values[0];
    }
  }
  return input;
}
