import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is `bench/harness/compiled.ts`, or its compiled copy `dist/bench/harness/compiled.js`). */
export const ROOT = ((): string => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json')) || path.basename(dir) === 'dist') dir = path.dirname(dir);
  return dir + path.sep;
})();

const DIST = path.join(ROOT, 'dist');
const BENCH_OUT = path.join(DIST, 'bench');
const SOURCES = ['src', 'migrations', 'ee-migrations'];
/** What the engine's build emits first and last: its age is the build's age. */
const BUILD_MARKER = path.join(DIST, 'src', 'core', 'index.js');

/**
 * How the benchmark's processes run: the compiled output (`npm run build`, plus the bench's own
 * files transpiled next to it into `dist/bench/`), as a deployment runs, or the TypeScript sources
 * through the tsx loader, as development does.
 */
export type RunMode = 'compiled' | 'transpiled';

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(full));
    else if (entry.name.endsWith('.ts') || entry.name.endsWith('.sql') || entry.name.endsWith('.js')) newest = Math.max(newest, statSync(full).mtimeMs);
  }
  return newest;
}

/** Why the engine's compiled output cannot be used as it is, or undefined when it is current. */
export function staleBuild(): string | undefined {
  if (!existsSync(BUILD_MARKER)) return 'dist/ does not exist';
  const built = statSync(BUILD_MARKER).mtimeMs;
  for (const source of SOURCES) {
    const dir = path.join(ROOT, source);
    if (existsSync(dir) && newestMtime(dir) > built) return `${source}/ changed after the last build`;
  }
  return undefined;
}

async function benchFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'results') out.push(...(await benchFiles(full)));
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
      out.push(full);
    }
  }
  return out;
}

/**
 * Make the compiled output current: build the engine when `dist/` is missing or older than its
 * sources, then transpile the bench's own files (servers, load generator, harness) into
 * `dist/bench/`, where `@gatehouse-mcp/engine` resolves to the compiled engine.
 */
export async function prepareCompiled(log: (message: string) => void): Promise<void> {
  const stale = staleBuild();
  if (stale) {
    log(`compiled output: ${stale}; running npm run build`);
    const build = spawnSync('npm', ['run', '-s', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stderr.slice(-4000)}`);
  }
  const { transform } = await import('esbuild');
  const benchDir = path.join(ROOT, 'bench');
  await rm(BENCH_OUT, { recursive: true, force: true });
  for (const file of await benchFiles(benchDir)) {
    const { code } = await transform(await readFile(file, 'utf8'), { loader: 'ts', format: 'esm', target: 'node20', sourcefile: file });
    const out = path.join(BENCH_OUT, path.relative(benchDir, file)).replace(/\.ts$/, '.js');
    await mkdir(path.dirname(out), { recursive: true });
    await writeFile(out, code);
  }
}

/** A bench file as the given mode runs it: `bench/servers/ce-server.ts` or `dist/bench/servers/ce-server.js`. */
export function benchFile(relative: string, mode: RunMode): string {
  return mode === 'compiled' ? path.join(BENCH_OUT, relative.replace(/\.ts$/, '.js')) : path.join(ROOT, 'bench', relative);
}
