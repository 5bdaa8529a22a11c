import type { GridCell, GridRow } from '../api/grid.ts';
import { cellStyle } from '../lib/cell-style.ts';
import { describeCounts } from '../lib/describe-cell.ts';
import { cellCounts } from '../lib/grid-layout.ts';
import { formatDuration, formatInstant, formatRange, type TimeZoneChoice } from '../lib/time.ts';
import { StateSwatch } from './StateSwatch.tsx';

/** The hover card of a cell: name, range in the chosen zone and UTC, state, attempts, message, holder. */
export function Tooltip({
  row,
  cell,
  zone,
  x,
  y,
}: {
  row: GridRow;
  cell: GridCell;
  zone: TimeZoneChoice;
  x: number;
  y: number;
}) {
  const slots = Object.values(cellCounts(cell)).reduce((sum, n) => sum + (n ?? 0), 0);
  return (
    <div className="tooltip" data-testid="tooltip" role="tooltip" style={{ left: x, top: y }}>
      <div className="tooltip-title">{row.name}</div>
      <div>{formatRange(cell.start, cell.end, zone)}</div>
      {zone === 'local' ? <div className="muted">{formatRange(cell.start, cell.end, 'utc')}</div> : null}
      <div>
        <StateSwatch state={cell.state} failedAttempts={cell.failedAttempts} />
        {slots > 1 ? <span className="muted"> (worst of {slots} slots)</span> : null}
      </div>
      {slots > 1 ? <div>{describeCounts(cell.counts)}</div> : null}
      {cell.failedAttempts > 0 ? <div>Failed attempts: {cell.failedAttempts}</div> : null}
      {cell.holder ? (
        <div>
          Held by {cell.holder.worker ?? 'a worker'}
          {cell.holder.since
            ? ` since ${formatInstant(cell.holder.since, zone, true)} (${formatDuration(Date.now() - cell.holder.since.getTime())})`
            : ''}
        </div>
      ) : null}
      {cell.message ? (
        <div className="tooltip-message">
          {cell.state === 'SKIP' ? 'Reason: ' : 'Message: '}
          <code>{cell.message}</code>
        </div>
      ) : null}
      <div className="muted">
        {cellStyle(cell.state).label === 'Missing' ? 'Click for backfill. ' : 'Click for details. '}
        Every {formatDuration(row.intervalMs)}
        {row.slotsPerCell > 1 ? `, ${row.slotsPerCell} slots per cell` : ''}.
      </div>
    </div>
  );
}
