import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { render } from '@testing-library/react';
import type { ReactNode } from 'react';
import { App } from '../../src/App.tsx';
import { AuthProvider } from '../../src/hooks/use-auth.ts';

/** Renders `ui` with a fresh query client (no retries) and the auth provider. */
export function renderWithProviders(ui: ReactNode) {
  const client = new QueryClient({
    defaultOptions: { queries: { retry: false }, mutations: { retry: false } },
  });
  return render(
    <QueryClientProvider client={client}>
      <AuthProvider>{ui}</AuthProvider>
    </QueryClientProvider>,
  );
}

/** Renders the whole dashboard. */
export function renderApp() {
  return renderWithProviders(<App />);
}
