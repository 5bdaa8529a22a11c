import { inject } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}

/**
 * The URL of the PostgreSQL that `@dtm/dev-db/vitest-setup` started (or found in `DATABASE_URL`) for this
 * test run. Reading it here, rather than through `inject` in each package, keeps the `ProvidedContext`
 * declaration in one place: pnpm may give each package its own copy of vitest, and a module
 * augmentation only reaches the copy it resolves to.
 */
export function testDatabaseUrl(): string {
  return inject('databaseUrl');
}
