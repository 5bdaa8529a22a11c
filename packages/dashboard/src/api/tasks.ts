import { infiniteQueryOptions, queryOptions } from '@tanstack/react-query';
import { apiFetch, withQuery } from './client.ts';
import { type Holder, type TaskState, toDate, toDateOrNull, toHolder, type WireHolder } from './types.ts';

interface WireTask {
  name: string;
  slot: string;
  interval: string;
  intervalMs: number;
  state: TaskState;
  createdBy: string | null;
  createdAt: string;
  acquiredBy: string | null;
  acquiredAt: string | null;
  completedAt: string | null;
  failedAttempts: number;
  message: string | null;
  nextAttemptAt: string | null;
  hasGivenUp: boolean;
  holder: WireHolder | null;
}

interface WireHistoryEntry {
  id: number;
  fromState: TaskState | null;
  toState: TaskState;
  actor: string | null;
  message: string | null;
  at: string;
}

/** One (name, slot) row. */
export interface Task {
  name: string;
  slot: Date;
  interval: string;
  intervalMs: number;
  state: TaskState;
  createdBy: string | null;
  createdAt: Date;
  acquiredBy: string | null;
  acquiredAt: Date | null;
  completedAt: Date | null;
  failedAttempts: number;
  message: string | null;
  nextAttemptAt: Date | null;
  /** Reached its name's maxAttempts: no worker retries it until it is re-queued. */
  hasGivenUp: boolean;
  /** Set while a worker holds the slot. */
  holder: Holder | null;
}

/** One transition of a slot. */
export interface HistoryEntry {
  id: number;
  /** Null when the row was created. */
  fromState: TaskState | null;
  toState: TaskState;
  actor: string | null;
  message: string | null;
  at: Date;
}

/** A slot's record and its history, oldest first. */
export interface TaskDetail {
  task: Task;
  history: HistoryEntry[];
}

/** A page of tasks. */
export interface TaskPage {
  tasks: Task[];
  nextCursor: string | null;
}

/** Maps a wire task to the domain. */
export function toTask(wire: WireTask): Task {
  return {
    ...wire,
    slot: toDate(wire.slot),
    createdAt: toDate(wire.createdAt),
    acquiredAt: toDateOrNull(wire.acquiredAt),
    completedAt: toDateOrNull(wire.completedAt),
    nextAttemptAt: toDateOrNull(wire.nextAttemptAt),
    holder: toHolder(wire.holder),
  };
}

function toHistoryEntry(wire: WireHistoryEntry): HistoryEntry {
  return { ...wire, at: toDate(wire.at) };
}

/** `GET /api/tasks/:name/:slot`. */
export async function fetchTaskDetail(name: string, slot: Date, signal?: AbortSignal): Promise<TaskDetail> {
  const path = `/api/tasks/${encodeURIComponent(name)}/${encodeURIComponent(slot.toISOString())}`;
  const wire = await apiFetch<{ task: WireTask; history: WireHistoryEntry[] }>(
    path,
    signal ? { signal } : {},
  );
  return { task: toTask(wire.task), history: wire.history.map(toHistoryEntry) };
}

/** Query key prefix of every task query. */
export const taskKey = ['task'] as const;

/** One slot's record and history. */
export function taskDetailQueryOptions(name: string, slot: Date) {
  return queryOptions({
    queryKey: [...taskKey, name, slot.getTime()],
    queryFn: ({ signal }) => fetchTaskDetail(name, slot, signal),
    retry: false,
  });
}

/** Query key prefix of the Failures view. */
export const failuresKey = ['failures'] as const;

/** `GET /api/tasks?failing=true`, page by page (1000 rows per page). */
export function failuresQueryOptions() {
  return infiniteQueryOptions({
    queryKey: [...failuresKey],
    initialPageParam: null as string | null,
    queryFn: async ({ pageParam, signal }): Promise<TaskPage> => {
      const wire = await apiFetch<{ tasks: WireTask[]; nextCursor: string | null }>(
        withQuery('/api/tasks', { failing: true, limit: 1000, cursor: pageParam }),
        { signal },
      );
      return { tasks: wire.tasks.map(toTask), nextCursor: wire.nextCursor };
    },
    getNextPageParam: (page) => page.nextCursor,
  });
}
