/** What to do when there are no task names yet. */
export function EmptyState() {
  return (
    <section className="empty" aria-labelledby="empty-title">
      <h2 id="empty-title">No task names yet</h2>
      <p>
        The grid shows one row per task name. A name appears once slots have been created for it, by a worker
        or by hand:
      </p>
      <pre>
        <code>pnpm dtm backfill report-counts --from 2026-11-01T00:00:00Z --to 2026-11-28T00:00:00Z</code>
      </pre>
      <p>
        or from code, with the core's <code>createTasks(…)</code> (or a worker started with{' '}
        <code>@dtm/core</code>'s worker runtime). This page updates by itself when they arrive.
      </p>
    </section>
  );
}
