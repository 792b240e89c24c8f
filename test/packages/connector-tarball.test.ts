import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AgentStore, IdpProviderStore, enterpriseEdition } from '@gatehouse-mcp/engine/ee';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, uniqueTenant, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { RoleStore } from '../../src/plugins/ee/rbac/role-store.js';
import { startOidcProvider, type OidcClient, type OidcFixture } from '../ee/support/oidc.js';
import { baseEnv, connectConnector } from '../connector/support/connector-process.js';
import { connectorTestTools } from '../connector/support/tools-plugin.js';
import { documentedCommand } from './support/documented.js';
import { NPM_ENV, root } from './support/packed.js';
import { callThroughConfig, runCommand, type StdioServerEntry } from './support/processes.js';

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

  it('installs into an empty directory and runs with npx, as docs/connector.md shows', async () => {
    const [npx, ...args] = documentedCommand('npx -y @gatehouse-mcp/connector --help');
    const { code, stdout } = await runCommand(npx!, args, { cwd: dir, env: { ...baseEnv(), ...NPM_ENV } });
    expect(code).to.equal(0);
    expect(stdout).to.include('Usage:').and.include('gatehouse-connector --url <mcp-url>');
  });

  it('runs from the tarball without installing it, with the command docs/connector.md shows (its version included)', async () => {
    const command = 'npx -y --package=file:$PWD/dist/connector/gatehouse-mcp-connector-0.1.0.tgz gatehouse-connector --help';
    documentedCommand(command);
    expect(tarball, 'the version the docs name is the packed one').to.equal(path.join(root, 'dist', 'connector', 'gatehouse-mcp-connector-0.1.0.tgz'));
    const { code, stdout, stderr } = await runCommand('sh', ['-c', command], { cwd: root, env: { ...baseEnv(), ...NPM_ENV } });
    expect(code, stderr).to.equal(0);
    expect(stdout).to.include('gatehouse-connector --url <mcp-url>');
  });

  it('npx -y @gatehouse-mcp/connector --url … with GATEHOUSE_API_KEY serves a real engine over stdio', async () => {
    const [command, ...args] = documentedCommand('npx -y @gatehouse-mcp/connector --url https://mcp.example.com/api/mcp', { 'https://mcp.example.com/api/mcp': t.engine.mcpUrl() });
    const result = await callThroughConfig({ command: command!, args }, { ...baseEnv(), ...NPM_ENV, GATEHOUSE_API_KEY: secret }, 'echo', { text: 'as documented' }, { cwd: dir });
    expect(result.content).to.deep.equal([{ type: 'text', text: 'as documented' }]);
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
    async function pasteAndCall(printed: { code: number; stdout: string; stderr: string }, text: string, placeholder = '<your Gatehouse API key>'): Promise<StdioServerEntry> {
      expect(printed.code, printed.stderr).to.equal(0);
      const entry = JSON.parse(printed.stdout).mcpServers.gatehouse as StdioServerEntry;
      expect(entry.env).to.deep.equal({ GATEHOUSE_API_KEY: placeholder });
      // The client's own environment: no npm project, no PATH tricks, just what the entry names.
      const result = await callThroughConfig({ ...entry, env: { GATEHOUSE_API_KEY: secret } }, { ...baseEnv(), ...NPM_ENV }, 'echo', { text });
      expect(result.content).to.deep.equal([{ type: 'text', text }]);
      return entry;
    }

    const printConfig = {
      'claude-desktop': 'npx -y @gatehouse-mcp/connector print-config --client claude-desktop --url https://mcp.example.com/api/mcp',
      cursor: 'npx -y @gatehouse-mcp/connector print-config --client cursor --url https://mcp.example.com/api/mcp',
    };
    for (const [client, command] of Object.entries(printConfig)) {
      it(`print-config --client ${client} from the installed package starts that installed connector`, async () => {
        const [npx, ...args] = documentedCommand(command, { 'https://mcp.example.com/api/mcp': t.engine.mcpUrl() });
        const printed = await runCommand(npx!, args, { cwd: dir, env: { ...baseEnv(), ...NPM_ENV } });
        // Cursor fills the key in from the user's environment; Claude Desktop's file holds it.
        const entry = await pasteAndCall(printed, `installed, ${client}`, client === 'cursor' ? '${env:GATEHOUSE_API_KEY}' : '<your Gatehouse API key>');
        expect(entry.command).to.equal(process.execPath);
        expect(entry.args[0]).to.equal(path.join(dir, 'node_modules', '@gatehouse-mcp', 'connector', 'dist', 'cli.js'));
      });
    }

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
  describe('an agent of the Enterprise edition, with client credentials from a real OpenID provider', () => {
    let idp: OidcFixture;
    let ee: TestEngine;
    let tenant: string;
    let agent: OidcClient;
    /** The docs' placeholders, replaced by this machine's engine, IdP and agent. */
    let substitute: Record<string, string>;

    before(async () => {
      idp = await startOidcProvider();
      ee = await createTestEngine({ connect: false, plugins: [enterpriseEdition(), connectorTestTools()] });
      tenant = uniqueTenant('acme');
      const provider = await ee.engine.resolve(IdpProviderStore).create(tenant, { kind: 'custom', name: 'Corporate IdP', issuer: idp.issuer, subjectClaim: 'client_id' });
      agent = await idp.registerClient('ticket-bot');
      const created = await ee.engine.resolve(AgentStore).create(tenant, { name: 'Ticket bot', idpId: provider.id, subject: agent.clientId });
      const roles = ee.engine.resolve(RoleStore);
      await roles.assign(tenant, created.id, [(await roles.create(tenant, { name: 'echo', permissions: ['*'] })).id]);
      substitute = {
        'https://mcp.example.com/t/acme/api/mcp': ee.engine.mcpUrl(tenant),
        'https://idp.example.com/realms/acme': idp.issuer,
        'https://idp.example.com': idp.issuer,
        'ticket-bot': agent.clientId,
      };
    });

    after(async () => {
      await ee?.close();
      await idp?.close();
    });

    it('npx -y @gatehouse-mcp/connector --url … --issuer … --client-id … --scope mcp gets a token and calls a tool as the agent', async () => {
      const [command, ...args] = documentedCommand(
        'npx -y @gatehouse-mcp/connector --url https://mcp.example.com/t/acme/api/mcp --issuer https://idp.example.com/realms/acme --client-id ticket-bot --scope mcp',
        substitute,
      );
      const result = await callThroughConfig({ command: command!, args }, { ...baseEnv(), ...NPM_ENV, GATEHOUSE_CLIENT_SECRET: agent.clientSecret }, 'echo', { text: 'as the agent' }, { cwd: dir });
      expect(result.content).to.deep.equal([{ type: 'text', text: 'as the agent' }]);
    });

    it('print-config --client vscode with the IdP flags prints a configuration that works pasted, its secret given', async () => {
      const [npx, ...args] = documentedCommand(
        'npx -y @gatehouse-mcp/connector print-config --client vscode --url https://mcp.example.com/t/acme/api/mcp --issuer https://idp.example.com --client-id ticket-bot --scope mcp',
        substitute,
      );
      const printed = await runCommand(npx!, args, { cwd: dir, env: { ...baseEnv(), ...NPM_ENV } });
      expect(printed.code, printed.stderr).to.equal(0);
      const config = JSON.parse(printed.stdout) as { inputs: { id: string }[]; servers: { gatehouse: StdioServerEntry } };
      const entry = config.servers.gatehouse;
      // VS Code asks for the secret (the input the entry names) and passes it in the environment.
      expect(entry.env).to.deep.equal({ GATEHOUSE_CLIENT_SECRET: `\${input:${config.inputs[0]!.id}}` });
      const result = await callThroughConfig({ ...entry, env: { GATEHOUSE_CLIENT_SECRET: agent.clientSecret } }, { ...baseEnv(), ...NPM_ENV }, 'echo', { text: 'vscode' });
      expect(result.content).to.deep.equal([{ type: 'text', text: 'vscode' }]);
    });
  });
});
