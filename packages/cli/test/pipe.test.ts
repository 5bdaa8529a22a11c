// Output through a pipe, and `pnpm dtm`: the CLI as a shell runs it, in real processes.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createManager, databaseUrl, freshSchema } from './helpers.ts';

const REPO_ROOT = join(import.meta.dirname, '..', '..', '..');
const BIN = join(import.meta.dirname, '..', 'bin', 'dtm.js');
const NAMES = 45;

const schema = freshSchema();
const tm = await createManager(schema);
// 45 names with a slot a minute over 40 hours: `status --json --width 2000` gives each 2,000 cells, about
// 1.2 MB of JSON in all, eighteen times a pipe’s 64 KiB buffer.
const to = new Date(Math.floor(Date.now() / 60_000) * 60_000);
const from = new Date(to.getTime() - 40 * 3_600_000);
for (let i = 0; i < NAMES; i += 1) {
  await tm.createTasks({ name: `piped-${String(i).padStart(2, '0')}`, from, to, interval: 'PT1M' });
}
const STATUS_ARGS = ['status', '--json', '--width', '2000', '--schema', schema];
const STATUS_RANGE = ['--from', from.toISOString(), '--to', to.toISOString()];

interface Ended {
  status: number | null;
  stdout: string;
  stderr: string;
}

function collect(child: ChildProcess): Promise<Ended> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/**
 * `dtm <args> | consumer`: two processes joined by an OS pipe, as a shell joins them; the consumer is a node
 * script reading its stdin.
 */
function pipeline(args: string[], consumer: string): Promise<[Ended, Ended]> {
  const dtm = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH, DATABASE_URL: databaseUrl, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const reader = spawn(process.execPath, ['-e', consumer], {
    stdio: [dtm.stdout ?? 'ignore', 'pipe', 'pipe'],
  });
  // This process keeps no end of the pipe: the consumer alone reads it, and sees its end when dtm exits.
  dtm.stdout?.destroy();
  const ended = collect(dtm);
  return Promise.all([ended, collect(reader)]);
}

const COUNT_AND_PARSE = `
  const chunks = [];
  process.stdin.on('data', (chunk) => chunks.push(chunk));
  process.stdin.on('end', () => {
    const text = Buffer.concat(chunks);
    const answer = JSON.parse(text.toString('utf8'));
    process.stdout.write(JSON.stringify({ bytes: text.length, names: answer.names.length }));
  });`;

const READ_A_LITTLE_AND_LEAVE = `
  process.stdin.once('data', () => process.exit(0));`;

describe('output through a pipe', () => {
  it('a --json answer of more than 1 MB reaches the reader whole, and parses', async () => {
    const [dtm, reader] = await pipeline([...STATUS_ARGS, ...STATUS_RANGE], COUNT_AND_PARSE);
    expect(dtm).toMatchObject({ status: 0, stderr: '' });
    expect(reader.stderr).toBe('');
    expect(reader.status).toBe(0);
    const counted = JSON.parse(reader.stdout) as { bytes: number; names: number };
    expect(counted.names).toBe(NAMES);
    expect(counted.bytes).toBeGreaterThan(1_000_000);
  });

  it('a reader that leaves early (`dtm … | head`) ends dtm with its own status and no error', async () => {
    const [dtm, reader] = await pipeline([...STATUS_ARGS, ...STATUS_RANGE], READ_A_LITTLE_AND_LEAVE);
    expect(reader.status).toBe(0);
    expect(dtm).toMatchObject({ status: 0, stderr: '' });
  });
});

describe('pnpm dtm', () => {
  it('passes the CLI’s exit status and its message through, and nothing else: 2 for bad usage', async () => {
    const pnpm = spawn('pnpm', ['dtm', 'nonsense'], {
      cwd: REPO_ROOT,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const ended = await collect(pnpm);
    expect(ended).toEqual({
      status: 2,
      stdout: '',
      stderr: 'dtm: unknown command "nonsense"\nRun `dtm --help` for usage.\n',
    });
  });

  it('passes a successful answer through whole', async () => {
    const pnpm = spawn('pnpm', ['dtm', ...STATUS_ARGS, ...STATUS_RANGE], {
      cwd: REPO_ROOT,
      env: { ...process.env, DATABASE_URL: databaseUrl, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const ended = await collect(pnpm);
    expect(ended.status).toBe(0);
    expect((JSON.parse(ended.stdout) as { names: unknown[] }).names).toHaveLength(NAMES);
  });
});
