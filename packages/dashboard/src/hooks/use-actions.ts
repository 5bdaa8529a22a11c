import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useRef } from 'react';
import { backfill, requeue, type SlotTarget, skip } from '../api/actions.ts';
import { ApiError } from '../api/client.ts';
import { gridKey } from '../api/grid.ts';
import { failuresKey, taskKey } from '../api/tasks.ts';
import { useAuth } from './use-auth.ts';

/** Input of the re-queue and skip mutations. */
export interface SlotActionInput {
  targets: SlotTarget[];
  reason: string;
  dryRun: boolean;
  /** Skip only: skip COMPLETE slots too. Default false. */
  includeComplete?: boolean;
}

function useWriteHelpers() {
  const auth = useAuth();
  const queryClient = useQueryClient();
  // Read at call time: the token may have been entered after this render (the dialog asks just before).
  const token = useRef(auth.token);
  token.current = auth.token;
  const onError = (error: unknown) => {
    if (error instanceof ApiError && error.status === 401) auth.markRejected();
  };
  const onSettled = (_data: unknown, _error: unknown, input: { dryRun: boolean }) => {
    if (input.dryRun) return;
    void queryClient.invalidateQueries({ queryKey: gridKey });
    void queryClient.invalidateQueries({ queryKey: taskKey });
    void queryClient.invalidateQueries({ queryKey: failuresKey });
  };
  return { token, onError, onSettled };
}

/** Re-queues (or previews re-queueing) each target; one request per name. Invalidates grid, slot and failures. */
export function useRequeue() {
  const { token, onError, onSettled } = useWriteHelpers();
  return useMutation({
    mutationFn: (input: SlotActionInput) =>
      Promise.all(
        input.targets.map((target) =>
          requeue(target, input.reason, { token: token.current, dryRun: input.dryRun }),
        ),
      ),
    onError,
    onSettled,
  });
}

/** Skips (or previews skipping) each target; one request per name. Invalidates grid, slot and failures. */
export function useSkip() {
  const { token, onError, onSettled } = useWriteHelpers();
  return useMutation({
    mutationFn: (input: SlotActionInput) =>
      Promise.all(
        input.targets.map((target) =>
          skip(target, input.reason, {
            token: token.current,
            dryRun: input.dryRun,
            ...(input.includeComplete ? { includeComplete: true } : {}),
          }),
        ),
      ),
    onError,
    onSettled,
  });
}

/** Backfills (or previews backfilling) the missing slots of each range. Invalidates grid, slot and failures. */
export function useBackfill() {
  const { token, onError, onSettled } = useWriteHelpers();
  return useMutation({
    mutationFn: (input: { targets: Array<{ name: string; from: Date; to: Date }>; dryRun: boolean }) =>
      Promise.all(
        input.targets.map((target) => backfill(target, { token: token.current, dryRun: input.dryRun })),
      ),
    onError,
    onSettled,
  });
}
