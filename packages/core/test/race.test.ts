import { describe, expect, it } from 'vitest';
import { createManager, databaseUrl, pastSlot, uniqueName } from './helpers.ts';
import { exited, startFixture } from './processes.ts';

const tm = await createManager();
await tm.pool.query(`CREATE TABLE "${tm.schema}".results (name text, slot timestamptz, worker text)`);

const SLOTS = 500;
const WORKERS = 16;

async function raceOn(mode: 'next' | 'exact') {
  const name = uniqueName(mode);
  const from = pastSlot(SLOTS + 10);
  await tm.createTasks({ name, from, to: new Date(from.getTime() + SLOTS * 300_000), interval: 'PT5M' });
  const workers = Array.from({ length: WORKERS }, (_, i) =>
    exited(startFixture('race-worker', [databaseUrl, tm.schema, name, mode, `w${i}`])),
  );
  await Promise.all(workers);
  const { rows } = await tm.pool.query<{ slot: Date; n: string; workers: string }>(
    `SELECT slot, count(*) AS n, count(DISTINCT worker) AS workers FROM "${tm.schema}".results WHERE name = $1 GROUP BY slot`,
    [name],
  );
  return { name, rows };
}

// Sixteen processes on a machine that may be busy with other work: seconds when idle, minutes when not.
const RACE_TIMEOUT_MS = 300_000;

describe('racing workers', () => {
  it(
    '16 processes draining 500 slots with acquireNext process each slot exactly once',
    async () => {
      const { name, rows } = await raceOn('next');
      expect(rows).toHaveLength(SLOTS);
      expect(rows.filter((row) => Number(row.n) !== 1)).toEqual([]);
      const states = await tm.listTasks({ name, limit: 10_000 });
      expect(states.filter((t) => t.state !== 'COMPLETE')).toEqual([]);
      expect(states).toHaveLength(SLOTS);
    },
    RACE_TIMEOUT_MS,
  );

  it(
    '16 processes racing acquire over the same 500 slots process each slot exactly once',
    async () => {
      const { name, rows } = await raceOn('exact');
      expect(rows).toHaveLength(SLOTS);
      expect(rows.filter((row) => Number(row.n) !== 1)).toEqual([]);
      const states = await tm.listTasks({ name, limit: 10_000 });
      expect(states.filter((t) => t.state !== 'COMPLETE')).toEqual([]);
    },
    RACE_TIMEOUT_MS,
  );
});
