import { apiFetch } from './client.ts';

/** The slots an action applies to: a list, or the half-open range `[from, to)`. */
export type SlotTarget = { name: string; slots: Date[] } | { name: string; from: Date; to: Date };

/** Per-slot outcome of a re-queue. */
export type RequeueOutcome = 'requeued' | 'busy' | 'not_found' | 'unchanged';
/** Per-slot outcome of a skip. */
export type SkipOutcome = 'skipped' | 'busy' | 'unchanged';

/** What a re-queue did (or, dry, would do). */
export interface RequeueResult {
  outcomes: Array<{ slot: Date; outcome: RequeueOutcome }>;
  counts: { requeued: number; busy: number; notFound: number; unchanged: number };
}

/** What a skip did (or, dry, would do). */
export interface SkipResult {
  outcomes: Array<{ slot: Date; outcome: SkipOutcome }>;
  counts: { skipped: number; busy: number; unchanged: number };
}

/** What a backfill created (or, dry, would create). */
export interface BackfillResult {
  created: number;
  slots: Date[];
}

function targetBody(target: SlotTarget): Record<string, unknown> {
  return 'slots' in target
    ? { name: target.name, slots: target.slots.map((slot) => slot.toISOString()) }
    : { name: target.name, from: target.from.toISOString(), to: target.to.toISOString() };
}

interface WireOutcomes<O extends string, C> {
  outcomes: Array<{ slot: string; outcome: O }>;
  counts: C;
}

/** Options of the write calls. */
export interface WriteOptions {
  /** Bearer token. */
  token: string | null;
  /** Preview only: nothing changes. Default false. */
  dryRun?: boolean;
}

/** `POST /api/requeue`: COMPLETE/SKIP become AVAILABLE, failing ones become due now; held slots are never touched. */
export async function requeue(
  target: SlotTarget,
  reason: string,
  options: WriteOptions,
): Promise<RequeueResult> {
  const wire = await apiFetch<WireOutcomes<RequeueOutcome, RequeueResult['counts']>>('/api/requeue', {
    token: options.token,
    body: { ...targetBody(target), reason, dryRun: options.dryRun ?? false },
  });
  return { outcomes: wire.outcomes.map((o) => ({ ...o, slot: new Date(o.slot) })), counts: wire.counts };
}

/** `POST /api/skip`: AVAILABLE (failing included) and MISSING slots become SKIP; COMPLETE only with `includeComplete`. */
export async function skip(
  target: SlotTarget,
  reason: string,
  options: WriteOptions & { includeComplete?: boolean },
): Promise<SkipResult> {
  const wire = await apiFetch<WireOutcomes<SkipOutcome, SkipResult['counts']>>('/api/skip', {
    token: options.token,
    body: {
      ...targetBody(target),
      reason,
      dryRun: options.dryRun ?? false,
      ...(options.includeComplete ? { includeComplete: true } : {}),
    },
  });
  return { outcomes: wire.outcomes.map((o) => ({ ...o, slot: new Date(o.slot) })), counts: wire.counts };
}

/** `POST /api/backfill`: creates the missing slots of `[from, to)` as AVAILABLE. Idempotent. */
export async function backfill(
  target: { name: string; from: Date; to: Date },
  options: WriteOptions,
): Promise<BackfillResult> {
  const wire = await apiFetch<{ created: number; slots: string[] }>('/api/backfill', {
    token: options.token,
    body: { ...targetBody(target), dryRun: options.dryRun ?? false },
  });
  return { created: wire.created, slots: wire.slots.map((slot) => new Date(slot)) };
}
