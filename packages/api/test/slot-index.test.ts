import { describe, expect, it } from 'vitest';
import { gridResponse, namesResponse } from '../src/schemas.ts';
import {
  AVAILABLE,
  COMPLETE,
  HAS_MESSAGE,
  MESSAGE_LENGTH,
  MessageStore,
  NameSlots,
  NO_ROW,
  SKIP,
  SlotIndex,
  type SlotsByName,
} from '../src/slot-index.ts';
import {
  createTestApp,
  getJson,
  gridCells,
  pastSlot,
  SUBSCRIPTION_SESSION,
  silentLogger,
  uniqueName,
  waitFor,
} from './helpers.ts';

// The grid, names and metrics read the slots from the API's slot index (memory), kept current from the
// core's notifications: these tests hold it to what the table says, at the moment of each request.

const FIVE_MIN = 300_000;
const { app, tm, worker, schema } = await createTestApp();

/** Every row of `names` as the index should hold it, read from the table; and as `slots` holds it. */
async function expectTableIn(slots: SlotsByName, names: string[]): Promise<void> {
  const { rows } = await worker.pool.query<{
    name: string;
    slot: Date;
    state: string;
    failed_attempts: number;
    next_attempt_at: Date | null;
    message: string | null;
  }>(
    `SELECT name, slot, state, failed_attempts, next_attempt_at, message FROM "${schema}".tasks
     WHERE name = ANY($1) ORDER BY name, slot`,
    [names],
  );
  const code = { AVAILABLE, COMPLETE, SKIP } as Record<string, number>;
  const expected = rows.map((row) => {
    const isKept = row.state !== 'COMPLETE' || row.failed_attempts > 0;
    return [
      row.name,
      row.slot.getTime(),
      (code[row.state] ?? Number.NaN) + (row.message === null ? 0 : HAS_MESSAGE),
      row.failed_attempts,
      Math.ceil((row.next_attempt_at?.getTime() ?? 0) / 1000) * 1000,
      isKept && row.message ? row.message.slice(0, MESSAGE_LENGTH) : undefined,
    ];
  });
  const held = rows.map(({ name, slot }) => {
    const of = slots.get(name);
    const ms = slot.getTime();
    return [name, ms, of?.stateAt(ms), of?.attemptsAt(ms), of?.nextAttemptAt(ms), of?.messageAt(ms)];
  });
  expect(held).toEqual(expected);
  for (const name of names)
    expect(slots.get(name)?.rows).toBe(rows.filter((row) => row.name === name).length);
}

async function states(name: string, from: Date, count: number): Promise<string> {
  const to = new Date(from.getTime() + count * FIVE_MIN);
  const body = gridResponse.parse(
    await getJson(
      app,
      `/api/grid?names=${encodeURIComponent(name)}&from=${from.toISOString()}&to=${to.toISOString()}`,
    ),
  );
  return body.rows[0]?.states ?? '';
}

/** The slot index's counters from `/metrics`. */
async function indexCounters(): Promise<{ asHeard: number; readBack: number }> {
  const text = await (await app.request('/metrics')).text();
  const value = (metric: string) => {
    const found = new RegExp(`^${metric} (\\d+)$`, 'm').exec(text)?.[1];
    if (found === undefined) throw new Error(`no ${metric} in /metrics`);
    return Number(found);
  };
  return {
    asHeard: value('dtm_api_slot_index_applied_as_heard_total'),
    readBack: value('dtm_api_slot_index_rows_read_back_total'),
  };
}

