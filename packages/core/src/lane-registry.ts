import pg from 'pg';
import type { Schema } from './schema.ts';

/** A lane's slot, as the `lanes` table records it (sql/000005.sql). */
export interface Registration {
  lane: number;
  name: string;
  slot: Date;
  worker: string;
  since: Date;
  /** The holding transaction's id (xid8, as text). */
  xid: string;
}

/** How long a worker's lane holds a slot before registering it: most slots end first, and write nothing. */
export const REGISTER_AFTER_MS = 200;

/**
 * Where live holders are found (the `holders` view) and who held a slot whose holder went away: each lane's
 * latest slot, written off the slot's path on a connection of the pool. Registrations made while one is being
 * written are written together next, one statement for all, so at most one connection is ever busy with it,
 * however many lanes hold slots, and none is waited for when the pool has none to spare but in that one
 * pending write. A lane's row is overwritten by its next registration; rows older than ten minutes whose
 * transaction has ended are deleted on the way.
 */
export class LaneRegistry {
  readonly #pool: pg.Pool;
  #pending = new Map<number, Registration>();
  /** Writes the registrations given as columns, and deletes the rows forgotten. */
  readonly #statement: string;
  #writing: Promise<void> | null = null;

  constructor(pool: pg.Pool, schema: Schema) {
    this.#pool = pool;
    const s = schema.sql;
    this.#statement = `WITH forgotten AS (
         DELETE FROM ${s}.lanes
         WHERE registered_at < clock_timestamp() - interval '10 minutes'
           AND xid NOT IN (SELECT xid FROM ${s}.holding_sessions)
       )
       INSERT INTO ${s}.lanes (lane, name, slot, worker, since, xid)
       SELECT lane, name, slot, worker, since, xid::xid
       FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::text[], $5::timestamptz[], $6::xid8[])
         AS r (lane, name, slot, worker, since, xid)
       ON CONFLICT (lane) DO UPDATE
         SET name = excluded.name, slot = excluded.slot, worker = excluded.worker, since = excluded.since,
             xid = excluded.xid, registered_at = clock_timestamp()`;
  }

  /**
   * Registers `registration`; resolves once it is written. If the pool has no connection to spare, a
   * worker's registration (`isNow` false) waits for one (the holder shows only then), and one that must show
   * now (`acquire()`, whose pool may be the one connection it holds) is written on a connection of its own.
   * It is only ever read as a pointer (see sql/000005.sql), so a failure is not an error: the holder just does
   * not show until its lane's next registration.
   */
  register(registration: Registration, isNow = false): Promise<void> {
    const pool = this.#pool;
    const hasRoom = pool.idleCount > 0 || pool.totalCount < (pool.options.max ?? 10);
    if (isNow && !hasRoom) return this.#writeAlone(registration);
    this.#pending.set(registration.lane, registration);
    return this.#write();
  }

  async #writeAlone(registration: Registration): Promise<void> {
    const client = new pg.Client(this.#pool.options);
    try {
      await client.connect();
      await client.query(this.#statement, columns([registration]));
    } catch {
      // see register
    } finally {
      await client.end().catch(() => {});
    }
  }

  async #write(): Promise<void> {
    while (this.#writing) await this.#writing;
    if (this.#pending.size === 0) return;
    const rows = [...this.#pending.values()];
    this.#pending = new Map();
    this.#writing = this.#pool
      .query(this.#statement, columns(rows))
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => {
        this.#writing = null;
      });
    await this.#writing;
  }
}

/** Registrations as the statement's array parameters. */
function columns(rows: Registration[]): unknown[] {
  return [
    rows.map((row) => row.lane),
    rows.map((row) => row.name),
    rows.map((row) => row.slot),
    rows.map((row) => row.worker),
    rows.map((row) => row.since),
    rows.map((row) => row.xid),
  ];
}
