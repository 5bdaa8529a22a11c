import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { databaseUrl, freshSchema, runDtm } from './helpers.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'dtm.js');
const schema = freshSchema();
const TOKEN = 'serve-test-token-0123456789';

describe('dtm serve', () => {
  it('serves the API and the dashboard, refuses writes without the token, and stops on SIGINT', async () => {
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--json', '--schema', schema], {
      env: { PATH: process.env.PATH, DATABASE_URL: databaseUrl, DTM_API_TOKEN: TOKEN },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const started = await new Promise<{ url: string; isReadOnly: boolean }>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const line = out.split('\n').find((candidate) => candidate.startsWith('{'));
        if (line) resolve(JSON.parse(line));
      });
      child.on('exit', (code) => reject(new Error(`serve exited with ${code} before listening`)));
    });
    expect(started.isReadOnly).toBe(false);
    expect((await fetch(`${started.url}/api/health`)).status).toBe(200);
    expect(await (await fetch(`${started.url}/`)).text()).toContain('<div id="root">');
    const refused = await fetch(`${started.url}/api/backfill`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x', from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z' }),
    });
    expect(refused.status).toBe(401);
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  });

  it('rejects a bad port, a short token, a bad retention or log level with exit 2 before starting anything', async () => {
    const port = await runDtm(['serve', '--port', 'eighty', '--schema', schema]);
    expect(port.status).toBe(2);
    expect(port.stderr).toContain('--port must be a whole number');
    const token = await runDtm(['serve', '--port', '0', '--schema', schema], { DTM_API_TOKEN: 'short' });
    expect(token.status).toBe(2);
    expect(token.stderr).toContain('at least 16 characters');
    const retention = await runDtm(['serve', '--port', '0', '--schema', schema], {
      DTM_HISTORY_RETENTION: 'P1M',
    });
    expect(retention.status).toBe(2);
    expect(retention.stderr).toContain('invalid DTM_HISTORY_RETENTION "P1M"');
    const level = await runDtm(['serve', '--port', '0', '--schema', schema], { DTM_LOG_LEVEL: 'chatty' });
    expect(level.status).toBe(2);
    expect(level.stderr).toMatch(/DTM_LOG_LEVEL.*chatty/);
  });
});
