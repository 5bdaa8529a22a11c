import { useMemo, useState } from 'react';
import { ErrorMessage } from '../components/ErrorMessage.tsx';
import { FailuresTable } from '../components/FailuresTable.tsx';
import type { LiveStatus } from '../hooks/use-event-stream.ts';
import { useFailures } from '../hooks/use-failures.ts';
import { cellHash } from '../hooks/use-hash-route.ts';
import { useTimeZone } from '../hooks/use-time-zone.ts';
import { type FailureSort, sortFailures } from '../lib/sort-failures.ts';

/** Failing slots across every name (`GET /api/tasks?failing=true`), sortable, each linking to its cell. */
export function FailuresPage({ live }: { live: LiveStatus }) {
  const [zone] = useTimeZone();
  const [sort, setSort] = useState<FailureSort>('attempts');
  const query = useFailures(live);
  const tasks = useMemo(
    () => sortFailures(query.data?.pages.flatMap((page) => page.tasks) ?? [], sort),
    [query.data, sort],
  );
  return (
    <section className="failures-page" aria-labelledby="failures-title">
      <h2 id="failures-title">Failures</h2>
      <p className="muted">
        Slots that failed at least once and wait for another attempt. Open one to read its message and
        history, or to re-queue it now.
      </p>
      {query.error ? (
        <ErrorMessage
          title="Could not load the failures."
          error={query.error}
          onRetry={() => void query.refetch()}
        />
      ) : null}
      {query.isPending && !query.error ? <p aria-live="polite">Loading failures…</p> : null}
      {query.data && tasks.length === 0 ? <p className="notice">No failing slots. All is well.</p> : null}
      {tasks.length > 0 ? (
        <FailuresTable
          tasks={tasks}
          sort={sort}
          zone={zone}
          now={new Date()}
          hrefOf={(task) => cellHash(task.name, task.slot)}
          onSort={setSort}
        />
      ) : null}
      {query.hasNextPage ? (
        <button type="button" onClick={() => void query.fetchNextPage()} disabled={query.isFetchingNextPage}>
          {query.isFetchingNextPage ? 'Loading…' : 'Load more'}
        </button>
      ) : null}
    </section>
  );
}
