/**
 * Builds the admin UI: `npm run build:ui`. Bundles the Preact app and its stylesheet with esbuild
 * into hashed files under `dist-ui/admin/` plus a `manifest.json` naming them.
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
    target: 'es2020',
    minify: true,
    sourcemap: false,
    jsx: 'automatic',
    jsxImportSource: 'preact',
    entryNames: '[name]-[hash]',
    outdir,
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  const files = Object.keys(result.metafile.outputs).map((file) => basename(file));
  const manifest: UiManifest = {
    js: files.find((file) => file.endsWith('.js'))!,
    css: files.find((file) => file.endsWith('.css'))!,
    files,
  };
  writeFileSync(join(outdir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = Date.now();
  const manifest = await buildUi();
  console.log(`admin UI built: ${manifest.files.join(', ')} in ${Date.now() - started} ms`);
}
