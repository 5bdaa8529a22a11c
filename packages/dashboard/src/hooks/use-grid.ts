import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { gridQueryOptions } from '../api/grid.ts';
import { presetMs, type TimeWindow } from '../lib/time.ts';
import type { LiveStatus } from './use-event-stream.ts';

/** How often the grid refetches while the event stream is down. */
export const POLL_INTERVAL_MS = 10_000;
/** How often it refetches while live anyway, so that a preset window moves with the clock. */
const LIVE_REFRESH_MS = 60_000;

/**
 * The grid over `window` with at most `columns` cells per row. Keeps showing the previous data while the
 * next window loads (zooming never blanks the grid) and polls when the event stream is not live.
 * `isEnabled` (default true) holds the request back until the grid's width is known.
 */
export function useGrid(window: TimeWindow, columns: number, live: LiveStatus, isEnabled = true) {
  const range = window.kind === 'preset' ? { lastMs: presetMs(window.preset) } : window;
  return useQuery({
    ...gridQueryOptions(range, columns),
    enabled: isEnabled,
    placeholderData: keepPreviousData,
    refetchInterval: live === 'live' ? LIVE_REFRESH_MS : POLL_INTERVAL_MS,
  });
}
