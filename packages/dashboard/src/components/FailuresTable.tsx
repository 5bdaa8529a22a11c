import type { Task } from '../api/tasks.ts';
import { formatAgo } from '../lib/describe-cell.ts';
import type { FailureSort } from '../lib/sort-failures.ts';
import { formatInstant, type TimeZoneChoice } from '../lib/time.ts';

const COLUMNS: Array<{ key: FailureSort; label: string }> = [
  { key: 'name', label: 'Name' },
  { key: 'age', label: 'Slot (age)' },
  { key: 'attempts', label: 'Attempts' },
];

/** Failing slots across names with their messages; each links to its cell. */
export function FailuresTable({
  tasks,
  sort,
  zone,
  now,
  hrefOf,
  onSort,
}: {
  tasks: readonly Task[];
  sort: FailureSort;
  zone: TimeZoneChoice;
  now: Date;
  hrefOf: (task: Task) => string;
  onSort: (sort: FailureSort) => void;
}) {
  return (
    <table className="failures">
      <caption className="visually-hidden">Failing slots, sorted by {sort}</caption>
      <thead>
        <tr>
          {COLUMNS.map((column) => (
            <th key={column.key} scope="col" aria-sort={sort === column.key ? 'descending' : 'none'}>
              <button type="button" className="link" onClick={() => onSort(column.key)}>
                {column.label}
                {sort === column.key ? ' ▼' : ''}
              </button>
            </th>
          ))}
          <th scope="col">Next attempt</th>
          <th scope="col">Message</th>
        </tr>
      </thead>
      <tbody>
        {tasks.map((task) => (
          <tr key={`${task.name}@${task.slot.toISOString()}`}>
            <td>{task.name}</td>
            <td>
              <a href={hrefOf(task)}>{formatInstant(task.slot, zone)}</a>{' '}
              <span className="muted">({formatAgo(task.slot, now)})</span>
            </td>
            <td className="num">{task.failedAttempts}</td>
            <td>
              {task.hasGivenUp
                ? 'none: gave up (re-queue to retry)'
                : task.nextAttemptAt
                  ? formatAgo(task.nextAttemptAt, now)
                  : '—'}
            </td>
            <td>
              <code className="clip">{task.message ?? ''}</code>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
