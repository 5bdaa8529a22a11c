import type { CellState } from '../api/types.ts';
import { cellStyle, cssBackground } from '../lib/cell-style.ts';

/** A small square painted like a grid cell of `state`, with its glyph and (unless `isCompact`) its label. */
export function StateSwatch({
  state,
  failedAttempts = 0,
  isCompact = false,
}: {
  state: CellState;
  failedAttempts?: number;
  isCompact?: boolean;
}) {
  const style = cellStyle(state, failedAttempts);
  return (
    <span className="state">
      <span className="swatch" style={{ background: cssBackground(style) }} aria-hidden="true" />
      <span aria-hidden="true" className="glyph">
        {style.glyph}
      </span>
      {isCompact ? <span className="visually-hidden">{style.label}</span> : <span>{style.label}</span>}
    </span>
  );
}
