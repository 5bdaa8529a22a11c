import { useCallback, useEffect, useMemo, useState } from 'react';
import { presetRange } from '../api/grid.ts';
import type { CellState } from '../api/types.ts';
import { EmptyState } from '../components/EmptyState.tsx';
import { ErrorMessage } from '../components/ErrorMessage.tsx';
import { GridView } from '../components/GridView.tsx';
import { Legend } from '../components/Legend.tsx';
import type { PanelTarget } from '../components/SidePanel.tsx';
import { Toolbar } from '../components/Toolbar.tsx';
import { useDebouncedValue } from '../hooks/use-debounced-value.ts';
import type { LiveStatus } from '../hooks/use-event-stream.ts';
import { useGrid } from '../hooks/use-grid.ts';
import { useHashRoute } from '../hooks/use-hash-route.ts';
import { useTimeZone } from '../hooks/use-time-zone.ts';
import {
  arrangeRows,
  type CellRef,
  cellIndexAt,
  columnsFor,
  countStates,
  fitRows,
  type RowSort,
  zoomAround,
} from '../lib/grid-layout.ts';
import type { Selection } from '../lib/selection.ts';
import { presetMs, type TimeWindow } from '../lib/time.ts';
import { SelectionActions } from './SelectionActions.tsx';
import { SlotPanel } from './SlotPanel.tsx';

/** A focused cell, by name and an instant inside it (stable while refetches re-bucket the rows). */
interface FocusKey {
  name: string;
  atMs: number;
}

