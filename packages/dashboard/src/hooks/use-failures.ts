import { useInfiniteQuery } from '@tanstack/react-query';
import { failuresQueryOptions } from '../api/tasks.ts';
import type { LiveStatus } from './use-event-stream.ts';
import { POLL_INTERVAL_MS } from './use-grid.ts';

/** Every failing slot across names, page by page; polls when the event stream is not live. */
export function useFailures(live: LiveStatus) {
  return useInfiniteQuery({
    ...failuresQueryOptions(),
    refetchInterval: live === 'live' ? false : POLL_INTERVAL_MS,
  });
}
