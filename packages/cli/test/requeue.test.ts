import { beforeAll, describe, expect, it } from 'vitest';
import { createManager, freshSchema, historyCount, runDtm, slotAgo } from './helpers.ts';

const HOUR = 3_600_000;
const schema = freshSchema();
const tm = await createManager(schema);
const from = slotAgo(HOUR, 10);
const at = (i: number) => new Date(from.getTime() + i * HOUR);

beforeAll(async () => {
  await tm.createTasks({ name: 'report', from, to: at(10), interval: 'PT1H' });
  for (let i = 0; i < 6; i += 1) await (await tm.acquire('report', at(i))).complete();
});

describe('dtm requeue', () => {
  it('makes a COMPLETE slot AVAILABLE and records actor and reason in the history', async () => {
    const { status, stdout } = await runDtm([
      'requeue',
      'report',
      at(0).toISOString(),
      '--reason',
      'late data arrived',
      '--actor',
      'ops:alice',
      '--schema',
      schema,
    ]);
    expect(status).toBe(0);
    expect(stdout).toContain('re-queued 1 of 1 slot of report');
    expect((await tm.getTask('report', at(0)))?.state).toBe('AVAILABLE');
    const last = (await tm.history('report', at(0))).at(-1);
    expect(last).toMatchObject({
      fromState: 'COMPLETE',
      toState: 'AVAILABLE',
      actor: 'ops:alice',
      message: 'late data arrived',
    });
  });

  it('refuses a running slot with exit 1 and who holds it; the worker then completes undisturbed', async () => {
    const held = await tm.acquire('report', at(8), { worker: 'report-worker-7' });
    const before = await historyCount(tm);
    const { status, stderr } = await runDtm([
      'requeue',
      'report',
      at(8).toISOString(),
      '--reason',
      'x',
      '--schema',
      schema,
    ]);
    expect(status).toBe(1);
    expect(stderr).toContain('is running right now (held by report-worker-7');
    expect(await historyCount(tm)).toBe(before);
    expect(held.isHeld).toBe(true);
    await held.complete('done');
    expect((await tm.getTask('report', at(8)))?.state).toBe('COMPLETE');
  });

  it('re-queues the finished slots of a range and reports the others, with --json counts', async () => {
    const held = await tm.acquire('report', at(9));
    try {
      const { status, stdout } = await runDtm([
        'requeue',
        'report',
        '--from',
        at(1).toISOString(),
        '--to',
        at(10).toISOString(),
        '--reason',
        'reprocess the night',
        '--json',
        '--schema',
        schema,
      ]);
      expect(status).toBe(0);
      const body = JSON.parse(stdout);
      // 1–5 and 8 were complete, 6–7 pending, 9 held
      expect(body.counts).toEqual({ requeued: 6, busy: 1, notFound: 0, unchanged: 2 });
      expect(body.outcomes.at(-1)).toEqual({ slot: at(9).toISOString(), outcome: 'busy' });
    } finally {
      await held.release();
    }
  });

  it('changes nothing with --dry-run', async () => {
    await (await tm.acquire('report', at(2))).complete();
    const before = await historyCount(tm);
    const { status, stdout } = await runDtm([
      'requeue',
      'report',
      at(2).toISOString(),
      '--reason',
      'r',
      '--dry-run',
      '--schema',
      schema,
    ]);
    expect(status).toBe(0);
    expect(stdout).toContain('would re-queue 1 of 1');
    expect(await historyCount(tm)).toBe(before);
    expect((await tm.getTask('report', at(2)))?.state).toBe('COMPLETE');
  });

  it('rejects bad input with exit 2 and changes nothing', async () => {
    await (await tm.acquire('report', at(3))).complete();
    const before = await historyCount(tm);
    const cases: Array<[string[], string]> = [
      [['requeue', 'report', at(3).toISOString()], '--reason is required'],
      [['requeue', 'report', at(3).toISOString(), '--reason', '   '], '--reason is required'],
      [['requeue', 'report', 'yesterday', '--reason', 'r'], 'must be an ISO-8601 time'],
      [
        ['requeue', 'report', new Date(at(3).getTime() + 60_000).toISOString(), '--reason', 'r'],
        'not aligned',
      ],
      [
        ['requeue', 'report', '--from', at(5).toISOString(), '--to', at(1).toISOString(), '--reason', 'r'],
        'inverted range',
      ],
      [
        ['requeue', 'report', at(3).toISOString(), '--from', 'now-1h', '--to', 'now', '--reason', 'r'],
        'not both',
      ],
      [['requeue', 'report', at(3).toISOString(), '--reason', 'r', '--force'], "Unknown option '--force'"],
    ];
    for (const [args, message] of cases) {
      const { status, stderr } = await runDtm([...args, '--schema', schema]);
      expect({ args, status }).toEqual({ args, status: 2 });
      expect(stderr).toContain(message);
    }
    expect(await historyCount(tm)).toBe(before);
    expect((await tm.getTask('report', at(3)))?.state).toBe('COMPLETE');
  });

  it('fails with exit 1 and a JSON error when the name or slot does not exist', async () => {
    const unknown = await runDtm([
      'requeue',
      'nope',
      at(0).toISOString(),
      '--reason',
      'r',
      '--json',
      '--schema',
      schema,
    ]);
    expect(unknown.status).toBe(1);
    expect(JSON.parse(unknown.stderr)).toEqual({
      error: { code: 'NOT_FOUND', message: 'no task name "nope"' },
    });
    const missing = await runDtm([
      'requeue',
      'report',
      slotAgo(HOUR, 50).toISOString(),
      '--reason',
      'r',
      '--schema',
      schema,
    ]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('no such slot');
  });
});
