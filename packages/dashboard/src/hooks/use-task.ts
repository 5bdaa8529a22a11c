import { useQuery } from '@tanstack/react-query';
import { taskDetailQueryOptions } from '../api/tasks.ts';

/** A slot's record and history; idle when `slot` is null. A slot without a row answers a NOT_FOUND ApiError. */
export function useTaskDetail(name: string | null, slot: Date | null) {
  return useQuery({
    ...taskDetailQueryOptions(name ?? '', slot ?? new Date(0)),
    enabled: name !== null && slot !== null,
  });
}
