import { describe, expect, it } from 'vitest';
import { createManager, freshSchema, historyCount, runDtm, slotAgo } from './helpers.ts';

const FIVE_MINUTES = 300_000;
const schema = freshSchema();
const tm = await createManager(schema);
const from = slotAgo(FIVE_MINUTES, 20);
const at = (i: number) => new Date(from.getTime() + i * FIVE_MINUTES);

describe('dtm skip', () => {
  it('skips a range with gaps: pending, failing and missing slots become SKIP; COMPLETE stays; held is busy', async () => {
    // 0 complete, 1 failing, 2–3 gaps, 4 held, 5 pending
    await tm.createTasks({ name: 'sensor', from: at(0), to: at(2), interval: 'PT5M' });
    await tm.createTasks({ name: 'sensor', from: at(4), to: at(6), interval: 'PT5M' });
    await (await tm.acquire('sensor', at(0))).complete();
    await (await tm.acquire('sensor', at(1))).fail('timeout after 30 s');
    const held = await tm.acquire('sensor', at(4), { worker: 'sensor-worker' });
    const { status, stdout } = await runDtm([
      'skip',
      'sensor',
      '--from',
      at(0).toISOString(),
      '--to',
      at(6).toISOString(),
      '--reason',
      'source down for maintenance',
      '--actor',
      'ops:bob',
      '--schema',
      schema,
    ]);
    expect(status).toBe(0);
    expect(stdout).toContain('skipped 4 of 6 slots of sensor: busy 1, unchanged 1');
    expect(stdout).toContain('busy (held by sensor-worker');
    const states = (await tm.listTasks({ name: 'sensor', from: at(0), to: at(6) })).map((task) => task.state);
    expect(states).toEqual(['COMPLETE', 'SKIP', 'SKIP', 'SKIP', 'ACQUIRED', 'SKIP']);
    expect((await tm.getTask('sensor', at(2)))?.message).toBe('source down for maintenance');
    expect((await tm.history('sensor', at(3))).at(-1)).toMatchObject({ toState: 'SKIP', actor: 'ops:bob' });
    await held.complete();
    expect((await tm.getTask('sensor', at(4)))?.state).toBe('COMPLETE');
  });

  it('skips COMPLETE slots only with --include-complete, and un-skips with requeue', async () => {
    const plain = await runDtm([
      'skip',
      'sensor',
      at(0).toISOString(),
      '--reason',
      'r',
      '--json',
      '--schema',
      schema,
    ]);
    expect(JSON.parse(plain.stdout).counts).toEqual({ skipped: 0, busy: 0, unchanged: 1 });
    const forced = await runDtm([
      'skip',
      'sensor',
      at(0).toISOString(),
      '--reason',
      'r',
      '--include-complete',
      '--json',
      '--schema',
      schema,
    ]);
    expect(JSON.parse(forced.stdout).counts).toEqual({ skipped: 1, busy: 0, unchanged: 0 });
    const unskip = await runDtm([
      'requeue',
      'sensor',
      at(2).toISOString(),
      '--reason',
      'source is back',
      '--schema',
      schema,
    ]);
    expect(unskip.status).toBe(0);
    expect((await tm.getTask('sensor', at(2)))?.state).toBe('AVAILABLE');
  });

  it('refuses with exit 1 when every slot is running, touching nothing', async () => {
    await tm.createTasks({ name: 'sensor', from: at(10), to: at(11), interval: 'PT5M' });
    const held = await tm.acquire('sensor', at(10));
    const before = await historyCount(tm);
    const { status, stderr } = await runDtm([
      'skip',
      'sensor',
      at(10).toISOString(),
      '--reason',
      'r',
      '--schema',
      schema,
    ]);
    expect(status).toBe(1);
    expect(stderr).toContain('is running right now');
    expect(await historyCount(tm)).toBe(before);
    await held.complete();
  });

  it('rejects bad input with exit 2 and creates nothing', async () => {
    const before = await historyCount(tm);
    const noReason = await runDtm([
      'skip',
      'sensor',
      '--from',
      at(12).toISOString(),
      '--to',
      at(15).toISOString(),
      '--schema',
      schema,
    ]);
    expect(noReason.status).toBe(2);
    const noSlot = await runDtm(['skip', 'sensor', '--reason', 'r', '--schema', schema]);
    expect(noSlot.status).toBe(2);
    expect(noSlot.stderr).toContain('skip needs a slot, or --from and --to');
    const badSchema = await runDtm([
      'skip',
      'sensor',
      at(12).toISOString(),
      '--reason',
      'r',
      '--schema',
      'Bad-Schema',
    ]);
    expect(badSchema.status).toBe(2);
    expect(await historyCount(tm)).toBe(before);
    expect(await tm.getTask('sensor', at(12))).toBeNull();
  });
});
