/**
 * Builds the connector on its own and packs it: `npm run pack:connector` compiles src/connector into
 * dist/connector/package with a package.json whose only dependencies are the MCP SDK and
 * openid-client (at the versions of the root lockfile), then writes
 * dist/connector/gatehouse-mcp-connector-<version>.tgz (the package `@gatehouse-mcp/connector`, bin
 * `gatehouse-connector`).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONNECTOR_BIN, CONNECTOR_NAME, CONNECTOR_VERSION } from '../src/connector/version.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = path.join(root, 'dist', 'connector');
const staging = path.join(out, 'package');
const DEPENDENCIES = ['@modelcontextprotocol/sdk', 'openid-client'];

function lockedVersion(name: string): string {
  const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> };
  const version = lock.packages[`node_modules/${name}`]?.version;
  if (!version) throw new Error(`${name} is not in package-lock.json`);
  return version;
}

rmSync(out, { recursive: true, force: true });
mkdirSync(staging, { recursive: true });

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', path.join(root, 'connector', 'tsconfig.json'), '--outDir', path.join(staging, 'dist')], { stdio: 'inherit' });
chmodSync(path.join(staging, 'dist', 'cli.js'), 0o755);

// The connector ships alone: nothing it compiled may reach into the engine.
for (const file of readdirSync(path.join(staging, 'dist'))) {
  const text = readFileSync(path.join(staging, 'dist', file), 'utf8');
  const stray = /from ['"](\.\.\/[^'"]*|knex|pg|objection|@electric-sql\/[^'"]*|inversify)['"]/.exec(text);
  if (stray) throw new Error(`dist/${file} imports ${stray[1]}; the connector must depend only on ${DEPENDENCIES.join(' and ')}.`);
}

const rootPackage = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { license?: string; engines?: Record<string, string> };
const manifest = {
  name: CONNECTOR_NAME,
  version: CONNECTOR_VERSION,
  description: 'Connect any stdio MCP client (Claude Desktop, Cursor, VS Code…) to a Gatehouse MCP server, with an API key or OAuth client credentials.',
  type: 'module',
  license: rootPackage.license ?? 'Apache-2.0',
  bin: { [CONNECTOR_BIN]: 'dist/cli.js' },
  files: ['dist/', 'README.md', 'LICENSE'],
  engines: rootPackage.engines ?? { node: '>=20.11' },
  keywords: ['mcp', 'model-context-protocol', 'gatehouse', 'stdio', 'proxy'],
  dependencies: Object.fromEntries(DEPENDENCIES.map((name) => [name, lockedVersion(name)])),
  publishConfig: { access: 'public', provenance: true },
};
writeFileSync(path.join(staging, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
copyFileSync(path.join(root, 'connector', 'README.md'), path.join(staging, 'README.md'));
copyFileSync(path.join(root, 'LICENSE'), path.join(staging, 'LICENSE'));

const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', out], { cwd: staging, encoding: 'utf8' })) as { filename: string }[];
process.stdout.write(`${path.join(out, packed[0]!.filename)}\n`);
