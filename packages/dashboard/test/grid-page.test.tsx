import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { TOKEN_STORAGE_KEY } from '../src/hooks/use-auth.ts';
import { TIME_ZONE_STORAGE_KEY } from '../src/hooks/use-time-zone.ts';
import { detailHandler, gridHandler, TOKEN, whoamiHandler } from './support/app-api.ts';
import { contextOf } from './support/fake-canvas.ts';
import { FROM, STEP, wireGrid, wireTask } from './support/fixtures.ts';
import { apiError, FakeEventSource, json, route, stubEventSource, stubFetch } from './support/network.ts';
import { renderApp } from './support/render.tsx';

async function drawnGrid() {
  const grid = await screen.findByTestId('grid');
  await waitFor(() => expect(grid).toHaveAttribute('data-cells', '12'));
  return grid;
}

/** Every element laid out before `element` in the page (its ancestors excluded): what could push it down. */
function elementsBefore(element: Element): Element[] {
  return Array.from(document.body.querySelectorAll('*')).filter(
    (other) =>
      !other.contains(element) && other.compareDocumentPosition(element) & Node.DOCUMENT_POSITION_FOLLOWING,
  );
}

/** Client coordinates of a cell of {@link smallGrid} (jsdom: the canvas sits at 0,0 and is 800 px wide). */
function cellPoint(rowIndex: number, cellIndex: number) {
  return { clientX: (cellIndex + 0.5) * (800 / 6), clientY: rowIndex * 24 + 12 };
}

function description() {
  return document.getElementById('grid-focus-description')?.textContent ?? '';
}

