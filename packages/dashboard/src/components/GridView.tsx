import {
  type KeyboardEvent,
  type MouseEvent,
  useCallback,
  useEffect,
  useLayoutEffect,
  useRef,
  useState,
} from 'react';
import type { GridRow } from '../api/grid.ts';
import type { CellState } from '../api/types.ts';
import { useElementWidth } from '../hooks/use-element-width.ts';
import { type CellStyle, drawTile, TILE_SIZE } from '../lib/cell-style.ts';
import { describeCell } from '../lib/describe-cell.ts';
import { drawGrid, drawOverlay } from '../lib/draw-grid.ts';
import {
  type CellRef,
  cellIndexAt,
  hitTest,
  ROW_HEIGHT,
  type TimeScale,
  timeAt,
  zoomAround,
} from '../lib/grid-layout.ts';
import { type Selection, selectColumn, selectRange } from '../lib/selection.ts';
import type { TimeZoneChoice } from '../lib/time.ts';
import { RowHeaders } from './RowHeaders.tsx';
import { TimeAxis } from './TimeAxis.tsx';
import { Tooltip } from './Tooltip.tsx';

/** Props of {@link GridView}. */
export interface GridViewProps {
  rows: readonly GridRow[];
  fromMs: number;
  toMs: number;
  zone: TimeZoneChoice;
  /** States picked in the legend: other cells are drawn faded. */
  highlight: ReadonlySet<CellState>;
  selection: Selection | null;
  focus: CellRef | null;
  /** The side panel is open over the page: the hover tooltip is hidden, as it would show under the panel. */
  isCoveredByPanel: boolean;
  onWidthChange: (width: number) => void;
  onFocusChange: (ref: CellRef) => void;
  onOpen: (ref: CellRef) => void;
  onSelectionChange: (selection: Selection | null) => void;
  onZoom: (fromMs: number, toMs: number) => void;
}

const HELP =
  'Slot grid. Arrow keys move between cells, Enter opens the details, Shift with arrows selects a range, C selects the whole column, Escape clears the selection.';

/** Canvas patterns per style, made once per canvas and pixel ratio. */
function makePaint(ctx: CanvasRenderingContext2D, ratio: number) {
  const cache = new Map<string, CanvasPattern | string>();
  return (style: CellStyle): CanvasPattern | string => {
    const cached = cache.get(style.key);
    if (cached) return cached;
    let paint: CanvasPattern | string = style.color;
    const tile = document.createElement('canvas');
    const size = TILE_SIZE * ratio;
    tile.width = size;
    tile.height = size;
    const tileCtx = tile.getContext('2d');
    if (tileCtx) {
      drawTile(tileCtx, style, size);
      const pattern = ctx.createPattern(tile, 'repeat');
      if (pattern) {
        // The context is scaled by the pixel ratio; scale the tile back so it stays TILE_SIZE CSS pixels.
        if (typeof DOMMatrix !== 'undefined')
          pattern.setTransform(new DOMMatrix([1 / ratio, 0, 0, 1 / ratio, 0, 0]));
        paint = pattern;
      }
    }
    cache.set(style.key, paint);
    return paint;
  };
}

function sizeCanvas(canvas: HTMLCanvasElement, width: number, height: number, ratio: number) {
  const w = Math.round(width * ratio);
  const h = Math.round(height * ratio);
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
}

/**
 * The grid: row headers, time axis and the canvas of cells (drawn in one pass; hover, focus and
 * selection on a second canvas above). Mouse: hover for details, click to open, shift-click or drag to
 * select, ctrl+wheel to zoom. Keyboard: see {@link HELP}.
 */
