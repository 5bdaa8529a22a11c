import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

async function heapAfterChurn(mode: 'default' | 'small'): Promise<{ young: number; old: number }> {
  const fixture = new URL('./fixtures/heap-churn.ts', import.meta.url).pathname;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', fixture, mode], { timeout: 60_000 });
  return JSON.parse(stdout) as { young: number; old: number };
}

describe('preferSmallHeap', () => {
  it('keeps a busy process’s heap small although it is called after start-up', async () => {
    const byDefault = await heapAfterChurn('default');
    const small = await heapAfterChurn('small');
    // By default V8 grows the young generation of a busy process to its maximum (32 MB on 64-bit).
    expect(byDefault.young).toBeGreaterThanOrEqual(16);
    expect(small.young).toBeLessThan(byDefault.young / 2);
    expect(small.old).toBeLessThan(byDefault.old);
  });
});