describe('grid page', () => {
  it('asks for as many columns as the width holds and draws every cell once, exposing the draw time', async () => {
    const seen = stubFetch(whoamiHandler(), gridHandler());
    renderApp();
    const grid = await drawnGrid();
    const request = seen.find((r) => r.url.pathname === '/api/grid');
    // jsdom has no layout: the width falls back to 800 px, i.e. 266 cells of 3 px.
    expect(request?.url.searchParams.get('columns')).toBe('266');
    expect(contextOf(grid).ops('rect')).toHaveLength(12);
    expect(Number(grid.getAttribute('data-draw-ms'))).toBeGreaterThanOrEqual(0);
    expect(screen.getByRole('list', { name: 'Task names' })).toHaveTextContent(
      /alpha5 min.*1 failing.*1 missing/,
    );
  });

  it('counts the states of the window in the legend and filters rows by state', async () => {
    stubFetch(whoamiHandler(), gridHandler());
    renderApp();
    await drawnGrid();
    const user = userEvent.setup();
    const running = screen.getByRole('button', { name: /Running 1/ });
    expect(screen.getByRole('button', { name: /Complete 5/ })).toBeInTheDocument();
    await user.click(running);
    expect(running).toHaveAttribute('aria-pressed', 'true');
    const names = screen.getByRole('list', { name: 'Task names' });
    expect(
      within(names)
        .getAllByRole('listitem')
        .map((li) => li.textContent),
    ).toEqual([expect.stringContaining('beta')]);
  });

  it('moves the keyboard focus with the arrow keys, describes the focused cell, and opens it with Enter', async () => {
    stubFetch(whoamiHandler(), gridHandler(), detailHandler());
    renderApp();
    const grid = await drawnGrid();
    const user = userEvent.setup();
    act(() => grid.focus());
    await waitFor(() => expect(description()).toMatch(/^alpha, 2026-11-28 00:00 – 00:05 UTC, Complete/));
    await user.keyboard('{ArrowRight}');
    expect(description()).toMatch(/alpha, .*Failing, 3 failed attempts, message: timeout/);
    await user.keyboard('{ArrowDown}');
    expect(description()).toMatch(/beta, .*Running, held by worker-7/);
    await user.keyboard('{Enter}');
    const panel = await screen.findByTestId('side-panel');
    expect(within(panel).getByRole('heading', { level: 2 })).toHaveTextContent('beta');
    expect(await within(panel).findByRole('button', { name: 'Re-queue…' })).toBeDisabled();
    await user.keyboard('{Escape}');
    expect(screen.queryByTestId('side-panel')).not.toBeInTheDocument();
  });

  it('selects a range with shift+arrows and backfills its gaps after a dry-run preview', async () => {
    sessionStorage.setItem(TOKEN_STORAGE_KEY, TOKEN);
    const seen = stubFetch(
      whoamiHandler(),
      gridHandler(),
      route('POST', '/api/backfill', (r) =>
        json({ created: r.body?.dryRun ? 1 : 1, slots: [new Date(FROM + 2 * STEP).toISOString()] }),
      ),
    );
    renderApp();
    const grid = await drawnGrid();
    const user = userEvent.setup();
    act(() => grid.focus());
    await user.keyboard('{Shift>}{ArrowRight}{ArrowRight}{/Shift}');
    const bar = await screen.findByTestId('selection-bar');
    expect(bar).toHaveTextContent('Selected: alpha, 2026-11-28 00:00 – 00:15 UTC');
    expect(bar).toHaveTextContent('1 failing, 1 missing, 1 complete');
    expect(within(bar).getByRole('button', { name: 'Re-queue…' })).toBeEnabled();
    await user.click(within(bar).getByRole('button', { name: 'Backfill…' }));
    await user.click(within(bar).getByRole('button', { name: 'Preview backfill' }));
    expect(await within(bar).findByText(/1 missing slot will be created/)).toBeInTheDocument();
    const posts = seen.filter((r) => r.method === 'POST');
    expect(posts.map((r) => r.body)).toEqual([
      {
        name: 'alpha',
        from: new Date(FROM).toISOString(),
        to: new Date(FROM + 3 * STEP).toISOString(),
        dryRun: true,
      },
    ]);
    await user.click(within(bar).getByRole('button', { name: 'Confirm backfill' }));
    expect(await within(bar).findByText(/Created 1 slot/)).toBeInTheDocument();
    expect(seen.filter((r) => r.method === 'POST')[1]?.body).toMatchObject({ dryRun: false });
  });

  it('shows the selection bar below the grid, so a selection made mid-drag never moves the canvas', async () => {
    stubFetch(whoamiHandler(), gridHandler());
    renderApp();
    const grid = await drawnGrid();
    const before = elementsBefore(grid);
    fireEvent.mouseDown(grid, { button: 0, ...cellPoint(0, 0) });
    fireEvent.mouseMove(grid, cellPoint(0, 2));
    const bar = await screen.findByTestId('selection-bar');
    expect(bar).toHaveTextContent('Selected: alpha, 2026-11-28 00:00 – 00:15 UTC');
    expect(grid.compareDocumentPosition(bar) & Node.DOCUMENT_POSITION_FOLLOWING).toBeTruthy();
    expect(elementsBefore(grid)).toEqual(before);
    fireEvent.mouseMove(grid, cellPoint(1, 3));
    fireEvent.mouseUp(grid, cellPoint(1, 3));
    expect(bar).toHaveTextContent('Selected: 2 names, 2026-11-28 00:00 – 00:20 UTC');
    expect(screen.queryByTestId('side-panel')).not.toBeInTheDocument();
  });

  it('hides the hover tooltip while the side panel is open, and when the pointer leaves the grid', async () => {
    stubFetch(whoamiHandler(), gridHandler(), detailHandler());
    renderApp();
    const grid = await drawnGrid();
    fireEvent.mouseMove(grid, cellPoint(0, 1));
    expect(await screen.findByTestId('tooltip')).toHaveTextContent('alpha');
    fireEvent.mouseDown(grid, { button: 0, ...cellPoint(0, 1) });
    fireEvent.mouseUp(grid, cellPoint(0, 1));
    expect(await screen.findByTestId('side-panel')).toBeInTheDocument();
    expect(screen.queryByTestId('tooltip')).not.toBeInTheDocument();
    // Moving over the grid's uncovered part must not bring it back under the panel.
    fireEvent.mouseMove(grid, cellPoint(1, 0));
    await act(() => new Promise((resolve) => requestAnimationFrame(resolve)));
    expect(screen.queryByTestId('tooltip')).not.toBeInTheDocument();
    await userEvent.setup().keyboard('{Escape}');
    expect(await screen.findByTestId('tooltip')).toHaveTextContent('beta');
    fireEvent.mouseLeave(grid);
    expect(screen.queryByTestId('tooltip')).not.toBeInTheDocument();
  });

  it('selects a whole column across rows with C', async () => {
    stubFetch(whoamiHandler(), gridHandler());
    renderApp();
    const grid = await drawnGrid();
    const user = userEvent.setup();
    act(() => grid.focus());
    await user.keyboard('{ArrowRight}c');
    expect(await screen.findByTestId('selection-bar')).toHaveTextContent(
      'Selected: 2 names, 2026-11-28 00:05 – 00:10 UTC',
    );
  });

  it('explains how to create task names when there are none', async () => {
    stubFetch(
      whoamiHandler(),
      gridHandler(() => wireGrid([], 6)),
    );
    renderApp();
    expect(await screen.findByRole('heading', { name: 'No task names yet' })).toBeInTheDocument();
    expect(screen.getByText(/pnpm dtm backfill/)).toBeInTheDocument();
    expect(screen.getByText(/createTasks/)).toBeInTheDocument();
  });

  it('shows an API error in words with a retry', async () => {
    stubFetch(
      whoamiHandler(),
      route('GET', '/api/grid', () => apiError(503, 'UNAVAILABLE', 'database down')),
    );
    renderApp();
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent(
      'Could not load the grid. The API cannot reach its database: database down',
    );
    expect(within(alert).getByRole('button', { name: 'Try again' })).toBeInTheDocument();
  });

  it('refetches the grid on a live transition and falls back to polling when the stream drops', async () => {
    stubEventSource();
    const seen = stubFetch(whoamiHandler(), gridHandler());
    renderApp();
    await drawnGrid();
    const status = screen.getByTestId('live-status');
    expect(status).toHaveAttribute('data-status', 'connecting');
    const source = FakeEventSource.latest();
    expect(source.url).toBe('/api/events');
    act(() => source.emit('ready'));
    expect(status).toHaveAttribute('data-status', 'live');
    expect(status).toHaveTextContent(/Live · updated/);
    const before = seen.filter((r) => r.url.pathname === '/api/grid').length;
    act(() =>
      source.emit('transition', {
        name: 'alpha',
        slot: new Date(FROM).toISOString(),
        from: 'COMPLETE',
        to: 'AVAILABLE',
        actor: 'ops',
        at: new Date().toISOString(),
      }),
    );
    await waitFor(() => expect(seen.filter((r) => r.url.pathname === '/api/grid').length).toBe(before + 1), {
      timeout: 3000,
    });
    act(() => source.emit('error'));
    expect(status).toHaveAttribute('data-status', 'polling');
    expect(status).toHaveTextContent('polling every 10 s');
  });

  it('refetches the grid when holders change without a transition, and everything on resync', async () => {
    stubEventSource();
    const seen = stubFetch(whoamiHandler(), gridHandler());
    renderApp();
    await drawnGrid();
    const source = FakeEventSource.latest();
    act(() => source.emit('ready'));
    const grids = () => seen.filter((r) => r.url.pathname === '/api/grid').length;
    const before = grids();
    act(() => source.emit('holders', { names: ['alpha'] }));
    await waitFor(() => expect(grids()).toBe(before + 1), { timeout: 3000 });
    const whoamis = () => seen.filter((r) => r.url.pathname === '/api/whoami').length;
    const whoamisBefore = whoamis();
    act(() => source.emit('resync', { reason: 'reconnected' }));
    await waitFor(() => expect(grids()).toBe(before + 2), { timeout: 3000 });
    await waitFor(() => expect(whoamis()).toBe(whoamisBefore + 1), { timeout: 3000 });
  });

  it('remembers the UTC or local choice', async () => {
    stubFetch(whoamiHandler(), gridHandler());
    renderApp();
    await drawnGrid();
    const user = userEvent.setup();
    expect(screen.getByRole('button', { name: 'UTC' })).toHaveAttribute('aria-pressed', 'true');
    await user.click(screen.getByRole('button', { name: 'Local' }));
    expect(localStorage.getItem(TIME_ZONE_STORAGE_KEY)).toBe('local');
    expect(screen.getByRole('button', { name: 'Local' })).toHaveAttribute('aria-pressed', 'true');
  });
});

