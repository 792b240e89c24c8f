/**
 * Builds the admin UI: `npm run build:ui`. Bundles the Preact app and its stylesheet with esbuild
 * into hashed files under `dist-ui/admin/` plus a `manifest.json` naming them. Code only one page
 * needs (the policy editor) is split into chunks the page loads when it opens.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { UI_OUT_DIR, type UiManifest } from './ui-bundle.js';

const here = dirname(fileURLToPath(import.meta.url));

export async function buildUi(root = process.cwd()): Promise<UiManifest> {
  const outdir = join(root, UI_OUT_DIR);
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const result = await build({
    entryPoints: { app: join(here, 'app', 'main.tsx') },
    bundle: true,
    format: 'esm',
    splitting: true,
    target: 'es2020',
    minify: true,
    sourcemap: false,
    jsx: 'automatic',
    jsxImportSource: 'preact',
    entryNames: '[name]-[hash]',
    chunkNames: 'chunk-[hash]',
    outdir,
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  const outputs = Object.entries(result.metafile.outputs);
  const [entryFile, entry] = outputs.find(([, output]) => output.entryPoint !== undefined)!;
  const manifest: UiManifest = {
    js: basename(entryFile),
    css: basename(entry.cssBundle!),
    files: outputs.map(([file]) => basename(file)),
  };
  writeFileSync(join(outdir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = Date.now();
  const manifest = await buildUi();
  console.log(`admin UI built: ${manifest.files.join(', ')} in ${Date.now() - started} ms`);
}
