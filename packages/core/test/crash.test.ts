import { describe, expect, it } from 'vitest';
import { TaskNotAvailableError } from '../src/index.ts';
import { createManager, databaseUrl, pastSlot, uniqueName, waitFor } from './helpers.ts';
import { exited, printed, startFixture } from './processes.ts';

const tm = await createManager();
await tm.pool.query(`CREATE TABLE "${tm.schema}".results (name text, slot timestamptz, worker text)`);

describe('a worker killed mid-work', () => {
  it('releases its slot at once (no longer ACQUIRED, nothing it wrote survives) and its attempt is counted as abandoned, with backoff', async () => {
    const name = uniqueName();
    const slot = pastSlot();
    await tm.createTask({ name, slot, interval: 'PT5M' });
    const child = startFixture('hold-slot', [databaseUrl, tm.schema, name, slot.toISOString()]);
    const done = exited(child);
    await printed(child, 'HELD');
    const held = await tm.getTask(name, slot);
    expect(held?.state).toBe('ACQUIRED');
    expect(held?.holder?.worker).toBe(`doomed-${child.pid}`);
    await expect(tm.acquire(name, slot)).rejects.toThrow(/another worker holds it/);

    child.kill('SIGKILL');
    await done;
    const killedAt = Date.now();
    await waitFor(
      'the slot to stop reading ACQUIRED',
      async () => (await tm.getTask(name, slot))?.state === 'AVAILABLE',
    );
    const releasedMs = Date.now() - killedAt;
    // The next taker finds the dead holder's reservation and counts it: a failed attempt, backing off (1 s).
    await waitFor('the abandoned attempt to be counted', async () => {
      const outcome = await tm.acquire(name, slot).then(
        async (task) => {
          await task.release();
          return 'acquired';
        },
        (error: unknown) => error,
      );
      if (outcome === 'acquired') throw new Error('acquired a slot that should be backing off');
      return outcome instanceof TaskNotAvailableError;
    });
    const counted = await tm.getTask(name, slot);
    expect(counted).toMatchObject({ state: 'AVAILABLE', holder: null, failedAttempts: 1 });
    expect(counted?.message).toMatch(/the holder went away/);
    expect(counted?.message).toContain(`doomed-${child.pid}`);
    // and once its backoff is over, it is taken again
    const task = await waitFor('the backoff to end', () => tm.acquire(name, slot).catch(() => null));
    await task.release();
    const { rows } = await tm.pool.query(`SELECT * FROM "${tm.schema}".results WHERE name = $1`, [name]);
    expect(rows).toEqual([]);
    console.log(`slot no longer held ${releasedMs} ms after the holder's exit`);
  });
});
