import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { PanelTarget } from '../src/components/SidePanel.tsx';
import { TOKEN_STORAGE_KEY } from '../src/hooks/use-auth.ts';
import { SlotPanel } from '../src/pages/SlotPanel.tsx';
import { FROM, STEP, wireTask } from './support/fixtures.ts';
import { apiError, json, route, stubFetch } from './support/network.ts';
import { renderWithProviders } from './support/render.tsx';

const SLOT = new Date(FROM).toISOString();
const whoami = route('GET', '/api/whoami', (r) =>
  json({ isReadOnly: false, canWrite: r.authorization === 'Bearer s3cret', actor: 'ops' }),
);

function target(overrides: Partial<PanelTarget> = {}): PanelTarget {
  return {
    name: 'alpha',
    start: new Date(FROM),
    end: new Date(FROM + STEP),
    slotsPerCell: 1,
    cell: null,
    ...overrides,
  };
}

function detail(task: Record<string, unknown>, history: unknown[] = []) {
  return route('GET', `/api/tasks/alpha/${encodeURIComponent(SLOT)}`, () =>
    json({ task: wireTask(task), history }),
  );
}

function renderPanel(onClose = vi.fn()) {
  sessionStorage.setItem(TOKEN_STORAGE_KEY, 's3cret');
  renderWithProviders(<SlotPanel target={target()} zone="utc" onClose={onClose} onZoomIn={vi.fn()} />);
  return onClose;
}

