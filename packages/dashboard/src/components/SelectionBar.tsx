import type { ReactNode } from 'react';
import type { CellState } from '../api/types.ts';
import { describeCounts } from '../lib/describe-cell.ts';
import type { Selection, SelectionPart } from '../lib/selection.ts';
import { formatRange, type TimeZoneChoice } from '../lib/time.ts';

/** The selected range, what it holds, and the bulk actions (rendered by the page as children). */
export function SelectionBar({
  selection,
  parts,
  zone,
  children,
  onClear,
  onZoom,
}: {
  selection: Selection;
  parts: readonly SelectionPart[];
  zone: TimeZoneChoice;
  children: ReactNode;
  onClear: () => void;
  onZoom: () => void;
}) {
  const totals: Partial<Record<CellState, number>> = {};
  for (const part of parts) {
    for (const [state, n] of Object.entries(part.counts) as Array<[CellState, number]>) {
      totals[state] = (totals[state] ?? 0) + n;
    }
  }
  const names = selection.names.length;
  return (
    <section className="selection-bar" aria-label="Selection" data-testid="selection-bar">
      <div className="selection-head">
        <div>
          <h2 className="selection-title">
            Selected: {names === 1 ? selection.names[0] : `${names} names`},{' '}
            {formatRange(selection.from, selection.to, zone)}
          </h2>
          <p className="muted">As the grid shows it: {describeCounts(totals) || 'no slots'}.</p>
        </div>
        <div className="buttons">
          <button type="button" onClick={onZoom}>
            Zoom to selection
          </button>
          <button type="button" onClick={onClear}>
            Clear selection
          </button>
        </div>
      </div>
      <div className="selection-actions">{children}</div>
    </section>
  );
}
