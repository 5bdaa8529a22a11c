import { useRef, useState } from 'react';
import type { TokenDialogState } from '../hooks/use-auth.ts';
import { useFocusTrap } from '../hooks/use-focus-trap.ts';

/** Asks for the API token (kept for this browser session only) and says when it was rejected. */
export function TokenDialog({ dialog }: { dialog: TokenDialogState }) {
  const ref = useRef<HTMLDivElement>(null);
  const [value, setValue] = useState('');
  useFocusTrap(ref, dialog.isOpen, dialog.cancel);
  if (!dialog.isOpen) return null;
  return (
    <div className="backdrop">
      <div
        ref={ref}
        className="dialog"
        data-testid="token-dialog"
        role="dialog"
        aria-modal="true"
        aria-labelledby="token-title"
        aria-describedby="token-help"
      >
        <h2 id="token-title">Sign in with the API token</h2>
        <p id="token-help">
          Changes (re-queue, skip, backfill) need the token the API sidecar was started with. It is kept for
          this browser session only.
        </p>
        <form
          onSubmit={(event) => {
            event.preventDefault();
            dialog.submit(value);
          }}
        >
          <label className="block">
            API token
            <input
              type="password"
              autoComplete="off"
              value={value}
              onChange={(event) => setValue(event.target.value)}
            />
          </label>
          {dialog.error ? (
            <p className="error" role="alert">
              {dialog.error}
            </p>
          ) : null}
          <div className="buttons">
            <button type="submit" className="primary" disabled={dialog.isVerifying}>
              {dialog.isVerifying ? 'Checking…' : 'Sign in'}
            </button>
            <button type="button" onClick={dialog.cancel}>
              Cancel
            </button>
          </div>
        </form>
      </div>
    </div>
  );
}
