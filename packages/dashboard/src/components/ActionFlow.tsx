import { useCallback, useId, useRef, useState } from 'react';
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
  // Every step replaces the element that had focus (the button just pressed). Left alone, focus falls to
  // <body>, out of the side panel's focus trap, so Escape and Tab stop working there. So each step marks
  // one element to take focus: the field to fill in, or the message that says what happened.
  const isMovingFocus = useRef(false);
  const takeFocusOnStep = useCallback((element: HTMLElement | null) => {
    if (!element || !isMovingFocus.current) return;
    isMovingFocus.current = false;
    element.focus();
  }, []);
  // Only steps the user takes move focus: mounting the flows (three per panel) must not steal it.
  const goTo = (next: Step) => {
    isMovingFocus.current = true;
    setStep(next);
  };

  const run = async (kind: 'previewing' | 'running') => {
    goTo({ kind });
    try {
      const summary = await (kind === 'previewing'
        ? props.onPreview(reason.trim())
        : props.onConfirm(reason.trim()));
      goTo(kind === 'previewing' ? { kind: 'preview', summary } : { kind: 'done', summary });
    } catch (error) {
      goTo({ kind: 'error', message: describeError(error) });
    }
  };

  if (step.kind === 'idle') {
    return (
      <div className="action">
        <button
          ref={takeFocusOnStep}
          type="button"
          disabled={props.disabledReason !== null}
          aria-describedby={props.disabledReason ? `${id}-why` : undefined}
          onClick={async () => {
            if (await props.onBegin()) goTo({ kind: 'form' });
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
                ref={takeFocusOnStep}
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
            <button
              ref={needsReason ? undefined : takeFocusOnStep}
              type="submit"
              disabled={needsReason && reason.trim() === ''}
            >
              Preview {verb}
            </button>
            <button type="button" onClick={() => goTo({ kind: 'idle' })}>
              Cancel
            </button>
          </div>
        </form>
      ) : null}
      {step.kind === 'previewing' ? (
        <p ref={takeFocusOnStep} tabIndex={-1} aria-live="polite">
          Checking what would change…
        </p>
      ) : null}
      {step.kind === 'preview' ? (
        <div>
          <p ref={takeFocusOnStep} tabIndex={-1} className="preview" role="status">
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
            <button type="button" onClick={() => goTo({ kind: 'form' })}>
              Back
            </button>
          </div>
        </div>
      ) : null}
      {step.kind === 'running' ? (
        <p ref={takeFocusOnStep} tabIndex={-1} aria-live="polite">
          Working…
        </p>
      ) : null}
      {step.kind === 'done' ? (
        <div>
          <p ref={takeFocusOnStep} tabIndex={-1} className="outcome" role="status">
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
              goTo({ kind: 'idle' });
            }}
          >
            Done
          </button>
        </div>
      ) : null}
      {step.kind === 'error' ? (
        <div>
          <p ref={takeFocusOnStep} tabIndex={-1} className="error" role="alert">
            {step.message}
          </p>
          <button type="button" onClick={() => goTo({ kind: 'form' })}>
            Back
          </button>
        </div>
      ) : null}
    </section>
  );
}
