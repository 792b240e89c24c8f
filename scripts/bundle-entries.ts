/**
 * The last step of `npm run build`: each entry of the package (the library's `.`, `./oss`, `./ee`
 * and `./testing`, and the `gatehouse` CLI) becomes one ES module in place of the compiler's, with
 * the engine code they share in chunks under `dist/src/core/chunks/`.
 *
 * Why: Node 20 resolves, reads, compiles and links every ES module on every start, and the engine's
 * own hundred-odd modules cost a server about a fifth of its start-up (docs/benchmarks.md,
 * "Start-up"). Only the engine's own code is bundled: every npm package stays an import of its own
 * (`inversify`, `zod`, `knex`… one instance shared with the host and its plugins), and so do the
 * files shipped beside the entries (the examples, the connector, the migrations). The compiler's
 * per-file output stays for the declarations next to it; nothing imports its `.js` files any more.
 *
 * Checked here, failing the build: every entry stays where `package.json` points; a chunk sits as
 * deep under `dist/` as the modules it replaces (code that finds `migrations/` relative to itself
 * keeps finding it); the modules the Community Edition's entries load hold no Enterprise code.
 */
import { existsSync, readdirSync } from 'node:fs';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile, type Plugin } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist', 'src');
/** Where the shared code goes: as deep as `core/kernel/`, whose `../../../migrations/` is `dist/migrations/`. */
const CHUNKS = 'core/chunks';
const ENTRIES = ['core/index.js', 'plugins/oss/index.js', 'plugins/ee/index.js', 'testing/index.js', 'cli/gatehouse.js'];
/** The entries that make up the Community Edition: what they load statically may hold no Enterprise module. */
const COMMUNITY = ['core/index.js', 'plugins/oss/index.js'];
/** Shipped as files of their own and imported by relative path from the CLI only. */
const KEPT_APART = [path.join(out, 'connector') + path.sep, path.join(root, 'dist', 'examples') + path.sep];

const entries = ENTRIES.filter((entry) => existsSync(path.join(out, entry)));
if (!entries.includes('core/index.js')) throw new Error('bundle-entries: dist/src/core/index.js is missing; run tsc first.');

/** The connector and the examples stay separate files, imported as they are from the CLI entry, which keeps its place. */
const keptApart: Plugin = {
  name: 'kept-apart',
  setup(builder) {
    builder.onResolve({ filter: /^\.\.?\// }, (args) => {
      const target = path.resolve(args.resolveDir, args.path);
      if (!KEPT_APART.some((dir) => target.startsWith(dir))) return undefined;
      if (path.relative(out, args.importer) !== path.join('cli', 'gatehouse.js')) {
        throw new Error(`${path.relative(root, args.importer)} imports ${args.path}: only the CLI entry may import the connector or the examples.`);
      }
      return { path: args.path, external: true };
    });
  },
};

const staging = await mkdtemp(path.join(root, 'dist', '.bundle-'));
try {
  const result = await build({
    absWorkingDir: root,
    entryPoints: entries.map((entry) => path.join(out, entry)),
    outbase: out,
    outdir: staging,
    entryNames: '[dir]/[name]',
    chunkNames: `${CHUNKS}/[name]-[hash]`,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    // Class names appear in messages (a shutdown step's name, the container's errors).
    keepNames: true,
    metafile: true,
    logLevel: 'warning',
    plugins: [keptApart],
  });
  checkCommunity(result.metafile);
  for (const file of Object.keys(result.metafile.outputs)) {
    const relative = path.relative(staging, path.resolve(root, file));
    if (!relative.startsWith(CHUNKS + path.sep) && !entries.includes(relative)) throw new Error(`bundle-entries: unexpected output ${relative}`);
  }
  await rm(path.join(out, CHUNKS), { recursive: true, force: true });
  await cp(staging, out, { recursive: true });
} finally {
  await rm(staging, { recursive: true, force: true });
}
const chunks = readdirSync(path.join(out, CHUNKS)).length;
process.stderr.write(`bundle-entries: ${entries.length} entries, ${chunks} shared chunks\n`);

/** Every module the Community Edition's entries load without a dynamic import is free of Enterprise code. */
function checkCommunity(metafile: Metafile): void {
  const outputs = metafile.outputs;
  const key = (absolute: string): string => path.relative(root, absolute);
  const seen = new Set<string>();
  const visit = (output: string): void => {
    if (seen.has(output)) return;
    seen.add(output);
    for (const imported of outputs[output]!.imports) if (imported.kind === 'import-statement' && !imported.external) visit(imported.path);
  };
  for (const entry of COMMUNITY) visit(key(path.join(staging, entry)));
  for (const output of seen) {
    const enterprise = Object.keys(outputs[output]!.inputs).filter((input) => input.includes('plugins/ee/'));
    if (enterprise.length) throw new Error(`bundle-entries: ${output}, loaded by the Community Edition, holds Enterprise code (${enterprise.join(', ')})`);
  }
}
