import { startServer } from '@dtm/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManager, databaseUrl, freshSchema, runDtm, slotAgo } from './helpers.ts';

// The grid (API), `dtm status` (CLI) and `dtm_missing_slots` (/metrics) count one fixture the same way: they
// all read the core's grid.

const HOUR = 3_600_000;
const schema = freshSchema();
let server: Awaited<ReturnType<typeof startServer>>;

// Every name's slots exist from two days ago to an hour ahead (so that the clock moving between the three
// reads changes nothing), but for gaps, failures and skips in the middle of the last day. `late` starts
// within the window: the hours before its first slot are not gaps.
beforeAll(async () => {
  const tm = await createManager(schema);
  const from = slotAgo(HOUR, 48);
  const to = new Date(slotAgo(HOUR, 0).getTime() + 2 * HOUR);
  for (const name of ['alpha', 'beta']) await tm.createTasks({ name, from, to, interval: 'PT1H' });
  await tm.createTasks({ name: 'late', from: slotAgo(HOUR, 10), to, interval: 'PT1H' });
  await tm.createTasks({ name: 'minutes', from, to, interval: 'PT1M' });
  await tm.pool.query(
    `DELETE FROM "${schema}".tasks WHERE (name = 'alpha' AND slot IN ($1, $2)) OR (name = 'minutes' AND slot >= $3 AND slot < $4)`,
    [
      slotAgo(HOUR, 5),
      slotAgo(HOUR, 6),
      slotAgo(HOUR, 12),
      new Date(slotAgo(HOUR, 12).getTime() + 700 * 60_000),
    ],
  );
  for (const name of ['alpha', 'beta', 'late']) {
    await (await tm.acquire(name, slotAgo(HOUR, 3))).fail('source unreachable');
    await (await tm.acquire(name, slotAgo(HOUR, 8))).fail('source unreachable');
    await (await tm.acquire(name, slotAgo(HOUR, 4))).skip('maintenance');
  }
  server = await startServer({ databaseUrl, schema, port: 0, dashboardDir: null, isMigrating: false });
});
afterAll(() => server?.close());

describe('one count of gaps and failures', () => {
  it('grid, dtm status and /metrics agree on every name over the last day', async () => {
    const now = new Date();
    const from = new Date(now.getTime() - 86_400_000);
    const grid = (await (
      await fetch(`${server.url}/api/grid?from=${from.toISOString()}&to=${now.toISOString()}&columns=37`)
    ).json()) as { rows: Array<{ name: string; summary: { missing: number; failing: number } }> };
    const status = await runDtm([
      'status',
      '--from',
      from.toISOString(),
      '--to',
      now.toISOString(),
      '--width',
      '80',
      '--json',
      '--schema',
      schema,
    ]);
    expect(status.status).toBe(0);
    const statuses = JSON.parse(status.stdout).names as Array<{
      name: string;
      counts: { MISSING: number; FAILING: number };
    }>;
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const missingMetric = (name: string) =>
      Number(new RegExp(`^dtm_missing_slots\\{name="${name}"\\} (\\d+)$`, 'm').exec(metrics)?.[1]);

    expect(grid.rows.map((row) => row.name)).toEqual(['alpha', 'beta', 'late', 'minutes']);
    const expected = { alpha: 2, beta: 0, late: 0, minutes: 700 };
    for (const row of grid.rows) {
      const cli = statuses.find((s) => s.name === row.name);
      expect(row.summary.missing, row.name).toBe(expected[row.name as keyof typeof expected]);
      expect(cli?.counts.MISSING, row.name).toBe(row.summary.missing);
      expect(cli?.counts.FAILING, row.name).toBe(row.summary.failing);
      expect(missingMetric(row.name), row.name).toBe(row.summary.missing);
    }
    expect(grid.rows.find((row) => row.name === 'alpha')?.summary.failing).toBe(2);
  });
});
