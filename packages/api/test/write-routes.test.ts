import { describe, expect, it } from 'vitest';
import { backfillResponse, requeueResponse, skipResponse } from '../src/schemas.ts';
import { createTestApp, pastSlot, post, uniqueName } from './helpers.ts';

const FIVE_MIN = 300_000;
const { app, worker } = await createTestApp({ limits: { maxSlotsPerRequest: 50 } });

/** Four slots: COMPLETE, SKIP, failing (backing off), pending; and the slot after them is a gap. */
async function fourSlots() {
  const name = uniqueName();
  const from = pastSlot(10);
  await worker.createTasks({ name, from, to: new Date(from.getTime() + 4 * FIVE_MIN), interval: 'PT5M' });
  const [done, skipped, failing, pending] = Array.from(
    { length: 4 },
    (_, i) => new Date(from.getTime() + i * FIVE_MIN),
  ) as [Date, Date, Date, Date];
  await (await worker.acquire(name, done)).complete('42 rows');
  await (await worker.acquire(name, skipped)).skip('no data');
  await (await worker.acquire(name, failing)).fail('source unreachable');
  const gap = new Date(from.getTime() + 4 * FIVE_MIN);
  return { name, from, done, skipped, failing, pending, gap };
}

const iso = (date: Date) => date.toISOString();

describe('POST /api/requeue', () => {
  it('re-queues COMPLETE, SKIP and backing-off slots, reports per-slot outcomes, and records the actor', async () => {
    const s = await fourSlots();
    const response = await post(app, '/api/requeue', {
      name: s.name,
      slots: [s.done, s.skipped, s.failing, s.pending, s.gap].map(iso),
      reason: 'late data arrived',
    });
    expect(response.status).toBe(200);
    const body = requeueResponse.parse(await response.json());
    expect(body.outcomes.map((o) => o.outcome)).toEqual([
      'requeued',
      'requeued',
      'requeued',
      'unchanged',
      'not_found',
    ]);
    expect(body.counts).toEqual({ requeued: 3, busy: 0, notFound: 1, unchanged: 1 });
    const history = await worker.history(s.name, s.done);
    expect(history.at(-1)).toMatchObject({
      fromState: 'COMPLETE',
      toState: 'AVAILABLE',
      actor: 'tests@local',
      message: 'late data arrived',
    });
  });

  it('takes a range, and dryRun reports without changing anything', async () => {
    const s = await fourSlots();
    const range = { name: s.name, from: iso(s.from), to: iso(s.gap), reason: 'rerun the hour' };
    const preview = requeueResponse.parse(
      await (await post(app, '/api/requeue', { ...range, dryRun: true })).json(),
    );
    expect(preview.counts).toEqual({ requeued: 3, busy: 0, notFound: 0, unchanged: 1 });
    expect((await worker.getTask(s.name, s.done))?.state).toBe('COMPLETE');
    const real = requeueResponse.parse(await (await post(app, '/api/requeue', range)).json());
    expect(real).toEqual(preview);
    expect((await worker.getTask(s.name, s.done))?.state).toBe('AVAILABLE');
  });

  it('answers 404 when none of the slots exist, and for an unknown name', async () => {
    const s = await fourSlots();
    const none = await post(app, '/api/requeue', { name: s.name, slots: [iso(s.gap)], reason: 'x' });
    expect(none.status).toBe(404);
    expect(await none.json()).toMatchObject({ error: { code: 'NOT_FOUND' }, counts: { notFound: 1 } });
    const unknown = await post(app, '/api/requeue', {
      name: 'no-such-name',
      slots: [iso(s.gap)],
      reason: 'x',
    });
    expect(unknown.status).toBe(404);
    const unknownRange = await post(app, '/api/requeue', {
      name: 'no-such-name',
      from: iso(s.from),
      to: iso(s.gap),
      reason: 'x',
    });
    expect(unknownRange.status).toBe(404);
  });

  it('answers 200 when everything asked for is already AVAILABLE (nothing busy)', async () => {
    const s = await fourSlots();
    const response = await post(app, '/api/requeue', { name: s.name, slots: [iso(s.pending)], reason: 'x' });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ counts: { unchanged: 1 } });
  });

  it('refuses more slots than the per-request cap, listed or as a range, before touching anything', async () => {
    const s = await fourSlots();
    const many = Array.from({ length: 51 }, (_, i) => iso(new Date(s.from.getTime() - i * FIVE_MIN)));
    const listed = await post(app, '/api/requeue', { name: s.name, slots: many, reason: 'x' });
    expect(listed.status).toBe(400);
    const range = await post(app, '/api/requeue', {
      name: s.name,
      from: iso(new Date(s.from.getTime() - 51 * FIVE_MIN)),
      to: iso(s.from),
      reason: 'x',
    });
    expect(range.status).toBe(400);
    expect(await range.json()).toMatchObject({
      error: { code: 'BAD_INPUT', message: expect.stringMatching(/51 slots/) },
    });
  });
});

