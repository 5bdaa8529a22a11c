import { describeError } from '../api/client.ts';

/** An error in words, announced to screen readers, with an optional retry. */
export function ErrorMessage({
  title,
  error,
  onRetry,
}: {
  title: string;
  error: unknown;
  onRetry?: () => void;
}) {
  return (
    <div className="error" role="alert">
      <strong>{title}</strong> <span>{describeError(error)}</span>
      {onRetry ? (
        <button type="button" onClick={onRetry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}
