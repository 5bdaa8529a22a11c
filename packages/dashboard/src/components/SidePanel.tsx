import { attemptsText } from '@dtm/core/model';
import { type ReactNode, useRef, useState } from 'react';
import { ApiError } from '../api/client.ts';
import type { GridCell } from '../api/grid.ts';
import type { TaskDetail } from '../api/tasks.ts';
import { useFocusTrap } from '../hooks/use-focus-trap.ts';
import { describeCounts, formatAgo } from '../lib/describe-cell.ts';
import { formatDuration, formatInstant, formatRange, type TimeZoneChoice } from '../lib/time.ts';
import { ErrorMessage } from './ErrorMessage.tsx';
import { StateSwatch } from './StateSwatch.tsx';

/** What the panel is about: one slot, or a bucket of slots (one grid cell). */
export interface PanelTarget {
  name: string;
  start: Date;
  end: Date;
  /** 1 for a single slot. */
  slotsPerCell: number;
  /** The grid cell, when the slot is on screen. */
  cell: GridCell | null;
}

/** Props of {@link SidePanel}. */
export interface SidePanelProps {
  target: PanelTarget;
  detail: TaskDetail | undefined;
  isLoading: boolean;
  error: unknown;
  zone: TimeZoneChoice;
  now: Date;
  /** The actions (re-queue, skip, backfill), rendered at the bottom. */
  children?: ReactNode;
  onClose: () => void;
  /** Zooms the grid into the bucket (shown for buckets). */
  onZoomIn?: () => void;
}