describe('side panel', () => {
  it('shows the full record, the last message in monospace with a copy button, and the history oldest first', async () => {
    stubFetch(
      whoami,
      detail(
        { state: 'AVAILABLE', failedAttempts: 3, message: 'timeout after 30 s\n  at fetch (report.ts:42)' },
        [
          { id: 1, fromState: null, toState: 'AVAILABLE', actor: 'scheduler', message: null, at: SLOT },
          { id: 2, fromState: 'AVAILABLE', toState: 'ACQUIRED', actor: 'worker-1', message: null, at: SLOT },
          {
            id: 3,
            fromState: 'ACQUIRED',
            toState: 'AVAILABLE',
            actor: 'worker-1',
            message: 'timeout',
            at: SLOT,
          },
        ],
      ),
    );
    renderPanel();
    const panel = await screen.findByTestId('side-panel');
    expect(await within(panel).findByText('Failing')).toBeInTheDocument();
    expect(within(panel).getByText('Failed attempts').nextElementSibling).toHaveTextContent('3');
    const message = within(panel).getByText(/timeout after 30 s/);
    expect(message.tagName).toBe('PRE');
    expect(message.textContent).toContain('at fetch (report.ts:42)');
    expect(within(panel).getByRole('button', { name: 'Copy message' })).toBeInTheDocument();
    const entries = within(panel).getAllByRole('listitem');
    expect(entries.map((li) => li.textContent)).toEqual([
      expect.stringContaining('created → AVAILABLE'),
      expect.stringContaining('AVAILABLE → ACQUIRED'),
      expect.stringContaining('ACQUIRED → AVAILABLE'),
    ]);
    expect(entries[2]).toHaveTextContent('by worker-1');
  });

  it('disables re-queue and skip for a running slot and says why', async () => {
    stubFetch(
      whoami,
      detail({ state: 'ACQUIRED', completedAt: null, holder: { worker: 'worker-7', since: SLOT } }),
    );
    renderPanel();
    const requeue = await screen.findByRole('button', { name: 'Re-queue…' });
    expect(requeue).toBeDisabled();
    expect(requeue).toHaveAccessibleDescription(/worker is running this slot right now/);
    expect(screen.getByRole('button', { name: 'Skip…' })).toBeDisabled();
    expect(screen.getByText('Holder').nextElementSibling).toHaveTextContent('worker-7');
  });

  it('says that a slot gave up and that re-queueing it retries it', async () => {
    stubFetch(
      whoami,
      detail({
        state: 'AVAILABLE',
        failedAttempts: 5,
        hasGivenUp: true,
        message: 'gave up after 5 attempts: source unreachable',
      }),
    );
    renderPanel();
    const panel = await screen.findByTestId('side-panel');
    expect(await within(panel).findByText('Failing')).toBeInTheDocument();
    expect(within(panel).getByText('Next attempt').nextElementSibling).toHaveTextContent(
      'none: gave up after 5 attempts — re-queue to retry',
    );
    expect(within(panel).getByRole('button', { name: 'Re-queue…' })).toBeEnabled();
  });

  it('previews a re-queue with a dry run, says what will happen, and changes nothing before confirmation', async () => {
    const seen = stubFetch(
      whoami,
      detail({ state: 'COMPLETE' }),
      route('POST', '/api/requeue', () =>
        json({
          outcomes: [{ slot: SLOT, outcome: 'requeued' }],
          counts: { requeued: 1, busy: 0, notFound: 0, unchanged: 0 },
        }),
      ),
    );
    renderPanel();
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Re-queue…' }));
    expect(screen.getByText(/This complete slot becomes AVAILABLE again/)).toBeInTheDocument();
    await user.type(screen.getByRole('textbox', { name: /Reason/ }), 'late data arrived');
    await user.click(screen.getByRole('button', { name: 'Preview re-queue' }));
    expect(await screen.findByText(/1 slot will be re-queued/)).toBeInTheDocument();
    const posts = () => seen.filter((r) => r.method === 'POST');
    expect(posts()).toHaveLength(1);
    expect(posts()[0]?.body).toEqual({
      name: 'alpha',
      slots: [SLOT],
      reason: 'late data arrived',
      dryRun: true,
    });
    expect(posts()[0]?.authorization).toBe('Bearer s3cret');

    await user.click(screen.getByRole('button', { name: 'Confirm re-queue' }));
    expect(await screen.findByText('Outcome: requeued.')).toBeInTheDocument();
    expect(posts()).toHaveLength(2);
    expect(posts()[1]?.body).toMatchObject({ dryRun: false, reason: 'late data arrived' });
  });

  it('shows a busy outcome when a worker took the slot meanwhile', async () => {
    stubFetch(
      whoami,
      detail({ state: 'COMPLETE' }),
      route('POST', '/api/requeue', (r) =>
        r.body?.dryRun
          ? json({
              outcomes: [{ slot: SLOT, outcome: 'requeued' }],
              counts: { requeued: 1, busy: 0, notFound: 0, unchanged: 0 },
            })
          : apiError(409, 'BUSY', 'every slot asked for is held by a worker'),
      ),
    );
    renderPanel();
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Re-queue…' }));
    await user.type(screen.getByRole('textbox', { name: /Reason/ }), 'again');
    await user.click(screen.getByRole('button', { name: 'Preview re-queue' }));
    await user.click(await screen.findByRole('button', { name: 'Confirm re-queue' }));
    expect(await screen.findByRole('alert')).toHaveTextContent(
      /A worker holds the slot right now, so nothing was changed/,
    );
  });

  it('shows an unchanged outcome and offers no confirmation when nothing would change', async () => {
    stubFetch(
      whoami,
      detail({ state: 'SKIP', message: 'source down' }),
      route('POST', '/api/skip', () =>
        json({
          outcomes: [{ slot: SLOT, outcome: 'unchanged' }],
          counts: { skipped: 0, busy: 0, unchanged: 1 },
        }),
      ),
    );
    renderPanel();
    const user = userEvent.setup();
    expect(await screen.findByRole('heading', { name: 'Reason' })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Re-queue (un-skip)…' })).toBeEnabled();
    await user.click(screen.getByRole('button', { name: 'Skip…' }));
    await user.type(screen.getByRole('textbox', { name: /Reason/ }), 'x');
    await user.click(screen.getByRole('button', { name: 'Preview skip' }));
    expect(await screen.findByText(/Nothing would be skipped. 1 slot unchanged/)).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Confirm skip' })).toBeDisabled();
  });

  it('explains that a slot before the name’s first slot is not a gap', async () => {
    stubFetch(
      whoami,
      route('GET', /^\/api\/tasks\//, () => apiError(404, 'NOT_FOUND', 'no such slot')),
    );
    const cell = {
      start: new Date(FROM),
      end: new Date(FROM + STEP),
      state: 'BEFORE_FIRST' as const,
      counts: { BEFORE_FIRST: 1 },
      failedAttempts: 0,
      message: null,
      holder: null,
    };
    sessionStorage.setItem(TOKEN_STORAGE_KEY, 's3cret');
    renderWithProviders(
      <SlotPanel target={target({ cell })} zone="utc" onClose={vi.fn()} onZoomIn={vi.fn()} />,
    );
    expect(await screen.findByText(/before the name's first slot .* it is not a gap/)).toBeInTheDocument();
    expect(screen.queryByText(/it is a gap \(MISSING\)/)).not.toBeInTheDocument();
  });

  it('explains a gap and offers backfill with a preview', async () => {
    const seen = stubFetch(
      whoami,
      route('GET', /^\/api\/tasks\//, () => apiError(404, 'NOT_FOUND', 'no such slot')),
      route('POST', '/api/backfill', (r) => json({ created: 1, slots: [SLOT], echo: r.body })),
    );
    renderPanel();
    const user = userEvent.setup();
    expect(await screen.findByText(/it is a gap \(MISSING\)/)).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Re-queue…' })).not.toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Backfill…' }));
    await user.click(screen.getByRole('button', { name: 'Preview backfill' }));
    expect(await screen.findByText(/1 missing slot will be created as AVAILABLE/)).toBeInTheDocument();
    expect(seen.find((r) => r.method === 'POST')?.body).toEqual({
      name: 'alpha',
      from: SLOT,
      to: new Date(FROM + STEP).toISOString(),
      dryRun: true,
    });
  });

  it('moves focus to the outcome after a confirmed re-queue, so Tab and Escape still work in the panel', async () => {
    stubFetch(
      whoami,
      detail({ state: 'COMPLETE' }),
      route('POST', '/api/requeue', () =>
        json({
          outcomes: [{ slot: SLOT, outcome: 'requeued' }],
          counts: { requeued: 1, busy: 0, notFound: 0, unchanged: 0 },
        }),
      ),
    );
    const onClose = renderPanel();
    const user = userEvent.setup();
    const panel = await screen.findByTestId('side-panel');
    await user.click(await screen.findByRole('button', { name: 'Re-queue…' }));
    expect(screen.getByRole('textbox', { name: /Reason/ })).toHaveFocus();
    await user.keyboard('late data');
    await user.click(screen.getByRole('button', { name: 'Preview re-queue' }));
    expect(await screen.findByText(/1 slot will be re-queued/)).toHaveFocus();
    await user.click(screen.getByRole('button', { name: 'Confirm re-queue' }));
    const outcome = await screen.findByText('Outcome: requeued.');
    await waitFor(() => expect(outcome.closest('p')).toHaveFocus());
    await user.tab();
    expect(screen.getByRole('button', { name: 'Done' })).toHaveFocus();
    await user.keyboard('{Enter}');
    expect(screen.getByRole('button', { name: 'Re-queue…' })).toHaveFocus();
    expect(panel).toContainElement(document.activeElement as HTMLElement);
    await user.keyboard('{Escape}');
    expect(onClose).toHaveBeenCalled();
  });

  it('keeps the backfill outcome and the focus on it when the refetch finds the new row', async () => {
    let isBackfilled = false;
    stubFetch(
      whoami,
      route('GET', /^\/api\/tasks\//, () =>
        isBackfilled
          ? json({ task: wireTask({ state: 'AVAILABLE' }), history: [] })
          : apiError(404, 'NOT_FOUND', 'no such slot'),
      ),
      route('POST', '/api/backfill', (r) => {
        if (!r.body?.dryRun) isBackfilled = true;
        return json({ created: 1, slots: [SLOT] });
      }),
    );
    const onClose = renderPanel();
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Backfill…' }));
    await user.click(screen.getByRole('button', { name: 'Preview backfill' }));
    await user.click(await screen.findByRole('button', { name: 'Confirm backfill' }));
    const outcome = await screen.findByText(/Created 1 slot/);
    // The refetched row brings the re-queue action; the backfill outcome stays where it was.
    expect(await screen.findByRole('button', { name: 'Re-queue…' })).toBeInTheDocument();
    expect(outcome).toBeInTheDocument();
    expect(outcome.closest('p')).toHaveFocus();
    await user.keyboard('{Escape}');
    expect(onClose).toHaveBeenCalled();
  });

  it('closes on Escape and keeps Tab inside the panel', async () => {
    stubFetch(whoami, detail({ state: 'COMPLETE' }));
    const onClose = renderPanel();
    const user = userEvent.setup();
    const panel = await screen.findByTestId('side-panel');
    await screen.findByRole('button', { name: 'Re-queue…' });
    await waitFor(() =>
      expect(panel).toContainElement(
        document.activeElement instanceof HTMLElement ? document.activeElement : null,
      ),
    );
    for (let i = 0; i < 6; i++) {
      await user.tab();
      expect(panel).toContainElement(
        document.activeElement instanceof HTMLElement ? document.activeElement : null,
      );
    }
    await user.keyboard('{Escape}');
    expect(onClose).toHaveBeenCalled();
  });
});
