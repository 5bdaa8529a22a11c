// Network faults on loopback with nftables (root): every packet of one local port's connections is dropped, in
// both directions, and nothing is closed, as when a host is lost. Used by the fault tests and the release bench.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The rules still in place: `unblockAll` removes them (a test's or a bench's cleanup). */
const applied = new Set<string>();

/**
 * Drops every packet to and from local port `port` on loopback; returns what lifts it. Rejects at once when
 * nft cannot be started (a failed spawn emits no 'exit'), else with nft's stderr.
 */
export async function blackHole(port: number): Promise<() => Promise<void>> {
  const table = `dtm_fault_${randomBytes(4).toString('hex')}`;
  const ruleset = `table inet ${table} {
    chain input {
      type filter hook input priority -10; policy accept;
      iifname "lo" tcp sport ${port} drop
      iifname "lo" tcp dport ${port} drop
    }
  }`;
  const applying = run('nft', ['-f', '-']);
  applying.child.stdin?.on('error', () => {});
  applying.child.stdin?.end(ruleset);
  await applying;
  applied.add(table);
  return () => unblock(table);
}

async function unblock(table: string): Promise<void> {
  if (!applied.delete(table)) return;
  await run('nft', ['delete', 'table', 'inet', table]);
}

/** Lifts every black hole still in place, ignoring failures (cleanup after a failed run). */
export async function unblockAll(): Promise<void> {
  for (const table of [...applied]) await unblock(table).catch(() => {});
}
