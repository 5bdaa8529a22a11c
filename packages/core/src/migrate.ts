import { readdir, readFile } from 'node:fs/promises';
import type pg from 'pg';
import { DtmError, translatePgError } from './errors.ts';
import type { Schema } from './schema.ts';

const SQL_DIR = new URL('../sql/', import.meta.url);

/**
 * Applies the numbered SQL files of `sql/` that the schema has not seen yet, all in one transaction,
 * recording each in `<schema>.migrations`. Idempotent; concurrent callers queue on an advisory lock, so
 * several processes starting at once end with one schema.
 */
export async function migrate(pool: pg.Pool, schema: Schema): Promise<void> {
  const files = (await readdir(SQL_DIR)).filter((file) => /^\d{6}\.sql$/.test(file)).sort();
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query("SELECT pg_advisory_xact_lock(hashtext('dtm.migrate'), hashtext($1))", [schema.name]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema.sql}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${schema.sql}.migrations (
         id integer PRIMARY KEY,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const { rows } = await client.query<{ id: number }>(`SELECT id FROM ${schema.sql}.migrations`);
    const applied = new Set(rows.map((row) => row.id));
    const { rows: baseline } = await client.query<{ has_counts: boolean }>(
      `SELECT to_regclass($1) IS NOT NULL AS has_counts`,
      [`${schema.sql}.slot_counts`],
    );
    if (applied.size > 0 && !baseline[0]?.has_counts) {
      throw new DtmError(
        'BAD_INPUT',
        `schema ${schema.name} was made by a pre-release version of DTM whose migrations were squashed into one baseline; drop it (DROP SCHEMA ${schema.name} CASCADE) and migrate again`,
      );
    }
    await client.query(`SET LOCAL search_path TO ${schema.sql}`);
    for (const file of files) {
      const id = Number.parseInt(file, 10);
      if (applied.has(id)) continue;
      await client.query(await readFile(new URL(file, SQL_DIR), 'utf8'));
      await client.query('INSERT INTO migrations (id) VALUES ($1)', [id]);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw translatePgError(error, `migrating schema ${schema.name}`);
  } finally {
    client.release();
  }
}
