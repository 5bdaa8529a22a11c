// The benchmark's clients and child processes: the API from its bundle, the workers, fetch-based timing.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { SERVER_BUNDLE } from './build-server.ts';

const PACKAGE_DIR = join(import.meta.dirname, '..');

/** Percentiles of a sample of durations, in ms. */
export interface Stats {
  n: number;
  p50: number;
  p99: number;
  mean: number;
  max: number;
}

export const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

export function stats(ms: number[]): Stats {
  const sorted = [...ms].sort((a, b) => a - b);
  // Nearest rank: the smallest value with at least q of the sample at or below it.
  const at = (q: number) => sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
  return {
    n: sorted.length,
    p50: round(at(0.5)),
    p99: round(at(0.99)),
    mean: round(sorted.reduce((a, b) => a + b, 0) / sorted.length),
    max: round(sorted.at(-1) ?? Number.NaN),
  };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? Number.NaN) + (sorted[middle] ?? Number.NaN)) / 2;
}

/** One GET, body read to the end; its duration and status. */
export async function timedGet(url: string): Promise<{ ms: number; status: number }> {
  const started = performance.now();
  const response = await fetch(url);
  await response.arrayBuffer();
  return { ms: performance.now() - started, status: response.status };
}

/** The duration of a GET that must answer 200. */
export async function timed(url: string): Promise<number> {
  const { ms, status } = await timedGet(url);
  if (status !== 200) throw new Error(`${url.slice(0, 200)} answered ${status}`);
  return ms;
}

/** `concurrency` fetch loops for `seconds`: sustained requests per second. */
export async function load(
  url: string,
  concurrency: number,
  seconds: number,
): Promise<Stats & { rps: number; errors: number }> {
  const until = performance.now() + seconds * 1000;
  const ms: number[] = [];
  let errors = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        try {
          ms.push(await timed(url));
        } catch {
          errors += 1;
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  return { ...stats(ms), rps: round(ms.length / elapsed), errors };
}

/** Polls `check` every `everyMs` until it is true; throws after `timeoutMs`. */
export async function until(
  what: string,
  check: () => Promise<boolean> | boolean,
  everyMs = 5,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** A running API process. */
export interface Api {
  child: ChildProcess;
  url: string;
  /** `performance.now()` just before the process was spawned. */
  spawnedAt: number;
}

/**
 * The API sidecar as it runs in production: plain `node` on the bundle of `src/server.ts`, its own process,
 * on loopback, on a free port. Resolves once it prints where it listens.
 */
export function startApi(env: Record<string, string>): Promise<Api> {
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, [SERVER_BUNDLE], {
    cwd: PACKAGE_DIR,
    env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let output = '';
    const onExit = (code: number | null) => reject(new Error(`the API exited with ${code}: ${output}`));
    child.once('exit', onExit);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match?.[1]) {
        child.off('exit', onExit);
        resolve({ child, url: match[1], spawnedAt });
      }
    });
  });
}

/** How long after spawning the API answered /api/health, and then `firstUrl`, with 200. */
export async function timeFirstAnswers(
  api: Api,
  firstUrl: string,
): Promise<{ healthMs: number; firstMs: number }> {
  let healthMs = Number.NaN;
  await until('the API to answer /api/health', async () => {
    const { status } = await timedGet(`${api.url}/api/health`).catch(() => ({ status: 0 }));
    healthMs = performance.now() - api.spawnedAt;
    return status === 200;
  });
  let firstMs = Number.NaN;
  await until('the API to answer the first grid', async () => {
    const { status } = await timedGet(firstUrl).catch(() => ({ status: 0 }));
    firstMs = performance.now() - api.spawnedAt;
    return status === 200;
  });
  return { healthMs: round(healthMs), firstMs: round(firstMs) };
}

/** Ends a child with SIGTERM and waits for it to exit; returns what it printed meanwhile. */
export async function stopChild(child: ChildProcess): Promise<string> {
  if (child.exitCode !== null || child.signalCode !== null) return '';
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
  return output;
}

/** The workers' process (`workers.ts`), and a way to read how many slots they completed so far. */
export interface Workers {
  child: ChildProcess;
  /** Slots completed so far, and when (the workers' `performance.now()`). */
  count(): Promise<{ completed: number; at: number }>;
  /** Stops them gracefully; resolves with the slots they completed in all. */
  stop(): Promise<number>;
}

export function startWorkers(args: {
  url: string;
  schema: string;
  name: string;
  concurrency: number;
  workMs: number;
  backlogMs: number;
}): Promise<Workers> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join('bench', 'workers.ts'),
      args.url,
      args.schema,
      args.name,
      String(args.concurrency),
      String(args.workMs),
      String(args.backlogMs),
    ],
    { cwd: PACKAGE_DIR, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const waiting: Array<(line: string) => void> = [];
  let onReady: (() => void) | null = null;
  let completedInAll: ((n: number) => void) | null = null;
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    if (line === 'READY') onReady?.();
    else if (line.startsWith('COUNT ')) waiting.shift()?.(line);
    else if (line.startsWith('COMPLETED ')) completedInAll?.(Number(line.split(' ')[1]));
  });
  const workers: Workers = {
    child,
    count() {
      return new Promise((resolve) => {
        waiting.push((line) => {
          const [, completed, at] = line.split(' ');
          resolve({ completed: Number(completed), at: Number(at) });
        });
        child.stdin?.write('COUNT\n');
      });
    },
    stop() {
      return new Promise((resolve, reject) => {
        completedInAll = resolve;
        child.once('exit', (code) => {
          if (code !== 0) reject(new Error(`the workers exited with ${code}`));
        });
        child.kill('SIGTERM');
      });
    },
  };
  return new Promise((resolve, reject) => {
    onReady = () => resolve(workers);
    child.once('exit', (code) => reject(new Error(`the workers exited with ${code} before they were ready`)));
  });
}

/** The API's resident memory (`process_resident_memory_bytes` of /metrics), in MB. */
export async function rssOf(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const match = /^process_resident_memory_bytes (\d+)$/m.exec(text);
  return Math.round(Number(match?.[1] ?? Number.NaN) / 1024 / 1024);
}

/** A counter or gauge of /metrics (the first sample of that name), or NaN. */
export async function metricOf(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const match = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return Number(match?.[1] ?? Number.NaN);
}

/**
 * An open `/api/events` stream, as a dashboard keeps one: while it is open the API subscribes to the
 * history and looks at the live holders every second or so. Counts the events it receives.
 */
export function watchEvents(url: string): { events: () => number; close: () => void } {
  const abort = new AbortController();
  let events = 0;
  void (async () => {
    const response = await fetch(`${url}/api/events`, { signal: abort.signal });
    const decoder = new TextDecoder();
    for await (const chunk of response.body ?? []) {
      events += (decoder.decode(chunk, { stream: true }).match(/^event: /gm) ?? []).length;
    }
  })().catch(() => {});
  return { events: () => events, close: () => abort.abort() };
}
