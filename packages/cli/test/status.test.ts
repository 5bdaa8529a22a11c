import type { AcquiredTask } from '@dtm/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManager, freshSchema, runDtm, slotAgo } from './helpers.ts';

const FIVE_MINUTES = 300_000;
const schema = freshSchema();
const from = slotAgo(FIVE_MINUTES, 12);
const to = slotAgo(FIVE_MINUTES, 0);
const at = (i: number) => new Date(from.getTime() + i * FIVE_MINUTES);
let held: AcquiredTask;

// Slots 0–11: 0–5 complete, 6 failing, 7 skipped, 8 a gap, 9 running, 10–11 pending.
beforeAll(async () => {
  const tm = await createManager(schema);
  await tm.createTasks({ name: 'sensor', from, to: at(8), interval: 'PT5M' });
  await tm.createTasks({ name: 'sensor', from: at(9), to, interval: 'PT5M' });
  await tm.createTasks({
    name: 'daily',
    from: slotAgo(86_400_000, 2),
    to: slotAgo(86_400_000, 0),
    interval: 'P1D',
    maxAttempts: 1,
  });
  // the daily name gives up after one attempt: its first slot has
  await (await tm.acquire('daily', slotAgo(86_400_000, 2))).fail('upstream gone');
  for (let i = 0; i < 6; i += 1) await (await tm.acquire('sensor', at(i))).complete();
  await (await tm.acquire('sensor', at(6))).fail('source unreachable: connect ECONNREFUSED 10.0.0.7:5432');
  await (await tm.acquire('sensor', at(7))).skip('maintenance window');
  held = await tm.acquire('sensor', at(9), { worker: 'busy-worker' });
});
afterAll(() => held.release());

const window = ['--from', from.toISOString(), '--to', to.toISOString()];

describe('dtm status', () => {
  it('prints one plain cell per slot with counts, gaps, failures and holders when not a terminal', async () => {
    const { status, stdout, stderr } = await runDtm(['status', 'sensor', ...window, '--schema', schema]);
    expect(stderr).toBe('');
    expect(status).toBe(0);
    expect(stdout).toContain('|######!-?>..|');
    expect(stdout).toContain('complete 6, running 1, pending 2, failing 1, skipped 1, missing 1');
    expect(stdout).toContain(`gaps: ${at(8).toISOString().slice(0, 16)}Z`);
    expect(stdout).toMatch(
      /failing .*1 attempt {2}source unreachable: connect ECONNREFUSED 10\.0\.0\.7:5432/,
    );
    expect(stdout).toContain('held by busy-worker');
    expect(stdout).not.toContain('\u001b[');
  });

  it('lists every name without a name argument, and colors only when asked to', async () => {
    const plain = await runDtm(['status', ...window, '--schema', schema]);
    expect(plain.stdout).toContain('sensor  every PT5M');
    expect(plain.stdout).toContain('daily  every P1D, gives up after 1 attempt');
    const colored = await runDtm(['status', ...window, '--schema', schema], {
      NO_COLOR: '',
      FORCE_COLOR: '1',
    });
    expect(colored.stdout).toContain('\u001b[31m!\u001b[0m');
  });

  it('shows a name’s maxAttempts and the slots that gave up', async () => {
    const days = ['--from', slotAgo(86_400_000, 2).toISOString(), '--to', new Date().toISOString()];
    const { stdout } = await runDtm(['status', 'daily', ...days, '--schema', schema]);
    expect(stdout).toContain('daily  every P1D, gives up after 1 attempt');
    expect(stdout).toMatch(/gave up .*1 attempt {2}gave up after 1 attempt: upstream gone/);
  });

  it('buckets slots into at most --width cells, each showing its worst slot', async () => {
    const { stdout } = await runDtm(['status', 'sensor', ...window, '--width', '5', '--schema', schema]);
    // Cells of three slots, aligned to multiples of three slots (15 minutes) from the epoch, each showing the
    // worst of '######!-?>..' (one per slot), in the order failing, missing, pending, running, skipped, complete.
    const perSlot = '######!-?>..';
    const worst = '!?.>-#';
    const firstN = from.getTime() / FIVE_MINUTES;
    const cells: string[] = [];
    for (let i = 0; i < perSlot.length; i += 1) {
      const cell = Math.floor((firstN + i) / 3) - Math.floor(firstN / 3);
      cells[cell] = (cells[cell] ?? '') + perSlot[i];
    }
    const line = cells.map((slots) => [...worst].find((char) => slots.includes(char))).join('');
    expect(stdout).toContain(`|${line}|`);
    expect(stdout).toContain('3 slots per cell');
  });

  it('answers --json with per-state counts, gaps and failures', async () => {
    const { status, stdout } = await runDtm(['status', 'sensor', ...window, '--json', '--schema', schema]);
    expect(status).toBe(0);
    const body = JSON.parse(stdout);
    const [sensor] = body.names;
    expect(sensor.counts).toEqual({
      FAILING: 1,
      MISSING: 1,
      AVAILABLE: 2,
      ACQUIRED: 1,
      SKIP: 1,
      COMPLETE: 6,
      FUTURE: 0,
      BEFORE_FIRST: 0,
    });
    expect(sensor.gaps).toEqual([{ from: at(8).toISOString(), to: at(9).toISOString(), count: 1 }]);
    expect(sensor.failures[0].message).toContain('ECONNREFUSED');
    expect(sensor.running).toEqual([
      expect.objectContaining({ slot: at(9).toISOString(), worker: 'busy-worker' }),
    ]);
  });

  it('fails with exit 1 for an unknown name and exit 2 for a bad window', async () => {
    const unknown = await runDtm(['status', 'nope', '--schema', schema]);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain('unknown task name: "nope"');
    const inverted = await runDtm([
      'status',
      '--from',
      to.toISOString(),
      '--to',
      from.toISOString(),
      '--schema',
      schema,
    ]);
    expect(inverted.status).toBe(2);
    expect(inverted.stderr).toContain('inverted range');
    const half = await runDtm(['status', '--from', 'now-1h', '--schema', schema]);
    expect(half.status).toBe(2);
    expect(half.stderr).toContain('give both --from and --to');
  });

  it('tells to migrate when the schema has no tables', async () => {
    const { status, stderr } = await runDtm(['status', '--schema', 'cli_never_migrated']);
    expect(status).toBe(1);
    expect(stderr).toContain('dtm migrate --schema cli_never_migrated');
  });
});