function CopyButton({ text }: { text: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  return (
    <button
      type="button"
      className="small"
      onClick={() => {
        const clipboard = typeof navigator === 'undefined' ? undefined : navigator.clipboard;
        if (!clipboard) return setState('failed');
        clipboard.writeText(text).then(
          () => setState('copied'),
          () => setState('failed'),
        );
      }}
    >
      {state === 'copied' ? 'Copied' : state === 'failed' ? 'Copy failed: select the text' : 'Copy message'}
    </button>
  );
}

function Field({ term, children }: { term: string; children: ReactNode }) {
  return (
    <>
      <dt>{term}</dt>
      <dd>{children}</dd>
    </>
  );
}

/**
 * The details of a slot (its full record, its last message in full, its history) or of a bucket, with the
 * actions below. A modal dialog: focus stays inside; Escape closes it.
 */
export function SidePanel(props: SidePanelProps) {
  const { target, detail, zone, now } = props;
  const ref = useRef<HTMLDivElement>(null);
  useFocusTrap(ref, true, props.onClose);
  const when = (date: Date | null) =>
    date ? `${formatInstant(date, zone, true)} (${formatAgo(date, now)})` : '—';
  const isBucket = target.slotsPerCell > 1;
  const isNotFound = props.error instanceof ApiError && props.error.status === 404;
  const message = detail?.task.message ?? (isBucket ? target.cell?.message : null) ?? null;

  return (
    <div
      ref={ref}
      className="side-panel"
      data-testid="side-panel"
      role="dialog"
      aria-modal="true"
      aria-labelledby="side-panel-title"
      tabIndex={-1}
    >
      <header className="side-panel-header">
        <div>
          <h2 id="side-panel-title">{target.name}</h2>
          <p className="muted">
            {formatRange(target.start, target.end, zone)}
            {zone === 'local' ? <> · {formatRange(target.start, target.end, 'utc')}</> : null}
          </p>
        </div>
        <button type="button" onClick={props.onClose} aria-label="Close details">
          ✕
        </button>
      </header>

      {isBucket && target.cell ? (
        <section aria-label="Bucket">
          <p>
            {target.slotsPerCell} slots in this cell, drawn as its worst state:{' '}
            <StateSwatch state={target.cell.state} />
          </p>
          <p>{describeCounts(target.cell.counts)}</p>
          {target.cell.failedAttempts > 0 ? <p>Most failed attempts: {target.cell.failedAttempts}</p> : null}
          {props.onZoomIn ? (
            <button type="button" onClick={props.onZoomIn}>
              Zoom in to single slots
            </button>
          ) : null}
        </section>
      ) : null}

      {!isBucket && props.isLoading ? <p aria-live="polite">Loading the slot…</p> : null}
      {!isBucket && isNotFound ? (
        <p className="notice">
          {target.cell?.state === 'FUTURE'
            ? 'This slot has not started yet and has no row. Workers create it when it is due, or backfill creates it now.'
            : target.cell?.state === 'BEFORE_FIRST'
              ? "This slot comes before the name's first slot and has no row: it was never expected, so it is not a gap. Backfill creates it (the name's history then starts earlier)."
              : 'This slot has no row although its interval says it should exist: it is a gap (MISSING). Backfill creates it as AVAILABLE so that a worker processes it, or Skip marks it as not to be processed.'}
        </p>
      ) : null}
      {!isBucket && props.error && !isNotFound ? (
        <ErrorMessage title="Could not load the slot." error={props.error} />
      ) : null}

      {detail ? (
        <section aria-label="Record">
          <dl className="record">
            <Field term="State">
              <StateSwatch
                state={
                  detail.task.state === 'AVAILABLE' && detail.task.failedAttempts > 0
                    ? 'FAILING'
                    : detail.task.state
                }
                failedAttempts={detail.task.failedAttempts}
              />
            </Field>
            <Field term="Slot">
              {formatInstant(detail.task.slot, zone, true)}
              {zone === 'local' ? ` (${formatInstant(detail.task.slot, 'utc', true)} UTC)` : ''}
            </Field>
            <Field term="Interval">
              {detail.task.interval} (every {formatDuration(detail.task.intervalMs)})
            </Field>
            <Field term="Failed attempts">{detail.task.failedAttempts}</Field>
            <Field term="Next attempt">
              {detail.task.hasGivenUp
                ? `none: gave up after ${attemptsText(detail.task.failedAttempts)} — re-queue to retry`
                : when(detail.task.nextAttemptAt)}
            </Field>
            <Field term="Holder">
              {detail.task.holder
                ? `${detail.task.holder.worker ?? 'a worker'} since ${when(detail.task.holder.since)}`
                : 'none'}
            </Field>
            <Field term="Created">
              {when(detail.task.createdAt)} by {detail.task.createdBy ?? 'unknown'}
            </Field>
            <Field term="Acquired">
              {when(detail.task.acquiredAt)}
              {detail.task.acquiredBy ? ` by ${detail.task.acquiredBy}` : ''}
            </Field>
            <Field term="Completed">{when(detail.task.completedAt)}</Field>
          </dl>
        </section>
      ) : null}

      {message ? (
        <section aria-labelledby="side-panel-message">
          <h3 id="side-panel-message">{detail?.task.state === 'SKIP' ? 'Reason' : 'Last message'}</h3>
          <pre className="message">{message}</pre>
          <CopyButton text={message} />
        </section>
      ) : null}

      {detail ? (
        <section aria-labelledby="side-panel-history">
          <h3 id="side-panel-history">History</h3>
          {detail.history.length === 0 ? (
            <p className="muted">No transitions recorded.</p>
          ) : (
            <ol className="history">
              {detail.history.map((entry) => (
                <li key={`${entry.id}:${entry.toState}`}>
                  <time dateTime={entry.at.toISOString()}>{formatInstant(entry.at, zone, true)}</time>{' '}
                  <span>
                    {entry.fromState ?? 'created'} → {entry.toState}
                  </span>{' '}
                  <span className="muted">by {entry.actor ?? 'unknown'}</span>
                  {entry.message ? <pre className="message small">{entry.message}</pre> : null}
                </li>
              ))}
            </ol>
          )}
        </section>
      ) : null}

      {props.children ? (
        <section aria-label="Actions" className="actions">
          {props.children}
        </section>
      ) : null}
    </div>
  );
}
