import { useId, useState } from 'react';
import { describeError } from '../api/client.ts';
import type { ActionSummary } from '../lib/outcomes.ts';

/** Props of {@link ActionFlow}. */
export interface ActionFlowProps {
  /** The action's name, e.g. `Re-queue`. */
  label: string;
  /** What the action does, in general, shown before the preview. */
  description: string;
  /** Why the action cannot be used now (running slot, read-only server), or null. */
  disabledReason: string | null;
  /** Whether a reason must be given (re-queue and skip record it in the history). Default true. */
  needsReason?: boolean;
  /** An extra checkbox (e.g. "also skip COMPLETE slots"). */
  option?: { label: string; checked: boolean; onChange: (checked: boolean) => void };
  /** Called first (to get the API token); false cancels. */
  onBegin: () => Promise<boolean>;
  /** Asks the API what would change (`dryRun`). */
  onPreview: (reason: string) => Promise<ActionSummary>;
  /** Does it. */
  onConfirm: (reason: string) => Promise<ActionSummary>;
}

type Step =
  | { kind: 'idle' }
  | { kind: 'form' }
  | { kind: 'previewing' }
  | { kind: 'preview'; summary: ActionSummary }
  | { kind: 'running' }
  | { kind: 'done'; summary: ActionSummary }
  | { kind: 'error'; message: string };

/**
 * A write action in steps: the button, a reason, a preview of exactly what will change (the API's dry
 * run), a confirmation, then the outcome. Never changes anything before "Confirm".
 */
export function ActionFlow(props: ActionFlowProps) {
  const { label, needsReason = true } = props;
  const [step, setStep] = useState<Step>({ kind: 'idle' });
  const [reason, setReason] = useState('');
  const id = useId();
  const verb = label.toLowerCase();

  const run = async (kind: 'previewing' | 'running') => {
    setStep({ kind });
    try {
      const summary = await (kind === 'previewing'
        ? props.onPreview(reason.trim())
        : props.onConfirm(reason.trim()));
      setStep(kind === 'previewing' ? { kind: 'preview', summary } : { kind: 'done', summary });
    } catch (error) {
      setStep({ kind: 'error', message: describeError(error) });
    }
  };

  if (step.kind === 'idle') {
    return (
      <div className="action">
        <button
          type="button"
          disabled={props.disabledReason !== null}
          aria-describedby={props.disabledReason ? `${id}-why` : undefined}
          onClick={async () => {
            if (await props.onBegin()) setStep({ kind: 'form' });
          }}
        >
          {label}…
        </button>
        {props.disabledReason ? (
          <p id={`${id}-why`} className="why-disabled">
            {props.disabledReason}
          </p>
        ) : null}
      </div>
    );
  }

  return (
    <section className="action action-open" aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`}>{label}</h3>
      {step.kind === 'form' ? (
        <form
          onSubmit={(event) => {
            event.preventDefault();
            void run('previewing');
          }}
        >
          <p>{props.description}</p>
          {needsReason ? (
            <label className="block">
              Reason (kept in the history)
              <textarea
                value={reason}
                required
                maxLength={500}
                rows={2}
                onChange={(event) => setReason(event.target.value)}
              />
            </label>
          ) : null}
          {props.option ? (
            <label className="block-inline">
              <input
                type="checkbox"
                checked={props.option.checked}
                onChange={(event) => props.option?.onChange(event.target.checked)}
              />{' '}
              {props.option.label}
            </label>
          ) : null}
          <div className="buttons">
            <button type="submit" disabled={needsReason && reason.trim() === ''}>
              Preview {verb}
            </button>
            <button type="button" onClick={() => setStep({ kind: 'idle' })}>
              Cancel
            </button>
          </div>
        </form>
      ) : null}
      {step.kind === 'previewing' ? <p aria-live="polite">Checking what would change…</p> : null}
      {step.kind === 'preview' ? (
        <div>
          <p className="preview" role="status">
            <strong>Preview:</strong> {step.summary.text}
          </p>
          <p>Nothing has changed yet. Confirm to do it.</p>
          <div className="buttons">
            <button
              type="button"
              className="primary"
              disabled={step.summary.changes === 0}
              onClick={() => void run('running')}
            >
              Confirm {verb}
            </button>
            <button type="button" onClick={() => setStep({ kind: 'form' })}>
              Back
            </button>
          </div>
        </div>
      ) : null}
      {step.kind === 'running' ? <p aria-live="polite">Working…</p> : null}
      {step.kind === 'done' ? (
        <div>
          <p className="outcome" role="status">
            {step.summary.outcome ? (
              <>
                <strong>Outcome: {step.summary.outcome}.</strong>{' '}
              </>
            ) : null}
            {step.summary.text}
          </p>
          <button
            type="button"
            onClick={() => {
              setReason('');
              setStep({ kind: 'idle' });
            }}
          >
            Done
          </button>
        </div>
      ) : null}
      {step.kind === 'error' ? (
        <div>
          <p className="error" role="alert">
            {step.message}
          </p>
          <button type="button" onClick={() => setStep({ kind: 'form' })}>
            Back
          </button>
        </div>
      ) : null}
    </section>
  );
}
