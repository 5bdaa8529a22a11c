import { queryOptions } from '@tanstack/react-query';
import { apiFetch } from './client.ts';

/** What the server lets this browser do. */
export interface Whoami {
  /** The server has no token configured and accepts no writes at all. */
  isReadOnly: boolean;
  /** The token sent (if any) lets us write. */
  canWrite: boolean;
  actor: string | null;
}

/** `GET /api/whoami`; a wrong token throws an `ApiError` with status 401. */
export function fetchWhoami(token: string | null, signal?: AbortSignal): Promise<Whoami> {
  return apiFetch<Whoami>('/api/whoami', { token, ...(signal ? { signal } : {}) });
}

/** Query key prefix of whoami. */
export const whoamiKey = ['whoami'] as const;

/** Who we are with the given token (or none). */
export function whoamiQueryOptions(token: string | null) {
  return queryOptions({
    queryKey: [...whoamiKey, token ?? ''],
    queryFn: ({ signal }) => fetchWhoami(token, signal),
    retry: false,
    staleTime: 60_000,
  });
}
