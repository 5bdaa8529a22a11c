import { useQuery, useQueryClient } from '@tanstack/react-query';
import {
  createContext,
  createElement,
  type ReactNode,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
} from 'react';
import { ApiError, describeError } from '../api/client.ts';
import { fetchWhoami, type Whoami, whoamiKey, whoamiQueryOptions } from '../api/whoami.ts';

/** sessionStorage key of the API token: kept for this browser tab's session only. */
export const TOKEN_STORAGE_KEY = 'dtm.token';

function readToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_STORAGE_KEY);
  } catch {
    return null;
  }
}

function writeToken(token: string | null): void {
  try {
    if (token === null) sessionStorage.removeItem(TOKEN_STORAGE_KEY);
    else sessionStorage.setItem(TOKEN_STORAGE_KEY, token);
  } catch {
    // Storage may be disabled; the token then lives in memory only.
  }
}

/** The token dialog's state, for the `TokenDialog` component. */
export interface TokenDialogState {
  isOpen: boolean;
  isVerifying: boolean;
  /** Why the last token was not accepted, in words. */
  error: string | null;
  submit(token: string): void;
  cancel(): void;
}

/** What the app knows about the user's right to write. */
export interface Auth {
  token: string | null;
  whoami: Whoami | undefined;
  /** The server accepts no writes at all. */
  isReadOnly: boolean;
  /** The API rejected the stored token (it was cleared). */
  isRejected: boolean;
  /** Why writes are impossible right now, in words, or null when they may be tried. */
  writeBlockedReason: string | null;
  /** Error of the whoami check, if any (other than a rejected token). */
  error: unknown;
  /** Resolves with the token, asking the user for it only when none is stored; null when cancelled. */
  ensureToken(): Promise<string | null>;
  /** Opens the token dialog. */
  signIn(): void;
  /** Forgets the token. */
  signOut(): void;
  /** Call when a write answered 401: forgets the token and shows it was rejected. */
  markRejected(): void;
  dialog: TokenDialogState;
}

const AuthContext = createContext<Auth | null>(null);

/** The token held in sessionStorage, verified with `GET /api/whoami`; provides {@link useAuth}. */
export function AuthProvider({ children }: { children: ReactNode }) {
  const queryClient = useQueryClient();
  const [token, setToken] = useState<string | null>(readToken);
  const [isRejected, setRejected] = useState(false);
  const [isOpen, setOpen] = useState(false);
  const [isVerifying, setVerifying] = useState(false);
  const [dialogError, setDialogError] = useState<string | null>(null);
  const pending = useRef<Array<(token: string | null) => void>>([]);

  const whoamiQuery = useQuery(whoamiQueryOptions(token));
  const rejectedByWhoami = whoamiQuery.error instanceof ApiError && whoamiQuery.error.status === 401;
  useEffect(() => {
    if (!rejectedByWhoami || token === null) return;
    // The stored token is no longer valid: drop it, and say so.
    writeToken(null);
    setToken(null);
    setRejected(true);
  }, [rejectedByWhoami, token]);

  const settle = useCallback((value: string | null) => {
    const resolvers = pending.current;
    pending.current = [];
    for (const resolve of resolvers) resolve(value);
  }, []);

  const open = useCallback(() => {
    setDialogError(null);
    setOpen(true);
  }, []);

  const ensureToken = useCallback((): Promise<string | null> => {
    if (token !== null) return Promise.resolve(token);
    return new Promise((resolve) => {
      pending.current.push(resolve);
      open();
    });
  }, [token, open]);

  const submit = useCallback(
    (candidate: string) => {
      const trimmed = candidate.trim();
      if (trimmed === '') {
        setDialogError('Enter the API token.');
        return;
      }
      setVerifying(true);
      setDialogError(null);
      fetchWhoami(trimmed)
        .then((whoami) => {
          if (whoami.isReadOnly) {
            setDialogError('The server is read-only: it has no API token configured and accepts no changes.');
            return;
          }
          if (!whoami.canWrite) {
            setDialogError('The API accepted the request but this token may not write. Check the token.');
            return;
          }
          writeToken(trimmed);
          setToken(trimmed);
          setRejected(false);
          queryClient.setQueryData(whoamiQueryOptions(trimmed).queryKey, whoami);
          setOpen(false);
          settle(trimmed);
        })
        .catch((error: unknown) => {
          setDialogError(
            error instanceof ApiError && error.status === 401
              ? 'The API rejected this token. Check it and try again.'
              : describeError(error),
          );
        })
        .finally(() => setVerifying(false));
    },
    [queryClient, settle],
  );

  const cancel = useCallback(() => {
    setOpen(false);
    settle(null);
  }, [settle]);

  const signOut = useCallback(() => {
    writeToken(null);
    setToken(null);
    setRejected(false);
    void queryClient.invalidateQueries({ queryKey: whoamiKey });
  }, [queryClient]);

  const markRejected = useCallback(() => {
    writeToken(null);
    setToken(null);
    setRejected(true);
  }, []);

  const whoami = whoamiQuery.data;
  const isReadOnly = whoami?.isReadOnly ?? false;
  const value = useMemo<Auth>(
    () => ({
      token,
      whoami,
      isReadOnly,
      isRejected,
      writeBlockedReason: isReadOnly
        ? 'The server is read-only: it has no API token configured, so it accepts no changes.'
        : null,
      error: rejectedByWhoami ? null : whoamiQuery.error,
      ensureToken,
      signIn: open,
      signOut,
      markRejected,
      dialog: { isOpen, isVerifying, error: dialogError, submit, cancel },
    }),
    [
      token,
      whoami,
      isReadOnly,
      isRejected,
      rejectedByWhoami,
      whoamiQuery.error,
      ensureToken,
      open,
      signOut,
      markRejected,
      isOpen,
      isVerifying,
      dialogError,
      submit,
      cancel,
    ],
  );
  return createElement(AuthContext.Provider, { value }, children);
}

/** The auth state; use inside {@link AuthProvider}. */
export function useAuth(): Auth {
  const auth = useContext(AuthContext);
  if (!auth) throw new Error('useAuth must be used inside <AuthProvider>');
  return auth;
}
