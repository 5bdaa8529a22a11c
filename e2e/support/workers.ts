import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

/** A worker process the suite started. */
export interface WorkerProcess {
  name: string;
  pid: number;
  /** SIGTERM, then wait: running slots finish. */
  stop(): Promise<void>;
  /** SIGKILL: the process dies mid-slot, its connection drops, PostgreSQL rolls back. */
  kill(): Promise<void>;
}

/** Starts a real worker process on `names` and resolves once its loops run. */
export async function startWorker(options: {
  name: string;
  names: readonly string[];
  databaseUrl: string;
  schema: string;
  /** The backoff of a failed or abandoned attempt, in ms. Default the suite's (an hour: failures stay put). */
  retryMs?: number;
}): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'worker-process.ts')], {
    env: {
      ...process.env,
      DATABASE_URL: options.databaseUrl,
      DTM_SCHEMA: options.schema,
      DTM_WORKER_NAME: options.name,
      E2E_NAMES: options.names.join(','),
      ...(options.retryMs === undefined ? {} : { E2E_RETRY_MS: String(options.retryMs) }),
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code, signal) =>
      reject(new Error(`worker ${options.name} exited early (${signal ?? code})`)),
    );
  });
  child.removeAllListeners('exit');
  const pid = child.pid ?? 0;
  return {
    name: options.name,
    pid,
    stop: () => end(child, 'SIGTERM'),
    kill: () => end(child, 'SIGKILL'),
  };
}

function end(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}
