// Bundles the API sidecar's entry (src/server.ts, with the workspace packages it uses) into one plain
// JavaScript file, so that the benchmark runs and measures the API as it runs in production: under plain
// `node`, without the TypeScript loader (tsx alone adds about 35 MB of RSS). Packages from npm stay
// external (imported from where they are installed).
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';

const PACKAGE_DIR = join(import.meta.dirname, '..');
/** Where the bundle goes (`dist/` is git-ignored). */
export const SERVER_BUNDLE = join(PACKAGE_DIR, 'dist', 'server.mjs');

/** Bundles the workspace's own TypeScript; imports every npm package, by absolute path, at run time. */
const workspaceOnly: Plugin = {
  name: 'workspace-only',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, async (args) => {
      if (args.path.startsWith('@dtm/') || args.path.startsWith('node:') || args.pluginData === 'inner')
        return undefined;
      const found = await b.resolve(args.path, {
        kind: args.kind,
        resolveDir: args.resolveDir,
        pluginData: 'inner',
      });
      return { path: pathToFileURL(found.path).href, external: true };
    });
    // Each module keeps its own location (the core finds its SQL files next to its sources).
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      return {
        loader: 'ts',
        contents: source
          .replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href))
          .replaceAll('import.meta.dirname', JSON.stringify(dirname(args.path))),
      };
    });
  },
};

export async function buildServer(): Promise<string> {
  await build({
    entryPoints: [join(PACKAGE_DIR, 'src', 'server.ts')],
    outfile: SERVER_BUNDLE,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    plugins: [workspaceOnly],
    logLevel: 'warning',
  });
  return SERVER_BUNDLE;
}

if (process.argv[1] === import.meta.filename) console.log(await buildServer());
