import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Starts `test/fixtures/<fixture>.ts` as a real Node.js process. */
export function startFixture(fixture: string, args: string[]): ChildProcess {
  const file = fileURLToPath(new URL(`./fixtures/${fixture}.ts`, import.meta.url));
  return spawn(process.execPath, ['--import', 'tsx', file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Resolves with the exit code; rejects with the process's stderr when it exits non-zero. */
export function exited(child: ChildProcess): Promise<number> {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    child.on('exit', (code, signal) => {
      if (code === 0 || signal === 'SIGKILL') resolve(code ?? -1);
      else reject(new Error(`fixture exited with ${code ?? signal}: ${stderr}`));
    });
  });
}

/** Resolves when the process prints `line` on stdout. */
export function printed(child: ChildProcess, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.split('\n').includes(line)) resolve();
    });
    child.on('exit', (code) => reject(new Error(`fixture exited (${code}) before printing ${line}`)));
  });
}