/** The main page: the grid of names × slots with its controls, selection actions and side panel. */
export function GridPage({
  live,
  onUpdated,
}: {
  live: LiveStatus;
  onUpdated: (at: Date | null, isFetching: boolean) => void;
}) {
  const [zone, setZone] = useTimeZone();
  const [window, setWindow] = useState<TimeWindow>({ kind: 'preset', preset: '24h' });
  const [width, setWidth] = useState<number | null>(null);
  const [nameFilter, setNameFilter] = useState('');
  const [sort, setSort] = useState<RowSort>('name');
  const [highlight, setHighlight] = useState<ReadonlySet<CellState>>(() => new Set());
  const [selection, setSelection] = useState<Selection | null>(null);
  const [focusKey, setFocusKey] = useState<FocusKey | null>(null);
  const [panel, setPanel] = useState<PanelTarget | null>(null);
  const [route, replaceRoute] = useHashRoute();

  const columns = width === null ? null : columnsFor(width);
  const debouncedColumns = useDebouncedValue(columns, 250);
  const debouncedWindow = useDebouncedValue(window, 250);
  // Presets apply at once; zooming and resizing settle first so that a wheel spin asks the API once.
  const requestWindow = window.kind === 'preset' ? window : debouncedWindow;
  const requestColumns = debouncedColumns ?? columns ?? 0;
  const query = useGrid(requestWindow, Math.max(1, requestColumns), live, requestColumns > 0);
  const grid = query.data;

  useEffect(() => {
    onUpdated(query.dataUpdatedAt ? new Date(query.dataUpdatedAt) : null, query.isFetching);
  }, [query.dataUpdatedAt, query.isFetching, onUpdated]);

  const view = useMemo(() => {
    if (window.kind === 'custom') return { fromMs: window.from.getTime(), toMs: window.to.getTime() };
    if (grid && requestWindow.kind === 'preset' && requestWindow.preset === window.preset)
      return { fromMs: grid.from.getTime(), toMs: grid.to.getTime() };
    const range = presetRange(presetMs(window.preset), new Date());
    return { fromMs: range.from.getTime(), toMs: range.to.getTime() };
  }, [window, grid, requestWindow]);

  const rows = useMemo(() => {
    if (!grid) return [];
    // Fit to the cells the screen can show at the current zoom (old data drawn zoomed while new data loads).
    const dataSpan = grid.to.getTime() - grid.from.getTime();
    const viewSpan = view.toMs - view.fromMs;
    const maxCells = Math.max(1, Math.ceil((columns ?? 1) * Math.max(1, dataSpan / Math.max(1, viewSpan))));
    return arrangeRows(fitRows(grid.rows, maxCells), { name: nameFilter, states: highlight }, sort);
  }, [grid, view, columns, nameFilter, highlight, sort]);

  const counts = useMemo(() => countStates(rows), [rows]);

  const focus = useMemo((): CellRef | null => {
    if (!focusKey) return null;
    const rowIndex = rows.findIndex((row) => row.name === focusKey.name);
    const row = rows[rowIndex];
    if (!row) return null;
    const cellIndex = cellIndexAt(row.cells, focusKey.atMs);
    return cellIndex < 0 ? null : { rowIndex, cellIndex };
  }, [rows, focusKey]);

  const keyOf = useCallback(
    (ref: CellRef): FocusKey | null => {
      const row = rows[ref.rowIndex];
      const cell = row?.cells[ref.cellIndex];
      return row && cell ? { name: row.name, atMs: (cell.start.getTime() + cell.end.getTime()) / 2 } : null;
    },
    [rows],
  );

  const onFocusChange = useCallback((ref: CellRef) => setFocusKey(keyOf(ref)), [keyOf]);

  const onOpen = useCallback(
    (ref: CellRef) => {
      const row = rows[ref.rowIndex];
      const cell = row?.cells[ref.cellIndex];
      if (!row || !cell) return;
      const slots = Object.values(cell.counts).reduce((sum, n) => sum + (n ?? 0), 0);
      setPanel({
        name: row.name,
        start: cell.start,
        end: cell.end,
        slotsPerCell: row.slotsPerCell > 1 && slots > 1 ? slots : 1,
        cell,
      });
    },
    [rows],
  );

  const onZoom = useCallback((fromMs: number, toMs: number) => {
    if (toMs - fromMs < 1000) return;
    setWindow({ kind: 'custom', from: new Date(Math.round(fromMs)), to: new Date(Math.round(toMs)) });
  }, []);

  // A link from the Failures view: `#/?name=…&slot=…` shows that slot and opens its panel.
  const linkName = route.params.get('name');
  const linkSlot = route.params.get('slot');
  useEffect(() => {
    if (!linkName || !linkSlot) return;
    const slot = new Date(linkSlot);
    if (Number.isNaN(slot.getTime())) return;
    const ms = slot.getTime();
    if (ms < view.fromMs || ms >= view.toMs) {
      setWindow({ kind: 'custom', from: new Date(ms - 12 * 3_600_000), to: new Date(ms + 12 * 3_600_000) });
      return;
    }
    if (!grid) return;
    setNameFilter('');
    setHighlight(new Set());
    const row = grid.rows.find((candidate) => candidate.name === linkName);
    const intervalMs = row?.intervalMs ?? 0;
    const cell = row?.slotsPerCell === 1 ? row.cells[cellIndexAt(row.cells, ms)] : undefined;
    setFocusKey({ name: linkName, atMs: ms + intervalMs / 2 });
    setPanel({
      name: linkName,
      start: slot,
      end: new Date(ms + intervalMs),
      slotsPerCell: 1,
      cell: cell ?? null,
    });
    replaceRoute('#/');
  }, [linkName, linkSlot, view, grid, replaceRoute]);

  const shown = { from: new Date(view.fromMs), to: new Date(view.toMs) };
  const isEmpty = grid !== undefined && grid.rows.length === 0;

  return (
    <div className="grid-page">
      <Toolbar
        window={window}
        shown={shown}
        zone={zone}
        nameFilter={nameFilter}
        sort={sort}
        onPreset={(preset) => setWindow({ kind: 'preset', preset })}
        onCustom={(from, to) => setWindow({ kind: 'custom', from, to })}
        onZoomOut={() => {
          const next = zoomAround(view, (view.fromMs + view.toMs) / 2, 2);
          onZoom(next.fromMs, next.toMs);
        }}
        onZone={setZone}
        onNameFilter={setNameFilter}
        onSort={setSort}
      />
      <Legend
        counts={counts}
        selected={highlight}
        onToggle={(state) => {
          const next = new Set(highlight);
          if (next.has(state)) next.delete(state);
          else next.add(state);
          setHighlight(next);
        }}
        onClear={() => setHighlight(new Set())}
      />
      {query.error ? (
        <ErrorMessage
          title="Could not load the grid."
          error={query.error}
          onRetry={() => void query.refetch()}
        />
      ) : null}
      {query.isPending && !query.error ? <p aria-live="polite">Loading the grid…</p> : null}
      {isEmpty ? <EmptyState /> : null}
      {grid && !isEmpty && rows.length === 0 ? (
        <p className="notice">
          No names match the filters. Clear the name filter or the state filter to see all rows.
        </p>
      ) : null}
      <div hidden={isEmpty}>
        <GridView
          rows={rows}
          fromMs={view.fromMs}
          toMs={view.toMs}
          zone={zone}
          highlight={highlight}
          selection={selection}
          focus={focus}
          onWidthChange={setWidth}
          isCoveredByPanel={panel !== null}
          onFocusChange={onFocusChange}
          onOpen={onOpen}
          onSelectionChange={setSelection}
          onZoom={onZoom}
        />
        {grid?.rows.some((row) => row.slotsPerCell > 1) ? (
          <p className="muted hint">
            Cells are buckets of consecutive slots drawn by their worst state. Drag across the time axis or
            use the wheel over it (Ctrl+wheel over the grid) to zoom in to single slots.
          </p>
        ) : null}
      </div>
      {/* After the grid, never above it: a bar appearing mid-drag must not push the canvas under the pointer. */}
      {selection ? (
        <SelectionActions
          rows={rows}
          selection={selection}
          zone={zone}
          onClear={() => setSelection(null)}
          onZoom={() => onZoom(selection.from.getTime(), selection.to.getTime())}
        />
      ) : null}
      {panel ? (
        <SlotPanel
          key={`${panel.name}@${panel.start.getTime()}`}
          target={panel}
          zone={zone}
          onClose={() => setPanel(null)}
          onZoomIn={() => {
            onZoom(panel.start.getTime(), panel.end.getTime());
            setPanel(null);
          }}
        />
      ) : null}
    </div>
  );
}
