import { type ChildProcess, spawn } from 'node:child_process';

/** Messages between the demo and its child processes. */
export type ChildMessage = ReadyMessage | { type: 'stop' };

/** A child is up; the database process says where. */
export interface ReadyMessage {
  type: 'ready';
  url?: string;
  isEmbedded?: boolean;
}

/**
 * Starts `script` (TypeScript, through tsx) as a child with an IPC channel, in a process group of its own:
 * a Ctrl-C in the terminal then reaches only the demo, which stops its children in order (workers, then the
 * API, then PostgreSQL). A child also stops when the channel closes, so it never outlives the demo.
 */
export function spawnChild(script: string, env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    detached: true,
  });
}

/** Resolves with the child's `ready` message; rejects if it exits first or takes longer than `timeoutMs`. */
export function waitUntilReady(
  child: ChildProcess,
  what: string,
  timeoutMs = 120_000,
): Promise<ReadyMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${what} did not start within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    const onMessage = (message: ChildMessage) => {
      if (message.type !== 'ready') return;
      cleanup();
      resolve(message);
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      cleanup();
      reject(new Error(`${what} exited before it was ready (${signal ?? `exit code ${code}`})`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/** Asks the child to stop and waits for it; kills it after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.connected) child.send({ type: 'stop' } satisfies ChildMessage);
  else child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Runs `stop` once when the parent asks (IPC message or SIGTERM) or disappears (the channel closes). */
export function onStopRequest(stop: () => Promise<void>): void {
  let isStopping = false;
  const once = () => {
    if (isStopping) return;
    isStopping = true;
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.on('message', (message: ChildMessage) => {
    if (message.type === 'stop') once();
  });
  process.on('disconnect', once);
  process.on('SIGTERM', once);
  process.on('SIGINT', once);
}
