import { memo } from 'react';
import type { GridRow } from '../api/grid.ts';
import { ROW_HEIGHT } from '../lib/grid-layout.ts';
import { formatDuration } from '../lib/time.ts';

function Pill({
  count,
  kind,
  glyph,
}: {
  count: number;
  kind: 'failing' | 'missing' | 'running';
  glyph: string;
}) {
  if (count === 0) return null;
  return (
    <span className={`pill pill-${kind}`} title={`${count} ${kind}`}>
      <span aria-hidden="true">{glyph}</span> {count}
      <span className="visually-hidden"> {kind}</span>
    </span>
  );
}

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
              <Pill count={failing} kind="failing" glyph="✕" />
              <Pill count={missing} kind="missing" glyph="?" />
              <Pill count={running} kind="running" glyph="▶" />
              {failing + missing + running === 0 ? <span className="pill pill-ok">ok</span> : null}
            </span>
          </li>
        );
      })}
    </ul>
  );
});
