import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine } from '@gatehouse-mcp/engine/testing';
import { baseEnv, connectConnector } from './support/connector-process.js';
import { connectorTestTools } from './support/tools-plugin.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const FORBIDDEN = ['pg', 'knex', 'objection', '@electric-sql/pglite', 'knex-pglite', 'inversify'];

/** Every package name installed anywhere under `dir` (nested node_modules included). */
function installedPackages(dir: string, found = new Set<string>()): Set<string> {
  const modules = path.join(dir, 'node_modules');
  if (!existsSync(modules)) return found;
  for (const entry of readdirSync(modules)) {
    if (entry.startsWith('.')) continue;
    const names = entry.startsWith('@') ? readdirSync(path.join(modules, entry)).map((name) => `${entry}/${name}`) : [entry];
    for (const name of names) {
      found.add(name);
      installedPackages(path.join(modules, name), found);
    }
  }
  return found;
}

describe('connector: the packed tarball', function () {
  this.timeout(240_000);
  let dir: string;

  before(async () => {
    const { stdout } = await run('npm', ['run', '--silent', 'pack:connector'], { cwd: root });
    const tarball = stdout.trim().split('\n').at(-1)!;
    expect(tarball).to.match(/gatehouse-connector-\d+\.\d+\.\d+\.tgz$/);
    dir = mkdtempSync(path.join(tmpdir(), 'connector-install-'));
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'empty-project', private: true }));
    await run('npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund'], { cwd: dir });
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('installs into an empty directory and runs with npx', async () => {
    const { stdout } = await run('npx', ['gatehouse-connector', '--help'], { cwd: dir, env: baseEnv() });
    expect(stdout).to.include('Usage:').and.include('gatehouse-connector --url <mcp-url>');
  });

  it('pulls in no database driver, ORM, embedded database or engine internals', () => {
    const installed = installedPackages(dir);
    expect(installed.has('@modelcontextprotocol/sdk')).to.equal(true);
    expect(installed.has('openid-client')).to.equal(true);
    expect(FORBIDDEN.filter((name) => installed.has(name))).to.deep.equal([]);
  });

  it('the installed connector serves a real engine over stdio', async () => {
    const t = await createTestEngine({ plugins: [communityEdition(), connectorTestTools()], connect: false });
    const { secret } = await t.createKey();
    const cli = path.join(dir, 'node_modules', 'gatehouse-connector', 'dist', 'cli.js');
    const connector = await connectConnector(['--url', t.engine.mcpUrl()], { GATEHOUSE_API_KEY: secret }, [cli]);
    try {
      const result = await connector.client.callTool({ name: 'echo', arguments: { text: 'from the tarball' } });
      expect(result.content).to.deep.equal([{ type: 'text', text: 'from the tarball' }]);
    } finally {
      await connector.close();
      await t.close();
    }
  });
});
