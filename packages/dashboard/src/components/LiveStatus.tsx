import type { LiveStatus as Status } from '../hooks/use-event-stream.ts';
import { formatInstant, type TimeZoneChoice } from '../lib/time.ts';

const TEXT: Record<Status, string> = {
  live: 'Live',
  connecting: 'Connecting…',
  polling: 'Live updates unavailable: polling every 10 s',
};

/** Whether the grid is live (event stream), connecting, or polling, and when it last updated. */
export function LiveStatus({
  status,
  updatedAt,
  isFetching,
  zone,
}: {
  status: Status;
  updatedAt: Date | null;
  isFetching: boolean;
  zone: TimeZoneChoice;
}) {
  return (
    <output
      className={`live live-${status}`}
      data-testid="live-status"
      data-status={status}
      aria-live="polite"
    >
      <span className="live-dot" aria-hidden="true" />
      <span>{TEXT[status]}</span>
      {updatedAt ? (
        <span className="muted">
          {' · '}updated {formatInstant(updatedAt, zone, true)}
          {isFetching ? ' (refreshing)' : ''}
        </span>
      ) : null}
    </output>
  );
}