describe('failures view', () => {
  it('lists failing slots across names, sortable by attempts, age and name, each linking to its cell', async () => {
    const seen = stubFetch(
      whoamiHandler(),
      gridHandler(),
      route('GET', '/api/tasks', () =>
        json({
          tasks: [
            wireTask({
              name: 'zeta',
              state: 'AVAILABLE',
              failedAttempts: 2,
              message: 'boom',
              slot: new Date(FROM).toISOString(),
            }),
            wireTask({
              name: 'alpha',
              state: 'AVAILABLE',
              failedAttempts: 9,
              message: 'timeout',
              slot: new Date(FROM + STEP).toISOString(),
            }),
          ],
          nextCursor: null,
        }),
      ),
    );
    window.location.hash = '#/failures';
    renderApp();
    const table = await screen.findByRole('table');
    expect(seen.find((r) => r.url.pathname === '/api/tasks')?.url.searchParams.get('failing')).toBe('true');
    const names = () =>
      within(table)
        .getAllByRole('row')
        .slice(1)
        .map((row) => within(row).getAllByRole('cell')[0]?.textContent);
    expect(names()).toEqual(['alpha', 'zeta']);
    const user = userEvent.setup();
    await user.click(within(table).getByRole('button', { name: /Slot \(age\)/ }));
    expect(names()).toEqual(['zeta', 'alpha']);
    await user.click(within(table).getByRole('button', { name: /Name/ }));
    expect(names()).toEqual(['alpha', 'zeta']);
    const link = within(table).getByRole('link', { name: '2026-11-28 00:05' });
    expect(link).toHaveAttribute(
      'href',
      `#/?name=alpha&slot=${encodeURIComponent(new Date(FROM + STEP).toISOString())}`,
    );
  });
});
