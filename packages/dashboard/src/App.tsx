import { useCallback, useState } from 'react';
import { ErrorMessage } from './components/ErrorMessage.tsx';
import { LiveStatus } from './components/LiveStatus.tsx';
import { TokenDialog } from './components/TokenDialog.tsx';
import { useAuth } from './hooks/use-auth.ts';
import { useEventStream } from './hooks/use-event-stream.ts';
import { useHashRoute } from './hooks/use-hash-route.ts';
import { useTimeZone } from './hooks/use-time-zone.ts';
import { FailuresPage } from './pages/FailuresPage.tsx';
import { GridPage } from './pages/GridPage.tsx';

/** The dashboard: header (navigation, live status, sign-in), banners, and the page of the current route. */
export function App() {
  const auth = useAuth();
  const live = useEventStream();
  const [route] = useHashRoute();
  const [zone] = useTimeZone();
  const [updated, setUpdated] = useState<{ at: Date | null; isFetching: boolean }>({
    at: null,
    isFetching: false,
  });
  const onUpdated = useCallback((at: Date | null, isFetching: boolean) => setUpdated({ at, isFetching }), []);
  const isFailures = route.path === '/failures';

  return (
    <>
      <header className="app-header">
        <h1>DTM</h1>
        <nav aria-label="Views">
          <a href="#/" aria-current={isFailures ? undefined : 'page'}>
            Grid
          </a>
          <a href="#/failures" aria-current={isFailures ? 'page' : undefined}>
            Failures
          </a>
        </nav>
        <LiveStatus
          status={live.status}
          updatedAt={isFailures ? live.lastEventAt : updated.at}
          isFetching={updated.isFetching}
          zone={zone}
        />
        <div className="auth">
          {auth.isReadOnly ? (
            <span className="badge">Read-only</span>
          ) : auth.token ? (
            <>
              <span>Signed in{auth.whoami?.actor ? ` as ${auth.whoami.actor}` : ''}</span>
              <button type="button" onClick={auth.signOut}>
                Sign out
              </button>
            </>
          ) : (
            <button type="button" onClick={auth.signIn}>
              Sign in
            </button>
          )}
        </div>
      </header>
      {auth.isReadOnly ? (
        <p className="banner" role="status">
          Read-only mode: the API has no token configured, so it accepts no changes. You can browse; re-queue,
          skip and backfill are disabled.
        </p>
      ) : null}
      {auth.isRejected ? (
        <div className="banner banner-error" role="alert">
          The API rejected your token, so it was forgotten. Changes need a valid token.{' '}
          <button type="button" onClick={auth.signIn}>
            Sign in again
          </button>
        </div>
      ) : null}
      {auth.error ? <ErrorMessage title="Could not check access." error={auth.error} /> : null}
      <main>
        {isFailures ? (
          <FailuresPage live={live.status} />
        ) : (
          <GridPage live={live.status} onUpdated={onUpdated} />
        )}
      </main>
      <TokenDialog dialog={auth.dialog} />
    </>
  );
}
