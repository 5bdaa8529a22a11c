import { formatInterval } from '@dtm/core';
import { Hono } from 'hono';
import type { z } from 'zod';
import type { AppEnv } from '../auth.ts';
import type { RouteDeps } from '../deps.ts';
import { type EncodedJson, encodeJson, sendEncoded } from '../encoded-json.ts';
import { heldRowsSql, readOnly } from '../read-only.ts';
import type { namesResponse } from '../schemas.ts';
import type { VersionedSingleFlight } from '../single-flight.ts';
import { AVAILABLE, type NameSlots, STATE_MASK } from '../slot-index.ts';
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
  /** The name's slots in the index the summary was read from. */
  slots: NameSlots;
}

/**
 * Every name's summary: counts from the slot index (current as of the call), with the live holders read
 * from the database at the same time (the `holders` view: the due AVAILABLE rows whose locker is running).
 * Committed rows are never ACQUIRED (that state is only written inside the holder's open transaction): a
 * held slot counts as ACQUIRED instead of its committed AVAILABLE.
 */
export async function readNameSummaries(deps: RouteDeps): Promise<NameSummary[]> {
  const [index, held] = await Promise.all([
    deps.slots.read(),
    readOnly<{ name: string; slot: Date; failed_attempts: number }>(deps, heldRowsSql(deps.schemaSql)),
  ]);
  const heldByName = new Map<string, Set<number>>();
  for (const row of held) {
    const slots = heldByName.get(row.name) ?? new Set<number>();
    slots.add(row.slot.getTime());
    heldByName.set(row.name, slots);
  }
  const nowMs = deps.now().getTime();
  return [...index.keys()].sort().map((name) => {
    const slots = index.get(name) as NameSlots;
    // Held slots as of the holders read whose row the index has as AVAILABLE too (one may have ended in
    // between): they count as ACQUIRED instead.
    const heldSlots = new Set<number>();
    let heldFailing = 0;
    for (const slot of heldByName.get(name) ?? []) {
      if ((slots.stateAt(slot) & STATE_MASK) !== AVAILABLE) continue;
      heldSlots.add(slot);
      if (slots.attemptsAt(slot) > 0) heldFailing += 1;
    }
    const hasRows = slots.rows > 0;
    return {
      name,
      intervalMs: slots.intervalMs,
      origin: new Date(slots.originMs),
      firstSlot: hasRows ? new Date(slots.firstSlotMs) : null,
      lastSlot: hasRows ? new Date(slots.lastSlotMs) : null,
      counts: {
        AVAILABLE: slots.available - heldSlots.size,
        ACQUIRED: heldSlots.size,
        COMPLETE: slots.complete,
        SKIP: slots.skip,
      },
      failing: slots.failing - heldFailing,
      oldestDueSlot: oldestDue(slots, heldSlots, nowMs),
      slots,
    };
  });
}

/** The first AVAILABLE slot that is due at `nowMs` and not held; null when there is none. */
function oldestDue(slots: NameSlots, held: Set<number>, nowMs: number): Date | null {
  if (slots.available - held.size <= 0) return null;
  for (let slot = slots.firstAvailableMs(); slot <= slots.lastSlotMs; slot += slots.intervalMs) {
    if ((slots.stateAt(slot) & STATE_MASK) !== AVAILABLE || held.has(slot)) continue;
    if (slots.nextAttemptAt(slot) <= nowMs) return new Date(slot);
  }
  return null;
}

/** The body of `GET /api/names`. */
async function readNamesBody(deps: RouteDeps): Promise<z.output<typeof namesResponse>> {
  const summaries = await readNameSummaries(deps);
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
export function namesRoutes(deps: RouteDeps, flights: VersionedSingleFlight<EncodedJson>) {
  return new Hono<AppEnv>().get('/', async (c) => {
    const names = await flights.run('names', async () =>
      encodeJson(JSON.stringify(await readNamesBody(deps))),
    );
    return sendEncoded(c, names);
  });
}
