import type { BackfillResult, RequeueResult, SkipResult } from '../api/actions.ts';

/** A preview or a result, in words. */
export interface ActionSummary {
  /** How many slots change (or would). */
  changes: number;
  /** Sentences for the user. */
  text: string;
  /** For a single slot: its outcome word (`requeued`, `busy`, `unchanged`, …); null for many. */
  outcome: string | null;
}

function plural(n: number, word: string): string {
  return `${n.toLocaleString('en')} ${word}${n === 1 ? '' : 's'}`;
}

function singleOutcome(outcomes: Array<{ outcome: string }>): string | null {
  return outcomes.length === 1 ? (outcomes[0]?.outcome ?? null) : null;
}

/** Sums re-queue results (one per name) and says what happens (`isDryRun`) or happened. */
export function summarizeRequeue(results: readonly RequeueResult[], isDryRun: boolean): ActionSummary {
  const c = { requeued: 0, busy: 0, notFound: 0, unchanged: 0 };
  for (const r of results) {
    c.requeued += r.counts.requeued;
    c.busy += r.counts.busy;
    c.notFound += r.counts.notFound;
    c.unchanged += r.counts.unchanged;
  }
  const parts = [
    isDryRun
      ? c.requeued > 0
        ? `${plural(c.requeued, 'slot')} will be re-queued: COMPLETE and SKIP become AVAILABLE, failing ones become due now, and the next free worker processes them again.`
        : 'Nothing would be re-queued.'
      : `Re-queued ${plural(c.requeued, 'slot')}.`,
  ];
  if (c.busy > 0)
    parts.push(`${plural(c.busy, 'slot')} busy: a worker holds it right now, so it is not touched.`);
  if (c.unchanged > 0) parts.push(`${plural(c.unchanged, 'slot')} unchanged (already pending).`);
  if (c.notFound > 0) parts.push(`${plural(c.notFound, 'slot')} not found (a gap: use backfill).`);
  return {
    changes: c.requeued,
    text: parts.join(' '),
    outcome: singleOutcome(results.flatMap((r) => r.outcomes)),
  };
}

/** Sums skip results and says what happens (`isDryRun`) or happened. */
export function summarizeSkip(results: readonly SkipResult[], isDryRun: boolean): ActionSummary {
  const c = { skipped: 0, busy: 0, unchanged: 0 };
  for (const r of results) {
    c.skipped += r.counts.skipped;
    c.busy += r.counts.busy;
    c.unchanged += r.counts.unchanged;
  }
  const parts = [
    isDryRun
      ? c.skipped > 0
        ? `${plural(c.skipped, 'slot')} will be marked SKIP (gaps are created as SKIP) with your reason, and no worker will process them.`
        : 'Nothing would be skipped.'
      : `Skipped ${plural(c.skipped, 'slot')}.`,
  ];
  if (c.busy > 0)
    parts.push(`${plural(c.busy, 'slot')} busy: a worker holds it right now, so it is not touched.`);
  if (c.unchanged > 0) parts.push(`${plural(c.unchanged, 'slot')} unchanged (complete or already skipped).`);
  return {
    changes: c.skipped,
    text: parts.join(' '),
    outcome: singleOutcome(results.flatMap((r) => r.outcomes)),
  };
}

/** Sums backfill results and says what happens (`isDryRun`) or happened. */
export function summarizeBackfill(results: readonly BackfillResult[], isDryRun: boolean): ActionSummary {
  const created = results.reduce((sum, r) => sum + r.created, 0);
  const text = isDryRun
    ? created > 0
      ? `${plural(created, 'missing slot')} will be created as AVAILABLE, and workers will process them.`
      : 'No slot is missing here: nothing would be created.'
    : `Created ${plural(created, 'slot')}.`;
  return { changes: created, text, outcome: isDryRun ? null : created > 0 ? 'created' : 'unchanged' };
}
