import type { CellState } from '../api/types.ts';
import { StateSwatch } from './StateSwatch.tsx';

/** Legend order: done, running, pending, trouble, then the rest. */
const ORDER: CellState[] = [
  'COMPLETE',
  'ACQUIRED',
  'AVAILABLE',
  'FAILING',
  'MISSING',
  'SKIP',
  'FUTURE',
  'BEFORE_FIRST',
];

/** The states with their slot counts in the window; each is also a toggle of the state filter. */
export function Legend({
  counts,
  selected,
  onToggle,
  onClear,
}: {
  counts: Record<CellState, number>;
  selected: ReadonlySet<CellState>;
  onToggle: (state: CellState) => void;
  onClear: () => void;
}) {
  return (
    <fieldset className="legend">
      <legend>States in the window (press to show only rows with them)</legend>
      {ORDER.map((state) => (
        <button
          key={state}
          type="button"
          className="legend-item"
          aria-pressed={selected.has(state)}
          onClick={() => onToggle(state)}
        >
          <StateSwatch state={state} failedAttempts={3} />{' '}
          <span className="count">{counts[state].toLocaleString('en')}</span>
        </button>
      ))}
      {selected.size > 0 ? (
        <button type="button" className="link" onClick={onClear}>
          Show all states
        </button>
      ) : null}
    </fieldset>
  );
}