describe('POST /api/skip', () => {
  it('skips AVAILABLE (failing included) and MISSING slots, leaves COMPLETE unless includeComplete', async () => {
    const s = await fourSlots();
    const response = await post(app, '/api/skip', {
      name: s.name,
      from: iso(s.from),
      to: iso(new Date(s.gap.getTime() + FIVE_MIN)),
      reason: 'source down for maintenance',
    });
    expect(response.status).toBe(200);
    const body = skipResponse.parse(await response.json());
    expect(body.outcomes.map((o) => o.outcome)).toEqual([
      'unchanged',
      'unchanged',
      'skipped',
      'skipped',
      'skipped',
    ]);
    expect(body.counts).toEqual({ skipped: 3, busy: 0, unchanged: 2 });
    expect(await worker.getTask(s.name, s.gap)).toMatchObject({
      state: 'SKIP',
      message: 'source down for maintenance',
    });
    expect((await worker.history(s.name, s.failing)).at(-1)).toMatchObject({
      toState: 'SKIP',
      actor: 'tests@local',
    });

    const withComplete = skipResponse.parse(
      await (
        await post(app, '/api/skip', {
          name: s.name,
          slots: [iso(s.done)],
          reason: 'bad run',
          includeComplete: true,
        })
      ).json(),
    );
    expect(withComplete.counts.skipped).toBe(1);
  });

  it('dryRun changes nothing; un-skip is a re-queue', async () => {
    const s = await fourSlots();
    const preview = await post(app, '/api/skip', {
      name: s.name,
      slots: [iso(s.pending)],
      reason: 'x',
      dryRun: true,
    });
    expect(skipResponse.parse(await preview.json()).counts.skipped).toBe(1);
    expect((await worker.getTask(s.name, s.pending))?.state).toBe('AVAILABLE');
    const unskip = await post(app, '/api/requeue', {
      name: s.name,
      slots: [iso(s.skipped)],
      reason: 'process it',
    });
    expect(requeueResponse.parse(await unskip.json()).counts.requeued).toBe(1);
    expect((await worker.getTask(s.name, s.skipped))?.state).toBe('AVAILABLE');
  });
});

describe('POST /api/backfill', () => {
  it('creates the missing slots of a range as AVAILABLE, idempotently, and dryRun only reports them', async () => {
    const s = await fourSlots();
    const range = {
      name: s.name,
      from: iso(new Date(s.from.getTime() - 2 * FIVE_MIN)),
      to: iso(new Date(s.gap.getTime() + FIVE_MIN)),
    };
    const preview = backfillResponse.parse(
      await (await post(app, '/api/backfill', { ...range, dryRun: true })).json(),
    );
    expect(preview.created).toBe(3);
    expect(await worker.getTask(s.name, s.gap)).toBeNull();
    const first = backfillResponse.parse(await (await post(app, '/api/backfill', range)).json());
    expect(first).toEqual(preview);
    expect(first.slots).toContain(iso(s.gap));
    expect(await worker.getTask(s.name, s.gap)).toMatchObject({
      state: 'AVAILABLE',
      createdBy: 'tests@local',
    });
    const again = backfillResponse.parse(await (await post(app, '/api/backfill', range)).json());
    expect(again).toEqual({ created: 0, slots: [] });
  });

  it('answers 404 for an unknown name and 400 for an inverted range', async () => {
    const s = await fourSlots();
    expect(
      (await post(app, '/api/backfill', { name: 'nope', from: iso(s.from), to: iso(s.gap) })).status,
    ).toBe(404);
    expect(
      (await post(app, '/api/backfill', { name: s.name, from: iso(s.gap), to: iso(s.from) })).status,
    ).toBe(400);
  });
});