export function GridView(props: GridViewProps) {
  const { rows, fromMs, toMs, zone, highlight, selection, focus } = props;
  const wrapRef = useRef<HTMLDivElement>(null);
  const baseRef = useRef<HTMLCanvasElement>(null);
  const overlayRef = useRef<HTMLCanvasElement>(null);
  const measured = useElementWidth(wrapRef);
  const width = measured ?? 1;
  const height = Math.max(rows.length, 1) * ROW_HEIGHT;
  const [hover, setHover] = useState<{ ref: CellRef; x: number; y: number } | null>(null);
  const [hasFocus, setHasFocus] = useState(false);
  const drag = useRef<{ start: CellRef; moved: boolean } | null>(null);
  const anchor = useRef<CellRef | null>(null);
  const frame = useRef<number | null>(null);
  const paintRef = useRef<{
    ctx: CanvasRenderingContext2D;
    ratio: number;
    paint: (s: CellStyle) => CanvasPattern | string;
  } | null>(null);
  const scale: TimeScale = { fromMs, toMs, width };

  const { onWidthChange } = props;
  useEffect(() => {
    if (measured !== null) onWidthChange(measured);
  }, [measured, onWidthChange]);

  useLayoutEffect(() => {
    const canvas = baseRef.current;
    if (!canvas) return;
    const ratio = window.devicePixelRatio || 1;
    sizeCanvas(canvas, width, height, ratio);
    const started = performance.now();
    const ctx = canvas.getContext('2d');
    if (!ctx) return;
    if (paintRef.current?.ctx !== ctx || paintRef.current.ratio !== ratio) {
      paintRef.current = { ctx, ratio, paint: makePaint(ctx, ratio) };
    }
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    const drawn = drawGrid(ctx, rows, {
      scale: { fromMs, toMs, width },
      height,
      highlight,
      paint: paintRef.current.paint,
    });
    // Read back one pixel so the measured time includes the GPU/raster work, not only queuing it.
    ctx.getImageData(0, 0, 1, 1);
    canvas.dataset.drawMs = (performance.now() - started).toFixed(1);
    canvas.dataset.cells = String(drawn);
  }, [rows, fromMs, toMs, width, height, highlight]);

  const hoverRef = hover?.ref ?? null;
  useLayoutEffect(() => {
    const canvas = overlayRef.current;
    if (!canvas) return;
    const ratio = window.devicePixelRatio || 1;
    sizeCanvas(canvas, width, height, ratio);
    const ctx = canvas.getContext('2d');
    if (!ctx) return;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    drawOverlay(ctx, rows, {
      scale: { fromMs, toMs, width },
      height,
      hover: hoverRef,
      focus,
      hasFocus,
      selection,
    });
  }, [rows, fromMs, toMs, width, height, hoverRef, focus, hasFocus, selection]);

  const latest = useRef({ scale, onZoom: props.onZoom });
  latest.current = { scale, onZoom: props.onZoom };
  useEffect(() => {
    const canvas = baseRef.current;
    if (!canvas) return;
    // Ctrl/⌘ + wheel zooms the grid; a plain wheel keeps scrolling the page through the rows.
    const onWheel = (event: WheelEvent) => {
      if (!event.ctrlKey && !event.metaKey) return;
      event.preventDefault();
      const { scale: s, onZoom } = latest.current;
      const x = event.clientX - canvas.getBoundingClientRect().left;
      const next = zoomAround(s, timeAt(x, s), event.deltaY > 0 ? 1.25 : 0.8);
      onZoom(next.fromMs, next.toMs);
    };
    canvas.addEventListener('wheel', onWheel, { passive: false });
    return () => canvas.removeEventListener('wheel', onWheel);
  }, []);

  const refAt = (event: MouseEvent<HTMLCanvasElement>): { ref: CellRef | null; x: number; y: number } => {
    const box = event.currentTarget.getBoundingClientRect();
    const x = event.clientX - box.left;
    const y = event.clientY - box.top;
    return { ref: hitTest(rows, scale, x, y), x, y };
  };

  const sameRef = (a: CellRef | null, b: CellRef | null) =>
    a === b || (a !== null && b !== null && a.rowIndex === b.rowIndex && a.cellIndex === b.cellIndex);

  const onMouseMove = (event: MouseEvent<HTMLCanvasElement>) => {
    const { ref, x, y } = refAt(event);
    const current = drag.current;
    if (current && ref && !sameRef(ref, current.start)) {
      current.moved = true;
      props.onSelectionChange(selectRange(rows, current.start, ref));
    }
    // Coalesce moves into one state update per frame so hovering never queues renders.
    if (frame.current !== null) cancelAnimationFrame(frame.current);
    frame.current = requestAnimationFrame(() => {
      frame.current = null;
      setHover(ref ? { ref, x, y } : null);
    });
  };

  const onMouseDown = (event: MouseEvent<HTMLCanvasElement>) => {
    if (event.button !== 0) return;
    const { ref } = refAt(event);
    if (ref && !event.shiftKey) drag.current = { start: ref, moved: false };
  };

  const onMouseUp = (event: MouseEvent<HTMLCanvasElement>) => {
    const { ref } = refAt(event);
    const current = drag.current;
    drag.current = null;
    if (!ref) return;
    if (event.shiftKey) {
      props.onSelectionChange(selectRange(rows, anchor.current ?? focus ?? ref, ref));
      props.onFocusChange(ref);
      return;
    }
    if (current?.moved) {
      props.onFocusChange(ref);
      return;
    }
    anchor.current = ref;
    props.onSelectionChange(null);
    props.onFocusChange(ref);
    props.onOpen(ref);
  };

  const firstRef = useCallback(
    (): CellRef | null => (rows[0]?.cells.length ? { rowIndex: 0, cellIndex: 0 } : null),
    [rows],
  );

  const scrollRowIntoView = (rowIndex: number) => {
    const canvas = baseRef.current;
    if (!canvas || typeof canvas.getBoundingClientRect !== 'function') return;
    const top = canvas.getBoundingClientRect().top + rowIndex * ROW_HEIGHT;
    const margin = 3 * ROW_HEIGHT;
    if (top < margin) window.scrollBy?.({ top: top - margin });
    else if (top + ROW_HEIGHT > window.innerHeight - margin)
      window.scrollBy?.({ top: top + ROW_HEIGHT - window.innerHeight + margin });
  };

  const onKeyDown = (event: KeyboardEvent<HTMLCanvasElement>) => {
    const current = focus ?? firstRef();
    if (!current) return;
    const row = rows[current.rowIndex];
    const cell = row?.cells[current.cellIndex];
    if (!row || !cell) return;
    const moveToRow = (rowIndex: number): CellRef => {
      const target = rows[Math.max(0, Math.min(rows.length - 1, rowIndex))];
      const index = Math.max(0, Math.min(rows.length - 1, rowIndex));
      if (!target) return current;
      const mid = (cell.start.getTime() + cell.end.getTime()) / 2;
      const at = cellIndexAt(target.cells, mid);
      return {
        rowIndex: index,
        cellIndex: at >= 0 ? at : Math.min(current.cellIndex, target.cells.length - 1),
      };
    };
    let next: CellRef | null = null;
    switch (event.key) {
      case 'ArrowLeft':
        next = { ...current, cellIndex: Math.max(0, current.cellIndex - 1) };
        break;
      case 'ArrowRight':
        next = { ...current, cellIndex: Math.min(row.cells.length - 1, current.cellIndex + 1) };
        break;
      case 'ArrowUp':
        next = moveToRow(current.rowIndex - 1);
        break;
      case 'ArrowDown':
        next = moveToRow(current.rowIndex + 1);
        break;
      case 'PageUp':
        next = moveToRow(current.rowIndex - 10);
        break;
      case 'PageDown':
        next = moveToRow(current.rowIndex + 10);
        break;
      case 'Home':
        next = { ...current, cellIndex: 0 };
        break;
      case 'End':
        next = { ...current, cellIndex: row.cells.length - 1 };
        break;
      case 'Enter':
      case ' ':
        event.preventDefault();
        props.onOpen(current);
        return;
      case 'Escape':
        if (selection) {
          event.preventDefault();
          props.onSelectionChange(null);
        }
        return;
      case 'c':
      case 'C':
        event.preventDefault();
        props.onSelectionChange(selectColumn(rows, (cell.start.getTime() + cell.end.getTime()) / 2));
        return;
      default:
        return;
    }
    event.preventDefault();
    if (event.shiftKey) {
      anchor.current ??= current;
      props.onSelectionChange(selectRange(rows, anchor.current, next));
    } else {
      anchor.current = next;
    }
    props.onFocusChange(next);
    scrollRowIntoView(next.rowIndex);
  };

  const focusedRow = focus ? rows[focus.rowIndex] : undefined;
  const focusedCell = focus ? focusedRow?.cells[focus.cellIndex] : undefined;
  const hoverRow = hover ? rows[hover.ref.rowIndex] : undefined;
  const hoverCell = hover ? hoverRow?.cells[hover.ref.cellIndex] : undefined;
  const tooltipX = hover ? (hover.x > width - 340 ? Math.max(0, hover.x - 330) : hover.x + 14) : 0;

  return (
    <div className="grid-view">
      <div className="grid-corner" aria-hidden="true" />
      <TimeAxis
        scale={scale}
        zone={zone}
        onZoom={props.onZoom}
        onSelectColumn={(ms) => props.onSelectionChange(selectColumn(rows, ms))}
      />
      <RowHeaders rows={rows} />
      <div className="grid-canvas-wrap" ref={wrapRef} style={{ height }}>
        {/* biome-ignore lint/a11y/noInteractiveElementToNoninteractiveRole: the canvas is one composite widget; role=application hands it the arrow keys */}
        <canvas
          ref={baseRef}
          className="grid-canvas"
          data-testid="grid"
          tabIndex={0}
          role="application"
          aria-roledescription="slot grid"
          aria-label={HELP}
          aria-describedby="grid-focus-description"
          onMouseMove={onMouseMove}
          onMouseDown={onMouseDown}
          onMouseUp={onMouseUp}
          onMouseLeave={() => {
            if (frame.current !== null) cancelAnimationFrame(frame.current);
            frame.current = null;
            drag.current = null;
            setHover(null);
          }}
          onKeyDown={onKeyDown}
          onFocus={() => {
            setHasFocus(true);
            if (!focus) {
              const first = firstRef();
              if (first) props.onFocusChange(first);
            }
          }}
          onBlur={() => setHasFocus(false)}
        />
        <canvas ref={overlayRef} className="grid-overlay" />
        {hover && hoverRow && hoverCell && !props.isCoveredByPanel ? (
          <Tooltip row={hoverRow} cell={hoverCell} zone={zone} x={tooltipX} y={hover.y + 16} />
        ) : null}
      </div>
      <div id="grid-focus-description" className="visually-hidden" aria-live="polite">
        {hasFocus && focusedRow && focusedCell ? describeCell(focusedRow, focusedCell, zone) : ''}
      </div>
    </div>
  );
}
