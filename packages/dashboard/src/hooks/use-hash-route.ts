import { useCallback, useSyncExternalStore } from 'react';

/** The app's location, read from the URL hash (`#/failures`, `#/?name=…&slot=…`). */
export interface HashRoute {
  path: string;
  params: URLSearchParams;
}

function subscribe(onChange: () => void): () => void {
  window.addEventListener('hashchange', onChange);
  return () => window.removeEventListener('hashchange', onChange);
}

function snapshot(): string {
  return window.location.hash;
}

/** Parses a hash into a route. */
export function parseHash(hash: string): HashRoute {
  const raw = hash.replace(/^#/, '') || '/';
  const [path = '/', query = ''] = raw.split('?');
  return { path: path || '/', params: new URLSearchParams(query) };
}

/** The current hash route and a way to replace it without adding a history entry. */
export function useHashRoute(): [HashRoute, (hash: string) => void] {
  const hash = useSyncExternalStore(subscribe, snapshot, () => '');
  const replace = useCallback((next: string) => {
    window.history.replaceState(null, '', next);
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  }, []);
  return [parseHash(hash), replace];
}

/** The hash linking to a slot's cell in the grid. */
export function cellHash(name: string, slot: Date): string {
  return `#/?${new URLSearchParams({ name, slot: slot.toISOString() }).toString()}`;
}
