// Release: how long until another worker holds a slot whose holder is gone. The holder (fixtures/hold.ts, a
// worker with the default settings) holds the only slot of a name; a second worker (this process, default
// settings) waits for it. Then the holder is either SIGKILLed (the kernel closes its connection: PostgreSQL
// rolls back at once) or cut off: every packet of its connection is dropped on loopback with nftables (a lost
// host: nothing is closed, so the server learns of it from its keepalives and the holder from its heartbeat).
// Measured from that moment: when the slot stops reading as held (its row lock is free), and when a worker's
// handler runs on it again (after the abandoned attempt's backoff, counted by the next worker that looks).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { TaskManager } from '../src/index.ts';
import { blackHole } from '../test/black-hole.ts';
import { createPastSlots, LineChild, quiet, type Spread, spread, until } from './common.ts';

const HOLDER = fileURLToPath(new URL('./fixtures/hold.ts', import.meta.url));
const run = promisify(execFile);

export interface ReleaseOptions {
  sigkillRounds: number;
  lostHostRounds: number;
  /** The holder's and the taker's connectionLoss; default: the library's defaults. */
  connectionLoss?: { holderAbortMs: number; serverReleaseMs: number };
  /** The taker's pollInterval; default: the library's (5 s). */
  takerPollMs?: number;
}

export interface ReleaseRow {
  how: 'SIGKILL' | 'lost host (nftables drop)';
  /** ms until the slot no longer reads as held. */
  freed: Spread;
  /** ms until a worker's handler runs on it again. */
  taken: Spread;
  /** Who took it, per round: the other worker, or the cut-off holder on a new connection. */
  takers: string[];
}

/** Why the lost-host case cannot run here, or null. */
export async function lostHostUnavailable(): Promise<string | null> {
  if (process.getuid?.() !== 0) return 'needs root for nft';
  try {
    await run('nft', ['--version']);
    return null;
  } catch {
    return 'nft is not installed (apt-get install nftables)';
  }
}

export async function measureRelease(
  url: string,
  options: ReleaseOptions,
  log: (line: string) => void = console.log,
): Promise<ReleaseRow[]> {
  const rows: ReleaseRow[] = [];
  rows.push(await measure(url, 'SIGKILL', options.sigkillRounds, options));
  log(`release after SIGKILL: ${JSON.stringify(rows.at(-1))}`);
  const unavailable = await lostHostUnavailable();
  if (unavailable) log(`release after a lost host: not run (${unavailable})`);
  else if (options.lostHostRounds > 0) {
    rows.push(await measure(url, 'lost host (nftables drop)', options.lostHostRounds, options));
    log(`release after a lost host: ${JSON.stringify(rows.at(-1))}`);
  }
  return rows;
}

async function measure(
  url: string,
  how: ReleaseRow['how'],
  rounds: number,
  options: ReleaseOptions,
): Promise<ReleaseRow> {
  const freed: number[] = [];
  const taken: number[] = [];
  const takers: string[] = [];
  for (let round = 0; round < rounds; round++) {
    const result = await releaseOnce(url, how, options);
    freed.push(result.freedMs);
    taken.push(result.takenMs);
    takers.push(result.taker);
  }
  return { how, freed: spread(freed), taken: spread(taken), takers };
}

async function releaseOnce(
  url: string,
  how: ReleaseRow['how'],
  options: ReleaseOptions,
): Promise<{ freedMs: number; takenMs: number; taker: string }> {
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const tm = new TaskManager({
    connectionString: url,
    schema,
    poolSize: 4,
    workerName: `bench-taker-${process.pid}`,
    ...(options.connectionLoss ? { connectionLoss: options.connectionLoss } : {}),
  });
  await tm.migrate();
  const name = 'release';
  await createPastSlots(tm, name, 1);
  const [slot] = await tm.listTasks({ name, limit: 1 });
  if (!slot) throw new Error('no slot');
  const holder = new LineChild(HOLDER, [
    url,
    schema,
    name,
    options.connectionLoss ? JSON.stringify(options.connectionLoss) : '',
  ]);
  let unblock: (() => Promise<void>) | null = null;
  let takenAt = 0;
  try {
    const heldLine = await holder.waitFor('the holder to hold the slot', (line) => line.includes('"held"'));
    const held = JSON.parse(heldLine) as { held: string; port: number };
    const stillHeld = async () => (await tm.getTask(name, slot.slot))?.state === 'ACQUIRED';
    // A worker's slot shows as held once its lane registered it (200 ms: see LaneRegistry).
    await until('the slot to show as held', stillHeld, 5, 10_000);
    const taker = tm.work({
      name,
      interval: 'PT1M',
      backlog: 'P1D',
      logger: quiet,
      ...(options.takerPollMs ? { pollInterval: options.takerPollMs } : {}),
      // The taker also creates and completes the current slot: only the held one counts.
      handler: async (task) => {
        if (task.task.slot.getTime() === slot.slot.getTime() && takenAt === 0) takenAt = performance.now();
      },
    });
    try {
      const goneAt = performance.now();
      if (how === 'SIGKILL') holder.kill();
      else unblock = await blackHole(held.port);
      await until('the slot to be freed', async () => !(await stillHeld()), 5, 300_000);
      const freedMs = performance.now() - goneAt;
      const retaken = () => holder.lines.filter((line) => line.includes('"held"')).length > 1;
      await until('a worker to take the slot again', () => takenAt > 0 || retaken(), 5, 300_000);
      const taker = takenAt > 0 ? 'other worker' : 'the cut-off holder, on a new connection';
      const takenMs = (takenAt > 0 ? takenAt : performance.now()) - goneAt;
      return { freedMs, takenMs, taker };
    } finally {
      await taker.stop();
    }
  } finally {
    await unblock?.().catch(() => {});
    holder.kill();
    await holder.exited;
    await tm.pool.query(`DROP SCHEMA "${schema}" CASCADE`);
    await tm.close();
  }
}
