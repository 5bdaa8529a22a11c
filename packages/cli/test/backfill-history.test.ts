import { describe, expect, it } from 'vitest';
import { createManager, freshSchema, historyCount, runDtm, slotAgo } from './helpers.ts';

const HOUR = 3_600_000;
const schema = freshSchema();
const tm = await createManager(schema);
const from = slotAgo(HOUR, 12);
const at = (i: number) => new Date(from.getTime() + i * HOUR);

describe('dtm backfill', () => {
  it('creates the missing slots of a range, and nothing the second time', async () => {
    await tm.createTasks({ name: 'report', from: at(0), to: at(2), interval: 'PT1H' });
    await tm.createTasks({ name: 'report', from: at(5), to: at(6), interval: 'PT1H' });
    const range = ['--from', at(0).toISOString(), '--to', at(6).toISOString()];
    const first = await runDtm(['backfill', 'report', ...range, '--schema', schema]);
    expect(first.status).toBe(0);
    expect(first.stdout).toContain('created 3 missing slots of report');
    const states = (await tm.listTasks({ name: 'report', from: at(0), to: at(6) })).map((task) => task.state);
    expect(states).toHaveLength(6);
    const again = await runDtm(['backfill', 'report', ...range, '--json', '--schema', schema]);
    expect(JSON.parse(again.stdout)).toEqual({ created: 0, slots: [], dryRun: false });
  });

  it('rejects bad input with exit 2 and an unknown name with exit 1, creating nothing', async () => {
    const before = await historyCount(tm);
    const noRange = await runDtm(['backfill', 'report', '--schema', schema]);
    expect(noRange.status).toBe(2);
    expect(noRange.stderr).toContain('backfill needs --from and --to');
    const tooMany = await runDtm([
      'backfill',
      'report',
      '--from',
      '1990-01-01',
      '--to',
      'now',
      '--schema',
      schema,
    ]);
    expect(tooMany.status).toBe(2);
    expect(tooMany.stderr).toContain('at most 10000 per call');
    const unknown = await runDtm(['backfill', 'nope', '--from', 'now-1d', '--to', 'now', '--schema', schema]);
    expect(unknown.status).toBe(1);
    expect(await historyCount(tm)).toBe(before);
  });
});

describe('dtm history', () => {
  it('shows the live state and every transition with actor and message', async () => {
    await (await tm.acquire('report', at(0), { worker: 'w1' })).fail('source unreachable');
    await tm.requeue({ name: 'report', slots: [at(0)] }, { reason: 'retry now', actor: 'ops:carol' });
    const { status, stdout } = await runDtm(['history', 'report', at(0).toISOString(), '--schema', schema]);
    expect(status).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toContain('AVAILABLE, 1 failed attempts');
    expect(lines[1]).toContain('created -> AVAILABLE');
    expect(lines[2]).toContain('AVAILABLE -> ACQUIRED  by w1');
    expect(lines[3]).toContain('ACQUIRED -> AVAILABLE  by w1  source unreachable');
    expect(lines[4]).toContain('AVAILABLE -> AVAILABLE  by ops:carol  retry now');
    const json = await runDtm(['history', 'report', at(0).toISOString(), '--json', '--schema', schema]);
    const body = JSON.parse(json.stdout);
    expect(body.task.state).toBe('AVAILABLE');
    expect(body.history).toHaveLength(4);
  });

  it('fails with exit 1 for a slot that does not exist and exit 2 without a slot', async () => {
    const missing = await runDtm(['history', 'report', slotAgo(HOUR, 40).toISOString(), '--schema', schema]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('no slot "report"');
    const usage = await runDtm(['history', 'report', '--schema', schema]);
    expect(usage.status).toBe(2);
  });
});
