import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { EngineOptions } from '../core/index.js';

/** The file names `gatehouse` looks for in the working directory, in this order. */
export const CONFIG_FILES = ['gatehouse.config.ts', 'gatehouse.config.mts', 'gatehouse.config.js', 'gatehouse.config.mjs'] as const;

/**
 * What a `gatehouse.config.*` file exports as default: the host's engine options (its edition
 * plugin and its own plugins, database, public URL …), or a function returning them. The
 * command line's flags (`--public-url`, `--data-dir`, …) override what the file sets.
 */
export type GatehouseConfig = EngineOptions | (() => EngineOptions | Promise<EngineOptions>);

export interface LoadedConfig {
  readonly file: string;
  readonly options: EngineOptions;
}

/** A config file that is missing, cannot be loaded, or exports something else. */
export class ConfigFileError extends Error {}

/** The config file to use: `--config`, else the first of {@link CONFIG_FILES} in `cwd`, else none. */
export function findConfigFile(explicit: string | undefined, cwd = process.cwd()): string | undefined {
  if (explicit !== undefined) {
    const file = path.resolve(cwd, explicit);
    if (!existsSync(file)) throw new ConfigFileError(`--config ${explicit}: no such file.`);
    return file;
  }
  return CONFIG_FILES.map((name) => path.join(cwd, name)).find((file) => existsSync(file));
}

const isTypeScript = (file: string): boolean => /\.[cm]?ts$/.test(file);

async function importFile(file: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(file).href;
  try {
    return (await import(url)) as Record<string, unknown>;
  } catch (error) {
    if (!isTypeScript(file) || (error as { code?: string }).code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw error;
  }
  // Plain Node does not load TypeScript: register the host's tsx, when it has one, for this process
  // (not a namespaced import, so the file shares the engine's modules with this CLI).
  let tsx: { register(): unknown };
  try {
    tsx = (await import('tsx/esm/api')) as typeof tsx;
  } catch {
    throw new ConfigFileError(`${path.basename(file)} is TypeScript: install tsx in the project (npm install -D tsx), or write gatehouse.config.mjs instead.`);
  }
  tsx.register();
  return (await import(url)) as Record<string, unknown>;
}

/** Load a config file and check that it exports engine options with plugins. */
export async function loadConfigFile(file: string): Promise<LoadedConfig> {
  let mod: Record<string, unknown>;
  try {
    mod = await importFile(file);
  } catch (error) {
    if (error instanceof ConfigFileError) throw error;
    throw new ConfigFileError(`Cannot load ${file}: ${(error as Error).message}`);
  }
  let exported = mod.default;
  if (typeof exported === 'function') exported = await (exported as () => unknown)();
  if (typeof exported !== 'object' || exported === null || !Array.isArray((exported as { plugins?: unknown }).plugins)) {
    throw new ConfigFileError(`${file} must export default the engine options, e.g. export default { plugins: [communityEdition(), myPlugin()] }.`);
  }
  return { file, options: exported as EngineOptions };
}
