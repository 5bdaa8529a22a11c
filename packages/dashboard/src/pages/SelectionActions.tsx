import { useState } from 'react';
import type { GridRow } from '../api/grid.ts';
import { ActionFlow } from '../components/ActionFlow.tsx';
import { SelectionBar } from '../components/SelectionBar.tsx';
import { useBackfill, useRequeue, useSkip } from '../hooks/use-actions.ts';
import { useAuth } from '../hooks/use-auth.ts';
import { summarizeBackfill, summarizeRequeue, summarizeSkip } from '../lib/outcomes.ts';
import { gapTargets, type Selection, summarizeSelection } from '../lib/selection.ts';
import type { TimeZoneChoice } from '../lib/time.ts';

/** The selection bar connected to the API: bulk re-queue, skip and backfill, each previewed first. */
export function SelectionActions({
  rows,
  selection,
  zone,
  onClear,
  onZoom,
}: {
  rows: readonly GridRow[];
  selection: Selection;
  zone: TimeZoneChoice;
  onClear: () => void;
  onZoom: () => void;
}) {
  const auth = useAuth();
  const requeue = useRequeue();
  const skip = useSkip();
  const backfill = useBackfill();
  const [includeComplete, setIncludeComplete] = useState(false);
  const parts = summarizeSelection(rows, selection);
  const sum = (pick: (c: (typeof parts)[number]['counts']) => number) =>
    parts.reduce((total, part) => total + pick(part.counts), 0);
  const requeueable = sum((c) => c.COMPLETE + c.SKIP + c.FAILING);
  const skippable = sum((c) => c.AVAILABLE + c.FAILING + c.MISSING + (includeComplete ? c.COMPLETE : 0));
  const missing = sum((c) => c.MISSING);
  const targets = selection.names.map((name) => ({ name, from: selection.from, to: selection.to }));
  const creatingTargets = gapTargets(rows, selection);
  const begin = async () => (await auth.ensureToken()) !== null;
  const blocked = auth.writeBlockedReason;
  // Keyed by the selection so that a new selection starts every flow afresh.
  const key = `${selection.names.join(',')}|${selection.from.getTime()}|${selection.to.getTime()}`;

  return (
    <SelectionBar selection={selection} parts={parts} zone={zone} onClear={onClear} onZoom={onZoom}>
      <ActionFlow
        key={`requeue-${key}`}
        label="Re-queue"
        description="Complete and skipped slots in the selection become AVAILABLE and failing ones become due now; workers process them again. Running slots are never touched; gaps are not created (use backfill)."
        disabledReason={
          blocked ?? (requeueable === 0 ? 'The selection has no complete, skipped or failing slots.' : null)
        }
        onBegin={begin}
        onPreview={async (reason) =>
          summarizeRequeue(await requeue.mutateAsync({ targets, reason, dryRun: true }), true)
        }
        onConfirm={async (reason) =>
          summarizeRequeue(await requeue.mutateAsync({ targets, reason, dryRun: false }), false)
        }
      />
      <ActionFlow
        key={`skip-${key}`}
        label="Skip"
        description="Pending, failing and missing slots in the selection become SKIP with your reason; no worker processes them. Running slots are never touched."
        disabledReason={
          blocked ?? (skippable === 0 && !includeComplete ? 'The selection has nothing to skip.' : null)
        }
        option={{ label: 'Also skip complete slots', checked: includeComplete, onChange: setIncludeComplete }}
        onBegin={begin}
        onPreview={async (reason) =>
          summarizeSkip(
            await skip.mutateAsync({ targets: creatingTargets, reason, dryRun: true, includeComplete }),
            true,
          )
        }
        onConfirm={async (reason) =>
          summarizeSkip(
            await skip.mutateAsync({ targets: creatingTargets, reason, dryRun: false, includeComplete }),
            false,
          )
        }
      />
      <ActionFlow
        key={`backfill-${key}`}
        label="Backfill"
        description="Creates the missing slots (gaps) in the selection as AVAILABLE, so that workers process them."
        disabledReason={blocked ?? (missing === 0 ? 'The selection has no missing slots.' : null)}
        needsReason={false}
        onBegin={begin}
        onPreview={async () =>
          summarizeBackfill(await backfill.mutateAsync({ targets: creatingTargets, dryRun: true }), true)
        }
        onConfirm={async () =>
          summarizeBackfill(await backfill.mutateAsync({ targets: creatingTargets, dryRun: false }), false)
        }
      />
    </SelectionBar>
  );
}
