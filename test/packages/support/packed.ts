import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from './processes.js';

export const root = fileURLToPath(new URL('../../..', import.meta.url));
/** npm answers from its cache where it can: the tests need no registry round trip for what was installed before. */
export const NPM_ENV = { npm_config_prefer_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };

let packed: Promise<string> | undefined;
const scratch: string[] = [];
process.once('exit', () => scratch.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** A directory removed when the test process ends. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  scratch.push(dir);
  return dir;
}

/** `npm pack` of the engine, once per test process (prepack builds: never a build made beforehand). */
export function packEngine(): Promise<string> {
  packed ??= (async () => {
    const dir = scratchDir('engine-pack-');
    const result = await runCommand('npm', ['pack', '--json', '--pack-destination', dir], { cwd: root, timeoutMs: 300_000 });
    expect(result.code, result.stderr).to.equal(0);
    return path.join(dir, (JSON.parse(result.stdout) as { filename: string }[])[0]!.filename);
  })();
  return packed;
}

/** The exact version of a package the repository pins (dependencies or devDependencies). */
export function pinned(name: string): string {
  const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
  const version = manifest.dependencies[name] ?? manifest.devDependencies[name];
  if (!version) throw new Error(`${name} is not a dependency of the repository`);
  return `${name}@${version}`;
}

/** An empty ES-module project with the packed engine (and `extra` packages) installed. */
export async function installedProject(prefix: string, extra: readonly string[] = [], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const tarball = await packEngine();
  const project = path.join(scratchDir(prefix), 'project');
  mkdirSync(project, { recursive: true });
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'host-project', private: true, type: 'module' }));
  const installed = await runCommand('npm', ['install', tarball, ...extra], { cwd: project, env: { ...env, ...NPM_ENV }, timeoutMs: 300_000 });
  expect(installed.code, installed.stderr).to.equal(0);
  return project;
}
