import { formatInterval } from '@dtm/core';
import { Hono } from 'hono';
import type { z } from 'zod';
import type { AppEnv } from '../auth.ts';
import type { RouteDeps } from '../deps.ts';
import { readOnly } from '../read-only.ts';
import type { namesResponse } from '../schemas.ts';
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
  complete: string | null;
  skip: string | null;
  available: string | null;
  acquired: string | null;
  failing: string | null;
  oldest_due: Date | null;
}

/**
 * Every name with its counts by live state. AVAILABLE rows are read through their partial index and given
 * the live overlay (held ones count as ACQUIRED, and are neither failing nor due); COMPLETE and SKIP are
 * counted per name over the primary key. Committed rows are never ACQUIRED (that state is only ever
 * written inside the holder's open transaction).
 */
export async function readNameSummaries(deps: RouteDeps): Promise<NameSummary[]> {
  const s = deps.schemaSql;
  const rows = await readOnly<SummaryRow>(
    deps,
    `WITH held AS MATERIALIZED (
         SELECT lock_key FROM ${s}.holders
       ), available AS (
         SELECT t.name,
                count(*) FILTER (WHERE h.lock_key IS NULL) AS available,
                count(*) FILTER (WHERE h.lock_key IS NOT NULL) AS acquired,
                count(*) FILTER (WHERE h.lock_key IS NULL AND t.failed_attempts > 0) AS failing,
                min(t.slot) FILTER (WHERE h.lock_key IS NULL
                                      AND (t.next_attempt_at IS NULL OR t.next_attempt_at <= now())) AS oldest_due
         FROM ${s}.tasks t
         LEFT JOIN held h ON h.lock_key = ${s}.slot_lock_key(t.name, t.slot)
         WHERE t.state = 'AVAILABLE'
         GROUP BY t.name
       ), totals AS (
         SELECT name,
                min(slot) AS first_slot,
                max(slot) AS last_slot,
                count(*) FILTER (WHERE state = 'COMPLETE') AS complete,
                count(*) FILTER (WHERE state = 'SKIP') AS skip
         FROM ${s}.tasks
         GROUP BY name
       )
       SELECT n.name, n.interval_ms, n.origin, t.first_slot, t.last_slot, t.complete, t.skip,
              a.available, a.acquired, a.failing, a.oldest_due
       FROM ${s}.task_names n
       LEFT JOIN totals t ON t.name = n.name
       LEFT JOIN available a ON a.name = n.name
       ORDER BY n.name`,
  );
  return rows.map((row) => ({
    name: row.name,
    intervalMs: Number(row.interval_ms),
    origin: row.origin,
    firstSlot: row.first_slot,
    lastSlot: row.last_slot,
    counts: {
      AVAILABLE: Number(row.available ?? 0),
      ACQUIRED: Number(row.acquired ?? 0),
      COMPLETE: Number(row.complete ?? 0),
      SKIP: Number(row.skip ?? 0),
    },
    failing: Number(row.failing ?? 0),
    oldestDueSlot: row.oldest_due,
  }));
}

/** `GET /api/names`. */
export function namesRoutes(deps: RouteDeps) {
  return new Hono<AppEnv>().get('/', async (c) => {
    const summaries = await readNameSummaries(deps);
    const body: z.output<typeof namesResponse> = {
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
    return c.json(body);
  });
}
