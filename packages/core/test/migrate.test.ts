import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { BadInputError, DatabaseError, TaskManager } from '../src/index.ts';
import { databaseUrl, dropSchema } from './helpers.ts';
import { exited, startFixture } from './processes.ts';

const schema = `m_${randomBytes(6).toString('hex')}`;
afterAll(() => dropSchema(schema));

describe('migrate', () => {
  it('five processes migrating one schema at once end with one schema, every migration applied once', async () => {
    await Promise.all(
      Array.from({ length: 5 }, () => exited(startFixture('migrate', [databaseUrl, schema]))),
    );
    const client = new pg.Client(databaseUrl);
    await client.connect();
    const { rows } = await client.query<{ id: number }>(`SELECT id FROM "${schema}".migrations ORDER BY id`);
    const files = (await readdir(new URL('../sql/', import.meta.url))).filter((f) => /^\d{6}\.sql$/.test(f));
    expect(rows.map((row) => row.id)).toEqual(files.map((f) => Number.parseInt(f, 10)).sort((a, b) => a - b));
    const tables = await client.query<{ table_name: string }>(
      'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name',
      [schema],
    );
    expect(tables.rows.map((row) => row.table_name)).toEqual(
      expect.arrayContaining(['holders', 'migrations', 'task_history', 'task_names', 'tasks']),
    );
    await client.end();
  });

  it('is idempotent', async () => {
    const tm = new TaskManager({ connectionString: databaseUrl, schema });
    await tm.migrate();
    await tm.migrate();
    await tm.close();
  });

  it('refuses a schema name that would need more than quoting', () => {
    for (const bad of ['', 'Public', 'a-b', 'x"; DROP SCHEMA public; --', '1abc', 'a'.repeat(51)]) {
      expect(() => new TaskManager({ connectionString: databaseUrl, schema: bad })).toThrow(BadInputError);
    }
  });
});

describe('database errors', () => {
  it('carry the server’s SQLSTATE, and none for a connection that failed at the socket', async () => {
    const unmigrated = new TaskManager({
      connectionString: databaseUrl,
      schema: `none_${randomBytes(6).toString('hex')}`,
    });
    const undefinedTable = await unmigrated.getTask('a', new Date(0)).catch((error: unknown) => error);
    await unmigrated.close();
    expect(undefinedTable).toBeInstanceOf(DatabaseError);
    expect((undefinedTable as DatabaseError).sqlState).toBe('42P01');

    // Port 1 on loopback: nothing listens, so the connection is refused (a Node error with code ECONNREFUSED).
    const unreachable = new TaskManager({ connectionString: 'postgres://postgres@127.0.0.1:1/test' });
    const refused = await unreachable.getTask('a', new Date(0)).catch((error: unknown) => error);
    await unreachable.close();
    expect(refused).toBeInstanceOf(DatabaseError);
    expect((refused as DatabaseError).message).toContain('ECONNREFUSED');
    expect((refused as DatabaseError).sqlState).toBeUndefined();
  });

  it('refuses a schema made by the pre-release migrations, saying how to start over, and changes nothing', async () => {
    const old = `m_${randomBytes(6).toString('hex')}`;
    const client = new pg.Client(databaseUrl);
    await client.connect();
    try {
      await client.query(`CREATE SCHEMA "${old}"`);
      await client.query(`CREATE TABLE "${old}".migrations (id integer PRIMARY KEY, applied_at timestamptz)`);
      await client.query(`INSERT INTO "${old}".migrations (id) SELECT generate_series(1, 7)`);
      const tm = new TaskManager({ connectionString: databaseUrl, schema: old });
      await expect(tm.migrate()).rejects.toThrow(/pre-release.*DROP SCHEMA/);
      await tm.close();
      const { rows } = await client.query(
        'SELECT table_name FROM information_schema.tables WHERE table_schema = $1',
        [old],
      );
      expect(rows.map((row) => row.table_name)).toEqual(['migrations']);
    } finally {
      await client.query(`DROP SCHEMA "${old}" CASCADE`);
      await client.end();
    }
  });
});