describe('the slot index behind the grid', () => {
  it('answers with every transition committed before the request, however quickly it follows', async () => {
    const name = uniqueName('fresh');
    const from = pastSlot(5);
    await worker.createTasks({ name, from, to: pastSlot(1), interval: 'PT5M' });
    expect(await states(name, from, 4)).toBe('AAAA');
    // Each request right after the write that it must show, without waiting.
    await (await worker.acquire(name, from)).complete('done');
    expect(await states(name, from, 4)).toBe('CAAA');
    await (await worker.acquire(name, pastSlot(4))).fail('boom');
    expect(await states(name, from, 4)).toBe('CFAA');
    await worker.skip({ name, slots: [pastSlot(3)] }, { reason: 'not needed' });
    expect(await states(name, from, 4)).toBe('CFSA');
    await worker.requeue({ name, slots: [from] }, { reason: 'again' });
    expect(await states(name, from, 4)).toBe('AFSA');
  });

  it('reads a name whole after a bulk change (one summary notification for more than 100 slots)', async () => {
    const name = uniqueName('bulk');
    const from = pastSlot(300);
    await worker.createTasks({ name, from, to: pastSlot(0), interval: 'PT5M' });
    expect(await states(name, from, 300)).toMatch(/^A+$/);
    const skipped = await worker.skip({ name, from, to: pastSlot(0) }, { reason: 'backlog dropped' });
    expect(skipped.counts.skipped).toBe(300);
    const cells = gridCells(
      gridResponse.parse(
        await getJson(
          app,
          `/api/grid?names=${name}&from=${from.toISOString()}&to=${pastSlot(0).toISOString()}&columns=300`,
        ),
      ),
    );
    expect(cells.every((cell) => cell.state === 'SKIP' && cell.message === 'backlog dropped')).toBe(true);
  });

  it('reads everything again after losing its subscription’s connection, so a change it did not hear shows', async () => {
    const name = uniqueName('unheard');
    const slot = pastSlot(3);
    await worker.createTask({ name, slot, interval: 'PT5M' });
    expect(await states(name, slot, 1)).toBe('A');
    // In one transaction: the index's subscription is cut (and gone before the commit), then the row
    // changes by hand, recording nothing in the history. Only a reload can show it.
    const client = await worker.pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ ok: boolean }>(
        `SELECT pg_terminate_backend(pid, 5000) AS ok FROM pg_stat_activity WHERE ${SUBSCRIPTION_SESSION}`,
        [schema],
      );
      expect(rows).toEqual([{ ok: true }]);
      await client.query(`UPDATE "${schema}".tasks SET state = 'COMPLETE' WHERE name = $1 AND slot = $2`, [
        name,
        slot,
      ]);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    let seen = '';
    await waitFor('the grid to show the unheard change', async () => {
      seen = await states(name, slot, 1).catch(() => '');
      return seen === 'C';
    });
    expect(seen).toBe('C');
  });

  it('applies a holder’s ending whose message it would not keep as it hears it; reads back other rows', async () => {
    const name = uniqueName('heard');
    const from = pastSlot(4);
    await worker.createTasks({ name, from, to: pastSlot(0), interval: 'PT5M' });
    expect(await states(name, from, 4)).toBe('AAAA');
    const before = await indexCounters();
    // Completions: no message, or one of a plain COMPLETE slot (the index notes only that there is one).
    await (await worker.acquire(name, from)).complete();
    await (await worker.acquire(name, pastSlot(3))).complete('counted');
    expect(await states(name, from, 4)).toBe('CCAA');
    const heard = await indexCounters();
    expect(heard).toEqual({ asHeard: before.asHeard + 2, readBack: before.readBack });
    // A skip's message, or a failure (attempts, next attempt): the row is read back.
    await (await worker.acquire(name, pastSlot(2))).skip('not needed');
    await (await worker.acquire(name, pastSlot(1))).fail('boom');
    expect(await states(name, from, 4)).toBe('CCSF');
    expect(await indexCounters()).toEqual({ asHeard: heard.asHeard, readBack: heard.readBack + 2 });
    const cells = gridCells(
      gridResponse.parse(
        await getJson(
          app,
          `/api/grid?names=${name}&from=${from.toISOString()}&to=${pastSlot(0).toISOString()}&columns=4`,
        ),
      ),
    );
    expect(cells.map((cell) => [cell.state, cell.message ?? null])).toEqual([
      ['COMPLETE', null],
      ['COMPLETE', 'counted'],
      ['SKIP', 'not needed'],
      ['FAILING', 'boom'],
    ]);
  });

  it('holds every field of every row as the table has it, after a load (across pages) and after re-reads', async () => {
    const [long, short] = [uniqueName('long'), uniqueName('short')];
    const interval = 300_000;
    await worker.pool.query(
      `INSERT INTO "${schema}".task_names (name, interval_ms) VALUES ($1, ${interval}), ($2, ${interval})`,
      [long, short],
    );
    // More rows than one page of a load (20,000), with every kind of row: kept messages (one longer than
    // kept, one empty), COMPLETE ones whose messages are not kept, failed attempts, next attempts.
    await worker.pool.query(
      `INSERT INTO "${schema}".tasks (name, slot, state, created_by, failed_attempts, message, next_attempt_at)
       SELECT n.name, $3::timestamptz - s * interval '5 minutes',
              (ARRAY['AVAILABLE', 'COMPLETE', 'SKIP'])[1 + s % 3], 'test', s % 5,
              CASE s % 7 WHEN 0 THEN NULL WHEN 1 THEN '' WHEN 2 THEN repeat('long ', 60) ELSE 'boom ' || s % 4 END,
              CASE WHEN s % 11 = 0 THEN $3::timestamptz + s * interval '1.5 seconds' END
       FROM (VALUES ($1, 20010), ($2, 4)) n (name, count), generate_series(0, n.count - 1) s`,
      [long, short, pastSlot(1)],
    );
    const index = new SlotIndex(tm, silentLogger);
    try {
      await expectTableIn(await index.read(), [long, short]);
      // Changes heard as rows to read again, and as a name to read whole.
      await (await worker.acquire(long, pastSlot(1))).fail('failed again');
      await (await worker.acquire(short, pastSlot(4))).complete('3 rows');
      await worker.skip({ name: long, from: pastSlot(400), to: pastSlot(100) }, { reason: 'dropped' });
      await expectTableIn(await index.read(), [long, short]);
    } finally {
      await index.close();
    }
  });

  it('counts per name follow the transitions: /api/names', async () => {
    const name = uniqueName('counts');
    await worker.createTasks({ name, from: pastSlot(4), to: pastSlot(0), interval: 'PT5M' });
    await (await worker.acquire(name, pastSlot(4))).complete();
    await (await worker.acquire(name, pastSlot(3))).fail('boom');
    const body = namesResponse.parse(await getJson(app, '/api/names'));
    expect(body.names.find((n) => n.name === name)).toMatchObject({
      counts: { AVAILABLE: 3, ACQUIRED: 0, COMPLETE: 1, SKIP: 0 },
      failing: 1,
      oldestDueSlot: pastSlot(2).toISOString(),
    });
  });
});

