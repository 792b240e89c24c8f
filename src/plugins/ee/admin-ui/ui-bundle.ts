import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where `npm run build:ui` writes the admin UI, relative to the package root. */
export const UI_OUT_DIR = join('dist-ui', 'admin');

/** What the build writes to `manifest.json`: the hashed file names of the entry's outputs. */
export interface UiManifest {
  readonly js: string;
  readonly css: string;
  readonly files: readonly string[];
}

export interface UiBundle {
  readonly manifest: UiManifest;
  readonly dir: string;
}

/**
 * The built admin UI, found by walking up from this module to the package root (the same code
 * runs from the sources and from `dist/`). Undefined when it has not been built.
 */
export function loadUiBundle(from = dirname(fileURLToPath(import.meta.url))): UiBundle | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, UI_OUT_DIR);
    if (existsSync(join(candidate, 'manifest.json'))) {
      return { dir: candidate, manifest: JSON.parse(readFileSync(join(candidate, 'manifest.json'), 'utf8')) as UiManifest };
    }
    if (dirname(dir) === dir) return undefined;
  }
}
