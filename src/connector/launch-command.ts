import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from './connector-error.js';
import { CONNECTOR_BIN, CONNECTOR_NAME, CONNECTOR_VERSION } from './version.js';

/** What a stdio client runs to start the connector: a command and the arguments before the connector's own. */
export interface LaunchCommand {
  readonly command: string;
  readonly args: readonly string[];
}

/** The registry form: what works once the connector is published and installed from the registry. */
export function registryLaunch(spec: string = CONNECTOR_NAME): LaunchCommand {
  return { command: 'npx', args: ['-y', spec] };
}

/**
 * This very connector, started from where it is on this machine: the clone's sources (through the
 * clone's tsx), the clone's or an installed package's built `cli.js`, or — when it runs from npx's
 * cache, which npm may clear — the registry form pinned to this version.
 */
export function localLaunch(): LaunchCommand {
  const self = fileURLToPath(import.meta.url);
  const extension = path.extname(self);
  const cli = path.join(path.dirname(self), `cli${extension}`);
  if (self.split(path.sep).includes('_npx')) return registryLaunch(`${CONNECTOR_NAME}@${CONNECTOR_VERSION}`);
  if (extension === '.ts') {
    // Resolved from here, so the client's working directory does not matter.
    return { command: process.execPath, args: ['--import', import.meta.resolve('tsx'), cli] };
  }
  return { command: process.execPath, args: [cli] };
}

const PATH_LIKE = /^(?:file:|\.{0,2}\/|[A-Za-z]:[\\/])|\.tgz$/;

/**
 * What `--package` names: a tarball (an absolute `file:` spec npx can install from any working
 * directory; it must exist) or a registry spec such as `@gatehouse-mcp/connector@0.1.0`.
 */
export function packageLaunch(spec: string, cwd = process.cwd()): LaunchCommand {
  if (!PATH_LIKE.test(spec)) return registryLaunch(spec);
  const file = spec.startsWith('file:') ? (spec.startsWith('file://') ? fileURLToPath(spec) : spec.slice('file:'.length)) : spec;
  const absolute = path.resolve(cwd, file);
  if (!existsSync(absolute)) throw new UsageError(`--package ${spec}: no such file.`);
  // npx needs the bin name when the package comes from a file; `file:` keeps npm from reading it as a registry name.
  return { command: 'npx', args: ['-y', `--package=file:${absolute}`, CONNECTOR_BIN] };
}
