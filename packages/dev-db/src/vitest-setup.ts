import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { openDatabase } from './index.ts';

interface SetupProject {
  provide(key: 'databaseUrl', value: string): void;
}

/**
 * Vitest global setup: one PostgreSQL for the whole run (`DATABASE_URL`, or an embedded server with a
 * throwaway data folder). Test files read its URL with `inject('databaseUrl')` and isolate themselves
 * in a schema of their own.
 */
export default async function setup(project: SetupProject): Promise<() => Promise<void>> {
  const dataDir = join(
    import.meta.dirname,
    '..',
    '..',
    '..',
    '.data',
    `test-${randomBytes(4).toString('hex')}`,
  );
  const db = await openDatabase({ dataDir, isThrowaway: true });
  project.provide('databaseUrl', db.url);
  return () => db.stop();
}
