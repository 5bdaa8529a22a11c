import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createManager, databaseUrl, freshSchema, historyCount, runDtm, slotAgo } from './helpers.ts';

const HOUR = 3_600_000;
const schema = freshSchema();
const tm = await createManager(schema);
const from = slotAgo(HOUR, 30);
const at = (i: number) => new Date(from.getTime() + i * HOUR);

// Ten slots, each created, acquired and completed: three transitions, of which two are old and not the latest.
await tm.createTasks({ name: 'report', from: at(0), to: at(10), interval: 'PT1H' });
for (let i = 0; i < 10; i++) await (await tm.acquire('report', at(i))).complete('done');

async function backdate(days: number): Promise<void> {
  await tm.pool.query(`UPDATE "${schema}".task_history SET at = now() - $1 * interval '1 day'`, [days]);
}

/** Polls until some session waits for a lock that session `pid` holds. */
async function waitUntilBlocking(pid: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const { rows } = await tm.pool.query(
      'SELECT 1 FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))',
      [pid],
    );
    if (rows.length > 0) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for a session blocked by ${pid}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('dtm prune', () => {
  it('counts with --dry-run, then deletes the old rows except each slot’s latest transition', async () => {
    await backdate(10);
    const young = await runDtm(['prune', '--schema', schema]);
    expect(young.status).toBe(0);
    expect(young.stdout).toContain('deleted 0 history rows older than P30D');
    const week = await runDtm(['prune', '--older-than', 'P7D', '--dry-run', '--json', '--schema', schema]);
    expect(week.status).toBe(0);
    expect(JSON.parse(week.stdout)).toEqual({ deleted: 10, batches: 1, olderThan: 'P7D', dryRun: true });
    expect(await historyCount(tm)).toBe(20);

    await backdate(40);
    const month = await runDtm(['prune', '--schema', schema]);
    expect(month.status).toBe(0);
    expect(month.stdout).toContain(
      'deleted 10 history rows older than P30D (each slot keeps its latest transition) in 1 batch',
    );
    expect(await historyCount(tm)).toBe(10);
    const history = await runDtm(['history', 'report', at(3).toISOString(), '--schema', schema]);
    // The latest row is the slot's attempt: taken, then completed.
    expect(history.stdout.trim().split('\n').slice(1)).toEqual([
      expect.stringContaining('AVAILABLE -> ACQUIRED'),
      expect.stringContaining('ACQUIRED -> COMPLETE'),
    ]);
  });

  it('exits 2 on a bad duration or an argument, before anything is deleted', async () => {
    await tm.createTasks({ name: 'kept', from: at(0), to: at(2), interval: 'PT1H' });
    await (await tm.acquire('kept', at(0))).complete();
    await backdate(400);
    const before = await historyCount(tm);
    const months = await runDtm(['prune', '--older-than', 'P1M', '--schema', schema]);
    expect(months.status).toBe(2);
    expect(months.stderr).toContain('invalid --older-than "P1M"');
    expect(months.stderr).toContain('Run `dtm prune --help`');
    const short = await runDtm(['prune', '--older-than', 'PT5M', '--json', '--schema', schema]);
    expect(short.status).toBe(2);
    expect(JSON.parse(short.stderr)).toMatchObject({ error: { code: 'BAD_INPUT' } });
    const extra = await runDtm(['prune', 'report', '--schema', schema]);
    expect(extra.status).toBe(2);
    expect(extra.stderr).toContain('prune takes no arguments');
    expect(await historyCount(tm)).toBe(before);
  });

  it('exits 1 and deletes nothing while another process prunes the schema', async () => {
    const before = await historyCount(tm);
    // Another pruner, held up by a row lock on the first row it would delete.
    const locker = new pg.Client(databaseUrl);
    await locker.connect();
    await locker.query('BEGIN');
    const { rows } = await locker.query<{ id: string }>(
      `SELECT h.id FROM "${schema}".task_history h
       WHERE EXISTS (SELECT FROM "${schema}".task_history l WHERE l.name = h.name AND l.slot = h.slot AND l.id > h.id)
       ORDER BY h.id LIMIT 1 FOR UPDATE`,
    );
    expect(rows).toHaveLength(1);
    const other = tm.pruneHistory();
    const { rows: pid } = await locker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    await waitUntilBlocking(pid[0]?.pid as number);
    const busy = await runDtm(['prune', '--schema', schema]);
    expect(busy.status).toBe(1);
    expect(busy.stderr).toContain('another process is pruning it right now; nothing was done');
    expect(await historyCount(tm)).toBe(before);
    await locker.query('COMMIT');
    await locker.end();
    expect((await other).deleted).toBe(before - 12);
  });
});
