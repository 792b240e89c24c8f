import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { baseEnv, connectConnector } from '../connector/support/connector-process.js';
import { connectorTestTools } from '../connector/support/tools-plugin.js';
import { callThroughConfig, runCommand, type StdioServerEntry } from './support/processes.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const FORBIDDEN = ['pg', 'knex', 'objection', '@electric-sql/pglite', 'knex-pglite', 'inversify'];
/** npm answers from its cache where it can: the test needs no registry round trip for what it installed before. */
const NPM_ENV = { npm_config_prefer_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };

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

describe('connector: the packed tarball @gatehouse-mcp/connector', function () {
  this.timeout(240_000);
  let dir: string;
  let tarball: string;
  let t: TestEngine;
  let secret: string;

  before(async () => {
    const packed = await runCommand('npm', ['run', '--silent', 'pack:connector'], { cwd: root });
    expect(packed.code, packed.stderr).to.equal(0);
    tarball = packed.stdout.trim().split('\n').at(-1)!;
    expect(tarball).to.match(/\/gatehouse-mcp-connector-\d+\.\d+\.\d+\.tgz$/);
    dir = mkdtempSync(path.join(tmpdir(), 'connector-install-'));
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'empty-project', private: true }));
    const installed = await runCommand('npm', ['install', tarball], { cwd: dir, env: { ...process.env, ...NPM_ENV } });
    expect(installed.code, installed.stderr).to.equal(0);
    t = await createTestEngine({ plugins: [communityEdition(), connectorTestTools()], connect: false });
    ({ secret } = await t.createKey());
  });

  after(async () => {
    await t?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('ships its bin, README and the Apache-2.0 LICENSE its package.json names', () => {
    const pkgDir = path.join(dir, 'node_modules', '@gatehouse-mcp', 'connector');
    const manifest = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
    expect(manifest.name).to.equal('@gatehouse-mcp/connector');
    expect(manifest.bin).to.deep.equal({ 'gatehouse-connector': 'dist/cli.js' });
    expect(manifest.license).to.equal('Apache-2.0');
    expect(readFileSync(path.join(pkgDir, 'LICENSE'), 'utf8')).to.include('Apache License').and.include('Version 2.0, January 2004');
    expect(readdirSync(path.join(pkgDir, 'dist')).filter((file) => file.endsWith('.map'))).to.deep.equal([]);
  });

  it('installs into an empty directory and runs with npx', async () => {
    const { code, stdout } = await runCommand('npx', ['gatehouse-connector', '--help'], { cwd: dir, env: baseEnv() });
    expect(code).to.equal(0);
    expect(stdout).to.include('Usage:').and.include('gatehouse-connector --url <mcp-url>');
  });

  it('pulls in no database driver, ORM, embedded database or engine internals', () => {
    const installed = installedPackages(dir);
    expect(installed.has('@modelcontextprotocol/sdk')).to.equal(true);
    expect(installed.has('openid-client')).to.equal(true);
    expect(FORBIDDEN.filter((name) => installed.has(name))).to.deep.equal([]);
  });

  it('the installed connector serves a real engine over stdio', async () => {
    const cli = path.join(dir, 'node_modules', '@gatehouse-mcp', 'connector', 'dist', 'cli.js');
    const connector = await connectConnector(['--url', t.engine.mcpUrl()], { GATEHOUSE_API_KEY: secret }, [cli]);
    try {
      const result = await connector.client.callTool({ name: 'echo', arguments: { text: 'from the tarball' } });
      expect(result.content).to.deep.equal([{ type: 'text', text: 'from the tarball' }]);
    } finally {
      await connector.close();
    }
  });

  describe('printed configurations, pasted verbatim into a stdio client', () => {
    /** Run print-config, paste its Claude Desktop entry with the placeholder replaced, call a tool. */
    async function pasteAndCall(printed: { code: number; stdout: string; stderr: string }, text: string): Promise<StdioServerEntry> {
      expect(printed.code, printed.stderr).to.equal(0);
      const entry = JSON.parse(printed.stdout).mcpServers.gatehouse as StdioServerEntry;
      expect(entry.env).to.deep.equal({ GATEHOUSE_API_KEY: '<your Gatehouse API key>' });
      // The client's own environment: no npm project, no PATH tricks, just what the entry names.
      const result = await callThroughConfig({ ...entry, env: { GATEHOUSE_API_KEY: secret } }, { ...baseEnv(), ...NPM_ENV }, 'echo', { text });
      expect(result.content).to.deep.equal([{ type: 'text', text }]);
      return entry;
    }

    it('print-config from the installed package starts that installed connector', async () => {
      const printed = await runCommand('npx', ['gatehouse-connector', 'print-config', '--client', 'claude-desktop', '--url', t.engine.mcpUrl()], { cwd: dir, env: baseEnv() });
      const entry = await pasteAndCall(printed, 'installed');
      expect(entry.command).to.equal(process.execPath);
      expect(entry.args[0]).to.equal(path.join(dir, 'node_modules', '@gatehouse-mcp', 'connector', 'dist', 'cli.js'));
    });

    it('print-config --package <relative tarball> starts the tarball through npx from any directory', async () => {
      const relative = path.relative(root, tarball);
      const printed = await runCommand(
        process.execPath,
        ['--import', 'tsx', 'src/connector/cli.ts', 'print-config', '--client', 'claude-desktop', '--url', t.engine.mcpUrl(), '--package', relative],
        { cwd: root, env: baseEnv() },
      );
      const entry = await pasteAndCall(printed, 'tarball');
      expect(entry.command).to.equal('npx');
      expect(entry.args.slice(0, 3)).to.deep.equal(['-y', `--package=file:${tarball}`, 'gatehouse-connector']);
    });

    it('print-config from the clone’s sources starts the clone’s connector', async () => {
      const printed = await runCommand(
        process.execPath,
        ['--import', 'tsx', 'src/connector/cli.ts', 'print-config', '--client', 'claude-desktop', '--url', t.engine.mcpUrl()],
        { cwd: root, env: baseEnv() },
      );
      const entry = await pasteAndCall(printed, 'clone');
      expect(entry.args).to.include(path.join(root, 'src', 'connector', 'cli.ts'));
    });
  });
});