describe('NameSlots', () => {
  it('finds the first AVAILABLE slot as slots end, are put back, and are added before the first', () => {
    const slots = new NameSlots('n', FIVE_MIN, 0, new MessageStore());
    const at = (i: number) => 1_000 * FIVE_MIN + i * FIVE_MIN;
    expect(slots.firstAvailableMs()).toBeNaN();
    for (let i = 0; i < 10; i++) slots.set(at(i), AVAILABLE, 0, 0, null);
    expect(slots.firstAvailableMs()).toBe(at(0));
    for (let i = 0; i < 6; i++) slots.set(at(i), COMPLETE, 0, 0, null);
    expect(slots.firstAvailableMs()).toBe(at(6));
    // Re-queued: it is first again.
    slots.set(at(2), AVAILABLE, 0, 0, null);
    expect(slots.firstAvailableMs()).toBe(at(2));
    slots.set(at(2), SKIP, 0, 0, 'not needed');
    expect(slots.firstAvailableMs()).toBe(at(6));
    // Slots before the first entry, first done, then one AVAILABLE.
    slots.set(at(-300), COMPLETE, 0, 0, null);
    expect(slots.firstAvailableMs()).toBe(at(6));
    slots.set(at(-200), AVAILABLE, 1, 0, 'boom');
    expect(slots.firstAvailableMs()).toBe(at(-200));
    for (const i of [-200, 6, 7, 8, 9]) slots.set(at(i), COMPLETE, 0, 0, null);
    expect(slots.firstAvailableMs()).toBeNaN();
    slots.set(at(900), AVAILABLE, 0, 0, null);
    expect(slots.firstAvailableMs()).toBe(at(900));
  });

  it('grows at both ends and keeps the counts of what it holds', () => {
    const slots = new NameSlots('n', FIVE_MIN, 0, new MessageStore());
    const at = (i: number) => 1_000 * FIVE_MIN + i * FIVE_MIN;
    slots.set(at(0), AVAILABLE, 0, 0, null);
    slots.set(at(500), COMPLETE, 0, 0, 'done');
    slots.set(at(-300), SKIP, 0, 0, 'not needed');
    slots.set(at(1), AVAILABLE, 2, at(9), 'boom');
    expect(slots.stateAt(at(0))).toBe(AVAILABLE);
    expect(slots.stateAt(at(500))).toBe(COMPLETE + HAS_MESSAGE);
    expect(slots.stateAt(at(-300))).toBe(SKIP + HAS_MESSAGE);
    expect(slots.stateAt(at(2))).toBe(NO_ROW);
    expect(slots.stateAt(at(-10_000))).toBe(NO_ROW);
    expect([slots.attemptsAt(at(1)), slots.nextAttemptAt(at(1)), slots.messageAt(at(1))]).toEqual([
      2,
      at(9),
      'boom',
    ]);
    expect(slots.messageAt(at(-300))).toBe('not needed');
    expect([slots.firstSlotMs, slots.lastSlotMs]).toEqual([at(-300), at(500)]);
    expect([slots.rows, slots.available, slots.failing, slots.complete, slots.skip]).toEqual([4, 2, 1, 1, 1]);
    // A row read again replaces what was counted for it.
    slots.set(at(1), COMPLETE, 2, 0, null);
    expect([slots.rows, slots.available, slots.failing, slots.complete]).toEqual([4, 1, 0, 2]);
    expect(() => slots.set(at(0) + 1, AVAILABLE, 0, 0, null)).toThrow(/not on its interval/);
    // Room made ahead at both ends keeps every entry, and it grows again past its end.
    slots.reserve(at(-400), at(800));
    expect(slots.stateAt(at(-400))).toBe(NO_ROW);
    expect(slots.stateAt(at(500))).toBe(COMPLETE + HAS_MESSAGE);
    expect(slots.messageAt(at(-300))).toBe('not needed');
    slots.set(at(900), SKIP, 0, 0, null);
    expect([slots.stateAt(at(900)), slots.stateAt(at(500)), slots.rows]).toEqual([
      SKIP,
      COMPLETE + HAS_MESSAGE,
      5,
    ]);
  });
});
