import type { HistoryEntry, Holder, OperationResult, RequeueOutcome, SkipOutcome, Task } from '@dtm/core';
import type { z } from 'zod';
import type {
  historyEntrySchema,
  holderSchema,
  requeueResponse,
  skipResponse,
  taskSchema,
} from './schemas.ts';

// Domain objects of the core (Dates) to the wire types of docs/http-api.md (ISO strings).

export type WireTask = z.output<typeof taskSchema>;
export type WireHolder = z.output<typeof holderSchema>;

export function isoOrNull(date: Date | null): string | null {
  return date === null ? null : date.toISOString();
}

export function toWireHolder(holder: Holder | null): WireHolder | null {
  return holder === null ? null : { worker: holder.worker, since: isoOrNull(holder.since) };
}

export function toWireTask(task: Task): WireTask {
  return {
    name: task.name,
    slot: task.slot.toISOString(),
    interval: task.interval,
    intervalMs: task.intervalMs,
    state: task.state,
    createdBy: task.createdBy,
    createdAt: task.createdAt.toISOString(),
    acquiredBy: task.acquiredBy,
    acquiredAt: isoOrNull(task.acquiredAt),
    completedAt: isoOrNull(task.completedAt),
    failedAttempts: task.failedAttempts,
    message: task.message,
    nextAttemptAt: isoOrNull(task.nextAttemptAt),
    hasGivenUp: task.hasGivenUp,
    holder: toWireHolder(task.holder),
  };
}

export function toWireHistory(entry: HistoryEntry): z.output<typeof historyEntrySchema> {
  return {
    id: entry.id,
    fromState: entry.fromState,
    toState: entry.toState,
    actor: entry.actor,
    message: entry.message,
    at: entry.at.toISOString(),
  };
}

export function toWireRequeue(result: OperationResult<RequeueOutcome>): z.output<typeof requeueResponse> {
  return {
    outcomes: result.outcomes.map((o) => ({ slot: o.slot.toISOString(), outcome: o.outcome })),
    counts: {
      requeued: result.counts.requeued,
      busy: result.counts.busy,
      notFound: result.counts.not_found,
      unchanged: result.counts.unchanged,
    },
  };
}

export function toWireSkip(result: OperationResult<SkipOutcome>): z.output<typeof skipResponse> {
  return {
    outcomes: result.outcomes.map((o) => ({ slot: o.slot.toISOString(), outcome: o.outcome })),
    counts: { skipped: result.counts.skipped, busy: result.counts.busy, unchanged: result.counts.unchanged },
  };
}
