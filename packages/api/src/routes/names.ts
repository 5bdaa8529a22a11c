import { formatInterval } from '@dtm/core';
import { Hono } from 'hono';
import type { z } from 'zod';
import type { AppEnv } from '../auth.ts';
import type { RouteDeps } from '../deps.ts';
import { type EncodedJson, encodeJson, sendEncoded } from '../encoded-json.ts';
import { heldRowsSql, readOnly } from '../read-only.ts';
import type { namesResponse } from '../schemas.ts';
import type { VersionedSingleFlight } from '../single-flight.ts';
import { isoOrNull } from '../wire.ts';

/** One name's summary, as `/api/names` and `/metrics` read it. */
export interface NameSummary {
  name: string;
  intervalMs: number;
  origin: Date;
  firstSlot: Date | null;
  lastSlot: Date | null;
  counts: { AVAILABLE: number; ACQUIRED: number; COMPLETE: number; SKIP: number };
  failing: number;
  oldestDueSlot: Date | null;
}

interface SummaryRow {
  name: string;
  interval_ms: string;
  origin: Date;
  first_slot: Date | null;
  last_slot: Date | null;
  available_all: string;
  skip: string;
  failing_all: string;
  acquired: string;
  held_failing: string;
  oldest_due: Date | null;
}

/**
 * Every name's summary except its row total, each figure read from a small index: first and last slot from
 * the primary key, AVAILABLE, SKIP and failing counts from their partial indexes (sql/000001.sql and
 * 000002.sql), the oldest due slot as the first of `tasks_available_idx` that is due and not held, and the
 * live overlay from the core's `holders` view (the due AVAILABLE rows, read once). Committed rows are never
 * ACQUIRED (that state is only written inside the holder's open transaction), so COMPLETE is the total minus
 * the others.
 */
export function namesSql(s: string): string {
  return `WITH held AS MATERIALIZED (
       ${heldRowsSql(s)}
     ), held_counts AS (
       SELECT name, count(*) AS acquired, count(*) FILTER (WHERE failed_attempts > 0) AS held_failing
       FROM held GROUP BY name
     )
     SELECT n.name, n.interval_ms, n.origin,
            (SELECT min(t.slot) FROM ${s}.tasks t WHERE t.name = n.name) AS first_slot,
            (SELECT max(t.slot) FROM ${s}.tasks t WHERE t.name = n.name) AS last_slot,
            (SELECT count(*) FROM ${s}.tasks t WHERE t.name = n.name AND t.state = 'AVAILABLE') AS available_all,
            (SELECT count(*) FROM ${s}.tasks t WHERE t.name = n.name AND t.state = 'SKIP') AS skip,
            (SELECT count(*) FROM ${s}.tasks t
             WHERE t.name = n.name AND t.failed_attempts > 0 AND t.state = 'AVAILABLE') AS failing_all,
            coalesce(hc.acquired, 0) AS acquired,
            coalesce(hc.held_failing, 0) AS held_failing,
            (SELECT t.slot FROM ${s}.tasks t
             WHERE t.name = n.name AND t.state = 'AVAILABLE'
               AND (t.next_attempt_at IS NULL OR t.next_attempt_at <= now())
               AND NOT EXISTS (SELECT 1 FROM held h WHERE h.name = t.name AND h.slot = t.slot)
             ORDER BY t.slot
             LIMIT 1) AS oldest_due
     FROM ${s}.task_names n
     LEFT JOIN held_counts hc ON hc.name = n.name
     ORDER BY n.name`;
}

/** Rows per name: the one figure that needs every row (an index-only count of the primary key). */
export function nameTotalsSql(s: string): string {
  return `SELECT name, count(*) AS total FROM ${s}.tasks GROUP BY name`;
}

/**
 * Row totals per name, shared by concurrent requests and kept for `limits.namesTotalsTtlMs`: counting a
 * million rows takes a few hundred milliseconds, every other figure of the summary is read live.
 */
export class NameTotals {
  #value: Promise<Map<string, number>> | null = null;
  #readAt = 0;

  async read(deps: RouteDeps): Promise<Map<string, number>> {
    const ttl = deps.limits.namesTotalsTtlMs;
    if (this.#value === null || ttl === 0 || Date.now() - this.#readAt > ttl) {
      this.#readAt = Date.now();
      const reading = readOnly<{ name: string; total: string }>(deps, nameTotalsSql(deps.schemaSql)).then(
        (rows) => new Map(rows.map((row) => [row.name, Number(row.total)])),
      );
      this.#value = reading;
      reading.catch(() => {
        if (this.#value === reading) this.#value = null;
      });
    }
    return this.#value;
  }
}

/** Every name with its counts by live state (see `namesSql`). */
export async function readNameSummaries(deps: RouteDeps, totals: NameTotals): Promise<NameSummary[]> {
  const [rows, totalByName] = await Promise.all([
    readOnly<SummaryRow>(deps, namesSql(deps.schemaSql)),
    totals.read(deps),
  ]);
  return rows.map((row) => {
    const acquired = Number(row.acquired);
    const availableAll = Number(row.available_all);
    const skip = Number(row.skip);
    const total = totalByName.get(row.name) ?? availableAll + skip;
    return {
      name: row.name,
      intervalMs: Number(row.interval_ms),
      origin: row.origin,
      firstSlot: row.first_slot,
      lastSlot: row.last_slot,
      counts: {
        AVAILABLE: Math.max(0, availableAll - acquired),
        ACQUIRED: acquired,
        // The total may be up to namesTotalsTtlMs old; never show a negative count for it.
        COMPLETE: Math.max(0, total - availableAll - skip),
        SKIP: skip,
      },
      failing: Math.max(0, Number(row.failing_all) - Number(row.held_failing)),
      oldestDueSlot: row.oldest_due,
    };
  });
}

/** The body of `GET /api/names`. */
async function readNamesBody(deps: RouteDeps, totals: NameTotals): Promise<z.output<typeof namesResponse>> {
  const summaries = await readNameSummaries(deps, totals);
  return {
    names: summaries.map((s) => ({
      name: s.name,
      interval: formatInterval(s.intervalMs),
      intervalMs: s.intervalMs,
      firstSlot: isoOrNull(s.firstSlot),
      lastSlot: isoOrNull(s.lastSlot),
      counts: s.counts,
      failing: s.failing,
      oldestDueSlot: isoOrNull(s.oldestDueSlot),
    })),
  };
}

/**
 * `GET /api/names`. Requests share computations through `flights` as grid requests do (see `gridRoutes`):
 * concurrent ones share one, one within `namesCacheMs` reuses the last, never one that started before a
 * change the event stream announced.
 */
export function namesRoutes(
  deps: RouteDeps,
  totals: NameTotals,
  flights: VersionedSingleFlight<EncodedJson>,
) {
  return new Hono<AppEnv>().get('/', async (c) => {
    const names = await flights.run('names', async () =>
      encodeJson(JSON.stringify(await readNamesBody(deps, totals))),
    );
    return sendEncoded(c, names);
  });
}
