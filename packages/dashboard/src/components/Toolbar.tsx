import { type FormEvent, useEffect, useState } from 'react';
import type { RowSort } from '../lib/grid-layout.ts';
import {
  fromInputValue,
  type PresetId,
  type TimeWindow,
  type TimeZoneChoice,
  toInputValue,
  WINDOW_PRESETS,
} from '../lib/time.ts';

/** Props of {@link Toolbar}. */
export interface ToolbarProps {
  window: TimeWindow;
  /** The range shown now (a preset's range as last fetched). */
  shown: { from: Date; to: Date };
  zone: TimeZoneChoice;
  nameFilter: string;
  sort: RowSort;
  onPreset: (preset: PresetId) => void;
  onCustom: (from: Date, to: Date) => void;
  onZoomOut: () => void;
  onZone: (zone: TimeZoneChoice) => void;
  onNameFilter: (value: string) => void;
  onSort: (sort: RowSort) => void;
}

/** Window presets, custom range, time zone, name filter and sort. */
export function Toolbar(props: ToolbarProps) {
  const { window, shown, zone } = props;
  const [from, setFrom] = useState(toInputValue(shown.from, zone));
  const [to, setTo] = useState(toInputValue(shown.to, zone));
  const [error, setError] = useState<string | null>(null);
  const shownFrom = shown.from.getTime();
  const shownTo = shown.to.getTime();
  useEffect(() => {
    setFrom(toInputValue(new Date(shownFrom), zone));
    setTo(toInputValue(new Date(shownTo), zone));
  }, [shownFrom, shownTo, zone]);

  const apply = (event: FormEvent) => {
    event.preventDefault();
    const a = fromInputValue(from, zone);
    const b = fromInputValue(to, zone);
    if (!a || !b) return setError('Enter both ends of the range.');
    if (b <= a) return setError('The end must be after the start.');
    setError(null);
    props.onCustom(a, b);
  };

  return (
    <div className="toolbar">
      <fieldset className="group">
        <legend className="visually-hidden">Window</legend>
        {WINDOW_PRESETS.map((preset) => (
          <button
            key={preset.id}
            type="button"
            aria-pressed={window.kind === 'preset' && window.preset === preset.id}
            onClick={() => props.onPreset(preset.id)}
          >
            Last {preset.label}
          </button>
        ))}
        <button
          type="button"
          onClick={props.onZoomOut}
          title="Zoom out (or use the mouse wheel on the time axis)"
        >
          Zoom out
        </button>
      </fieldset>
      <form className="group custom-range" onSubmit={apply} aria-label="Custom range">
        <label>
          From <input type="datetime-local" value={from} onChange={(e) => setFrom(e.target.value)} />
        </label>
        <label>
          to <input type="datetime-local" value={to} onChange={(e) => setTo(e.target.value)} />
        </label>
        <button type="submit" aria-pressed={window.kind === 'custom'}>
          Show range
        </button>
        {error ? (
          <span role="alert" className="error-text">
            {error}
          </span>
        ) : null}
      </form>
      <fieldset className="group">
        <legend className="visually-hidden">Time zone</legend>
        <button type="button" aria-pressed={zone === 'utc'} onClick={() => props.onZone('utc')}>
          UTC
        </button>
        <button type="button" aria-pressed={zone === 'local'} onClick={() => props.onZone('local')}>
          Local
        </button>
      </fieldset>
      <div className="group">
        <label>
          Filter names{' '}
          <input
            type="search"
            value={props.nameFilter}
            placeholder="name contains…"
            onChange={(e) => props.onNameFilter(e.target.value)}
          />
        </label>
        <label>
          Sort by{' '}
          <select
            value={props.sort}
            onChange={(e) => props.onSort(e.target.value === 'trouble' ? 'trouble' : 'name')}
          >
            <option value="name">name</option>
            <option value="trouble">trouble</option>
          </select>
        </label>
      </div>
    </div>
  );
}
