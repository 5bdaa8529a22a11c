import { TaskManager } from '@dtm/core';
import { E2E_INTERVAL, HOUR, type StackEnv } from './stack-env.ts';

/** The current hour's start: e2e slots are counted back from it. */
export function currentHour(now = Date.now()): number {
  return Math.floor(now / HOUR) * HOUR;
}

/** The hourly slot `hoursAgo` before the current one. */
export function hoursAgo(hours: number, now = Date.now()): Date {
  return new Date(currentHour(now) - hours * HOUR);
}

/**
 * What a test does to the database beside the browser: create slots (the workers then process them), hold a
 * slot's work back, make it fail, read states. Reads go through the core; nothing here takes a row lock.
 */
export class Harness {
  readonly tm: TaskManager;
  readonly #schema: string;

  constructor(stack: StackEnv) {
    this.tm = new TaskManager({
      connectionString: stack.databaseUrl,
      schema: stack.schema,
      workerName: 'e2e-test',
    });
    this.#schema = stack.schema;
  }

  /** Creates the slots (AVAILABLE); the fleet's workers pick them up at once. */
  async create(name: string, slots: readonly Date[]): Promise<void> {
    for (const slot of slots) {
      await this.tm.createTasks({
        name,
        from: slot,
        to: new Date(slot.getTime() + HOUR),
        interval: E2E_INTERVAL,
      });
    }
  }

  /** While held, a worker that takes the slot keeps running it (it shows as running with its holder). */
  async hold(name: string, slot: Date): Promise<void> {
    await this.tm.pool.query(
      `INSERT INTO "${this.#schema}".e2e_holds (name, slot) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
      [name, slot],
    );
  }

  async letGo(name: string, slot: Date): Promise<void> {
    await this.tm.pool.query(`DELETE FROM "${this.#schema}".e2e_holds WHERE name = $1 AND slot = $2`, [
      name,
      slot,
    ]);
  }

  /** The slot's work will throw `message` (and, with the e2e retry policy, wait an hour before trying again). */
  async failWith(name: string, slot: Date, message: string): Promise<void> {
    await this.tm.pool.query(
      `INSERT INTO "${this.#schema}".e2e_fails (name, slot, message) VALUES ($1, $2, $3)
       ON CONFLICT (name, slot) DO UPDATE SET message = EXCLUDED.message`,
      [name, slot, message],
    );
  }

  /** The slot's work succeeds again (it no longer throws what `failWith` set). */
  async stopFailing(name: string, slot: Date): Promise<void> {
    await this.tm.pool.query(`DELETE FROM "${this.#schema}".e2e_fails WHERE name = $1 AND slot = $2`, [
      name,
      slot,
    ]);
  }

  /** The live state as the core reads it, with FAILING for a failed AVAILABLE slot. */
  async stateOf(name: string, slot: Date): Promise<string> {
    const task = await this.tm.getTask(name, slot);
    if (!task) return 'MISSING';
    return task.state === 'AVAILABLE' && task.failedAttempts > 0 ? 'FAILING' : task.state;
  }

  async holderOf(name: string, slot: Date): Promise<string | null> {
    return (await this.tm.getTask(name, slot))?.holder?.worker ?? null;
  }

  /** How many results the work wrote for the slot (each run writes one, in its own transaction). */
  async resultCount(name: string, slot: Date): Promise<number> {
    const { rows } = await this.tm.pool.query<{ count: string }>(
      `SELECT count(*) FROM "${this.#schema}".e2e_results WHERE name = $1 AND slot = $2`,
      [name, slot],
    );
    return Number(rows[0]?.count ?? 0);
  }

  close(): Promise<void> {
    return this.tm.close();
  }
}
