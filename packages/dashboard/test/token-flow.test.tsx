import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { TOKEN_STORAGE_KEY } from '../src/hooks/use-auth.ts';
import { detailHandler, gridHandler, TOKEN, whoamiHandler } from './support/app-api.ts';
import { stubFetch } from './support/network.ts';
import { renderApp } from './support/render.tsx';

async function openFirstCell() {
  const user = userEvent.setup();
  const grid = await screen.findByTestId('grid');
  await waitFor(() => expect(grid).toHaveAttribute('data-cells', '12'));
  grid.focus();
  await user.keyboard('{Enter}');
  await screen.findByTestId('side-panel');
  return user;
}

describe('token flow', () => {
  it('asks for the token only when a write is tried, verifies it, and asks only once per session', async () => {
    const seen = stubFetch(whoamiHandler(), gridHandler(), detailHandler());
    renderApp();
    const user = await openFirstCell();
    expect(screen.queryByTestId('token-dialog')).not.toBeInTheDocument();

    await user.click(await screen.findByRole('button', { name: 'Re-queue…' }));
    const dialog = await screen.findByTestId('token-dialog');
    await user.type(within(dialog).getByLabelText('API token'), TOKEN);
    await user.click(within(dialog).getByRole('button', { name: 'Sign in' }));

    await waitFor(() => expect(screen.queryByTestId('token-dialog')).not.toBeInTheDocument());
    expect(sessionStorage.getItem(TOKEN_STORAGE_KEY)).toBe(TOKEN);
    expect(seen.some((r) => r.url.pathname === '/api/whoami' && r.authorization === `Bearer ${TOKEN}`)).toBe(
      true,
    );
    expect(screen.getByRole('textbox', { name: /Reason/ })).toBeInTheDocument();
    expect(screen.getByText(/Signed in as ops/)).toBeInTheDocument();

    await user.click(screen.getByRole('button', { name: 'Cancel' }));
    await user.click(screen.getByRole('button', { name: 'Skip…' }));
    expect(screen.queryByTestId('token-dialog')).not.toBeInTheDocument();
    expect(screen.getByRole('textbox', { name: /Reason/ })).toBeInTheDocument();
  });

  it('says clearly when the API rejects the token, and does not keep it', async () => {
    stubFetch(whoamiHandler(), gridHandler(), detailHandler());
    renderApp();
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Sign in' }));
    const dialog = await screen.findByTestId('token-dialog');
    await user.type(within(dialog).getByLabelText('API token'), 'wrong');
    await user.click(within(dialog).getByRole('button', { name: 'Sign in' }));
    expect(await within(dialog).findByRole('alert')).toHaveTextContent('The API rejected this token');
    expect(sessionStorage.getItem(TOKEN_STORAGE_KEY)).toBeNull();
    await user.keyboard('{Escape}');
    expect(screen.queryByTestId('token-dialog')).not.toBeInTheDocument();
  });

  it('forgets a stored token that the API no longer accepts and says so', async () => {
    sessionStorage.setItem(TOKEN_STORAGE_KEY, 'expired');
    stubFetch(whoamiHandler(), gridHandler(), detailHandler());
    renderApp();
    expect(await screen.findByText(/The API rejected your token/)).toBeInTheDocument();
    await waitFor(() => expect(sessionStorage.getItem(TOKEN_STORAGE_KEY)).toBeNull());
    expect(screen.getByRole('button', { name: 'Sign in again' })).toBeInTheDocument();
  });

  it('shows read-only mode and disables every write with the reason', async () => {
    const seen = stubFetch(whoamiHandler({ isReadOnly: true }), gridHandler(), detailHandler());
    renderApp();
    expect(await screen.findByText(/Read-only mode: the API has no token configured/)).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Sign in' })).not.toBeInTheDocument();
    await openFirstCell();
    const requeue = await screen.findByRole('button', { name: 'Re-queue…' });
    expect(requeue).toBeDisabled();
    expect(requeue).toHaveAccessibleDescription(/read-only/);
    expect(screen.getByRole('button', { name: 'Skip…' })).toBeDisabled();
    expect(seen.filter((r) => r.method === 'POST')).toHaveLength(0);
  });

  it('forgets the token and shows the rejection when a write answers 401', async () => {
    sessionStorage.setItem(TOKEN_STORAGE_KEY, TOKEN);
    stubFetch(whoamiHandler(), gridHandler(), detailHandler(), (r) =>
      r.method === 'POST'
        ? new Response(JSON.stringify({ error: { code: 'UNAUTHORIZED', message: 'token revoked' } }), {
            status: 401,
          })
        : undefined,
    );
    renderApp();
    const user = await openFirstCell();
    await user.click(await screen.findByRole('button', { name: 'Re-queue…' }));
    await user.type(screen.getByRole('textbox', { name: /Reason/ }), 'late data');
    await user.click(screen.getByRole('button', { name: 'Preview re-queue' }));
    expect(await screen.findByText(/The API rejected the token: token revoked/)).toBeInTheDocument();
    expect(await screen.findByText(/The API rejected your token/)).toBeInTheDocument();
    expect(sessionStorage.getItem(TOKEN_STORAGE_KEY)).toBeNull();
  });
});
