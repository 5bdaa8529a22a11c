import { memo } from 'react';
import type { GridRow } from '../api/grid.ts';
import { ROW_HEIGHT } from '../lib/grid-layout.ts';
import { formatDuration } from '../lib/time.ts';

/** One header per grid row: name, interval and the trouble summary. Aligned with the canvas rows. */
export const RowHeaders = memo(function RowHeaders({ rows }: { rows: readonly GridRow[] }) {
  return (
    <ul className="row-headers" aria-label="Task names">
      {rows.map((row) => {
        const { missing, failing, running } = row.summary;
        return (
          <li
            key={row.name}
            style={{ height: ROW_HEIGHT }}
            title={`${row.name}: every ${formatDuration(row.intervalMs)}`}
          >
            <span className="row-name">{row.name}</span>
            <span className="row-interval">{formatDuration(row.intervalMs)}</span>
            <span className="row-summary">
              {failing > 0 ? <span className="pill pill-failing">{failing} failing</span> : null}
              {missing > 0 ? <span className="pill pill-missing">{missing} missing</span> : null}
              {running > 0 ? <span className="pill pill-running">{running} running</span> : null}
              {failing + missing + running === 0 ? <span className="pill pill-ok">ok</span> : null}
            </span>
          </li>
        );
      })}
    </ul>
  );
});
