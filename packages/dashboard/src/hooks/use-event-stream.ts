import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { EVENTS_URL, parseBulk, parseHolders, parseTransition } from '../api/events.ts';
import { gridKey } from '../api/grid.ts';
import { failuresKey, taskKey } from '../api/tasks.ts';

/** `connecting` before the stream opens, `live` while it flows, `polling` while it is down. */
export type LiveStatus = 'connecting' | 'live' | 'polling';

/** Least time between two grid refetches caused by events (a burst of transitions refetches once). */
export const EVENT_THROTTLE_MS = 1_000;
/** How long to wait before opening a new stream after the browser gave up reconnecting. */
const RECONNECT_MS = 15_000;

/**
 * Subscribes to `GET /api/events` and refetches the grid, the failures and the changed slot when slots
 * change or are taken or let go, at most once per {@link EVENT_THROTTLE_MS}, and everything on `resync`. Reports `polling` while the stream is down, so that
 * queries poll instead; reconnects by itself.
 */
export function useEventStream(): { status: LiveStatus; lastEventAt: Date | null } {
  const queryClient = useQueryClient();
  const [status, setStatus] = useState<LiveStatus>(
    typeof EventSource === 'undefined' ? 'polling' : 'connecting',
  );
  const [lastEventAt, setLastEventAt] = useState<Date | null>(null);
  const throttle = useRef<{ timer: ReturnType<typeof setTimeout> | null; lastRun: number }>({
    timer: null,
    lastRun: 0,
  });

  useEffect(() => {
    if (typeof EventSource === 'undefined') return;
    let source: EventSource | null = null;
    let reconnect: ReturnType<typeof setTimeout> | null = null;
    let isDisposed = false;
    const state = throttle.current;

    const refresh = () => {
      state.lastRun = Date.now();
      state.timer = null;
      void queryClient.invalidateQueries({ queryKey: gridKey });
      void queryClient.invalidateQueries({ queryKey: failuresKey });
    };
    const scheduleRefresh = () => {
      setLastEventAt(new Date());
      if (state.timer !== null) return;
      const wait = Math.max(0, state.lastRun + EVENT_THROTTLE_MS - Date.now());
      state.timer = setTimeout(refresh, wait);
    };

    const open = () => {
      if (isDisposed) return;
      source = new EventSource(EVENTS_URL);
      source.addEventListener('open', () => setStatus('live'));
      source.addEventListener('ready', () => setStatus('live'));
      source.addEventListener('transition', (event) => {
        const transition = parseTransition(event.data);
        if (transition) {
          void queryClient.invalidateQueries({
            queryKey: [...taskKey, transition.name, transition.slot.getTime()],
          });
        }
        scheduleRefresh();
      });
      source.addEventListener('bulk', (event) => {
        const bulk = parseBulk(event.data);
        if (bulk) void queryClient.invalidateQueries({ queryKey: [...taskKey, bulk.name] });
        scheduleRefresh();
      });
      // Slots taken or let go without a committed change (an acquisition, a crashed holder).
      source.addEventListener('holders', (event) => {
        for (const name of parseHolders(event.data) ?? []) {
          void queryClient.invalidateQueries({ queryKey: [...taskKey, name] });
        }
        scheduleRefresh();
      });
      // The server missed events (its database connection came back): everything shown may be stale.
      source.addEventListener('resync', () => {
        setLastEventAt(new Date());
        void queryClient.invalidateQueries();
      });
      source.addEventListener('error', () => {
        setStatus('polling');
        // CONNECTING: the browser retries by itself. CLOSED: it gave up; try again later.
        if (source?.readyState === EventSource.CLOSED) {
          source.close();
          reconnect = setTimeout(open, RECONNECT_MS);
        }
      });
    };
    open();
    return () => {
      isDisposed = true;
      source?.close();
      if (reconnect) clearTimeout(reconnect);
      if (state.timer) clearTimeout(state.timer);
      state.timer = null;
    };
  }, [queryClient]);

  return { status, lastEventAt };
}
