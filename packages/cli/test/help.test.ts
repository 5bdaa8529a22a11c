import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { databaseUrl, freshSchema, runDtm } from './helpers.ts';

const COMMANDS = ['status', 'requeue', 'skip', 'backfill', 'history', 'prune', 'migrate', 'serve'];

describe('dtm --help and usage errors', () => {
  it('lists every command, and every command has its own --help', async () => {
    const top = await runDtm(['--help']);
    expect(top.status).toBe(0);
    for (const command of COMMANDS) expect(top.stdout).toContain(`  ${command} `);
    for (const command of COMMANDS) {
      const { status, stdout } = await runDtm([command, '--help'], {
        DATABASE_URL: 'postgres://nowhere.invalid/x',
      });
      expect({ command, status }).toEqual({ command, status: 0 });
      expect(stdout).toContain(`Usage: dtm ${command}`);
    }
  });

  it('exits 2 on an unknown command or no command at all', async () => {
    const unknown = await runDtm(['frobnicate']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
    const none = await runDtm([]);
    expect(none.status).toBe(2);
    expect(none.stdout).toContain('Usage: dtm <command>');
  });

  it('exits 1 with a clear message when the database is unreachable', async () => {
    const { status, stderr } = await runDtm(['status'], {
      DATABASE_URL: 'postgres://postgres:x@127.0.0.1:1/postgres',
    });
    expect(status).toBe(1);
    expect(stderr).toMatch(/^dtm: .*ECONNREFUSED/);
  });
});

describe('dtm migrate', () => {
  const schema = freshSchema();
  it('creates the tables, and running it again changes nothing', async () => {
    const first = await runDtm(['migrate', '--schema', schema]);
    expect(first.status).toBe(0);
    expect(first.stdout).toContain(`schema ${schema} is migrated`);
    const again = await runDtm(['migrate', '--schema', schema, '--json']);
    expect(JSON.parse(again.stdout)).toEqual({ schema, migrated: true });
    const client = new pg.Client(databaseUrl);
    await client.connect();
    const { rows } = await client.query(`SELECT to_regclass($1) AS tasks`, [`"${schema}".tasks`]);
    await client.end();
    expect(rows[0].tasks).not.toBeNull();
  });

  it('takes the schema from DTM_SCHEMA', async () => {
    const { status, stdout } = await runDtm(['migrate'], { DTM_SCHEMA: schema });
    expect(status).toBe(0);
    expect(stdout).toContain(schema);
  });
});
