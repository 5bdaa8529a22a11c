import { useState } from 'react';
import type { SlotTarget } from '../api/actions.ts';
import { ApiError } from '../api/client.ts';
import type { CellState } from '../api/types.ts';
import { ActionFlow } from '../components/ActionFlow.tsx';
import { type PanelTarget, SidePanel } from '../components/SidePanel.tsx';
import { useBackfill, useRequeue, useSkip } from '../hooks/use-actions.ts';
import { useAuth } from '../hooks/use-auth.ts';
import { useTaskDetail } from '../hooks/use-task.ts';
import { summarizeBackfill, summarizeRequeue, summarizeSkip } from '../lib/outcomes.ts';
import type { TimeZoneChoice } from '../lib/time.ts';

/** Why nothing may touch a running slot, in words. */
export const RUNNING_REASON =
  'A worker is running this slot right now. Re-queue and skip never disturb a running slot: wait until it finishes.';

function requeueDescription(state: CellState | null, isBucket: boolean): string {
  if (isBucket)
    return 'Complete and skipped slots of this cell become AVAILABLE and failing ones become due now; the next free worker processes them again. Running slots are not touched.';
  switch (state) {
    case 'COMPLETE':
      return 'This complete slot becomes AVAILABLE again, and the next free worker processes it anew.';
    case 'SKIP':
      return 'This skipped slot becomes AVAILABLE (un-skip), and the next free worker processes it.';
    case 'FAILING':
      return 'This failing slot stops waiting out its backoff and becomes due now.';
    default:
      return 'This slot is already pending: re-queue will leave it unchanged.';
  }
}

/** The side panel of a slot or bucket, connected to the API: record, history and the write actions. */
export function SlotPanel({
  target,
  zone,
  onClose,
  onZoomIn,
}: {
  target: PanelTarget;
  zone: TimeZoneChoice;
  onClose: () => void;
  onZoomIn: () => void;
}) {
  const auth = useAuth();
  const isBucket = target.slotsPerCell > 1;
  const query = useTaskDetail(isBucket ? null : target.name, isBucket ? null : target.start);
  const requeue = useRequeue();
  const skip = useSkip();
  const backfill = useBackfill();
  const [includeComplete, setIncludeComplete] = useState(false);

  const task = query.data?.task;
  const isNotFound = query.error instanceof ApiError && query.error.status === 404;
  const state: CellState | null = task
    ? task.state === 'AVAILABLE' && task.failedAttempts > 0
      ? 'FAILING'
      : task.state
    : isNotFound
      ? (target.cell?.state ?? 'MISSING')
      : (target.cell?.state ?? null);
  const isRunning = !isBucket && state === 'ACQUIRED';
  const blocked = auth.writeBlockedReason ?? (isRunning ? RUNNING_REASON : null);
  const slots: SlotTarget = isBucket
    ? { name: target.name, from: target.start, to: target.end }
    : { name: target.name, slots: [target.start] };
  const range = { name: target.name, from: target.start, to: target.end };
  const begin = async () => (await auth.ensureToken()) !== null;
  const skipsComplete = isBucket ? includeComplete : state === 'COMPLETE';
  const hasRow = isBucket || task !== undefined;
  // A confirmed backfill turns the gap into a row, and the refetch stops answering 404. The flow stays, or
  // its outcome (and the focus on it) would vanish the moment it is shown.
  const [hasShownGap, setHasShownGap] = useState(false);
  if (isNotFound && !hasShownGap) setHasShownGap(true);
  const canBackfill = isBucket || isNotFound || hasShownGap;

  return (
    <SidePanel
      target={target}
      detail={query.data}
      isLoading={query.isLoading}
      error={query.error}
      zone={zone}
      now={new Date()}
      onClose={onClose}
      {...(isBucket ? { onZoomIn } : {})}
    >
      {hasRow ? (
        <ActionFlow
          label={state === 'SKIP' ? 'Re-queue (un-skip)' : 'Re-queue'}
          description={requeueDescription(state, isBucket)}
          disabledReason={blocked}
          onBegin={begin}
          onPreview={async (reason) =>
            summarizeRequeue(await requeue.mutateAsync({ targets: [slots], reason, dryRun: true }), true)
          }
          onConfirm={async (reason) =>
            summarizeRequeue(await requeue.mutateAsync({ targets: [slots], reason, dryRun: false }), false)
          }
        />
      ) : null}
      {hasRow || canBackfill ? (
        <ActionFlow
          label="Skip"
          description={
            isBucket
              ? 'Pending, failing and missing slots of this cell become SKIP with your reason; no worker processes them. Running slots are not touched.'
              : state === 'COMPLETE'
                ? 'This complete slot becomes SKIP with your reason.'
                : 'This slot becomes SKIP with your reason (a gap is created as SKIP); no worker processes it.'
          }
          disabledReason={blocked}
          onBegin={begin}
          {...(isBucket
            ? {
                option: {
                  label: 'Also skip complete slots',
                  checked: includeComplete,
                  onChange: setIncludeComplete,
                },
              }
            : {})}
          onPreview={async (reason) =>
            summarizeSkip(
              await skip.mutateAsync({
                targets: [slots],
                reason,
                dryRun: true,
                includeComplete: skipsComplete,
              }),
              true,
            )
          }
          onConfirm={async (reason) =>
            summarizeSkip(
              await skip.mutateAsync({
                targets: [slots],
                reason,
                dryRun: false,
                includeComplete: skipsComplete,
              }),
              false,
            )
          }
        />
      ) : null}
      {canBackfill ? (
        <ActionFlow
          label="Backfill"
          description="Creates the missing slots here as AVAILABLE, so that workers process them."
          disabledReason={auth.writeBlockedReason}
          needsReason={false}
          onBegin={begin}
          onPreview={async () =>
            summarizeBackfill(await backfill.mutateAsync({ targets: [range], dryRun: true }), true)
          }
          onConfirm={async () =>
            summarizeBackfill(await backfill.mutateAsync({ targets: [range], dryRun: false }), false)
          }
        />
      ) : null}
    </SidePanel>
  );
}
