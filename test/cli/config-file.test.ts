import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { openDatabase } from '@gatehouse-mcp/engine';
import { runCommand, startCommand } from '../packages/support/processes.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const CLI = ['--conditions=gatehouse-source', '--import', 'tsx', path.join(root, 'src/cli/gatehouse.ts')];
const CONFIG = path.join(root, 'test/cli/fixtures/gatehouse.config.ts');

/** The embedded database only: these tests are about one data directory shared by several processes. */
function embeddedEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.DATABASE_URL;
  delete env.GATEHOUSE_DATA_DIR;
  return env;
}

const gatehouse = (args: string[]) => runCommand(process.execPath, [...CLI, ...args], { cwd: root, env: embeddedEnv() });

/** Which tables the data directory's embedded database has (DATABASE_URL would send openDatabase to PostgreSQL instead). */
async function tables(dataDir: string, names: string[]): Promise<Record<string, boolean>> {
  const url = process.env.DATABASE_URL;
  delete process.env.DATABASE_URL;
  let db;
  try {
    db = await openDatabase({ dataDir });
  } finally {
    if (url !== undefined) process.env.DATABASE_URL = url;
  }
  try {
    return Object.fromEntries(await Promise.all(names.map(async (name) => [name, await db.knex.schema.hasTable(name)] as const)));
  } finally {
    await db.close();
  }
}

describe('the gatehouse CLI with a config file', function () {
  this.timeout(180_000);
  let dataDir: string;

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'gatehouse-config-'));
  });
  afterEach(() => rm(dataDir, { recursive: true, force: true }));

  it('migrate: false + a database without the host plugin’s tables: serve refuses to start, naming them; migrate --config creates them; then serve runs the host’s tools', async () => {
    const refused = await gatehouse(['serve', '--config', CONFIG, '--port', '0', '--data-dir', dataDir]);
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.match(/The database is behind: \d+ migrations are not applied \(core\/20261124000001_api_keys, (core\/\S+, )*host-notes\/20261130000001_notes\)/);
    expect(refused.stderr).not.to.match(/\n\s+at /);

    const migrated = await gatehouse(['migrate', '--config', CONFIG, '--data-dir', dataDir]);
    expect(migrated.code, migrated.stderr).to.equal(0);
    expect(migrated.stdout).to.include('Migrations are up to date (core, host-notes).');
    expect(await tables(dataDir, ['api_keys', 'host_notes', 'tickets'])).to.deep.equal({ api_keys: true, host_notes: true, tickets: false });

    const created = await gatehouse(['keys', 'create', '--tenant', 'acme', '--config', CONFIG, '--data-dir', dataDir]);
    expect(created.code, created.stderr).to.equal(0);
    const secret = /^(ghk_\S+)$/m.exec(created.stdout)![1]!;

    const server = await startCommand(process.execPath, [...CLI, 'serve', '--config', CONFIG, '--port', '0', '--data-dir', dataDir], /serving MCP at (\S+)/, { cwd: root, env: embeddedEnv() });
    try {
      const url = /per tenant: (\S+)\/t\/<tenant>\/api\/mcp/.exec(server.output())![1]!;
      const client = new Client({ name: 'config-test', version: '1' });
      await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/t/acme/api/mcp`), { requestInit: { headers: { authorization: `Bearer ${secret}` } } }));
      expect((await client.listTools()).tools.map((tool) => tool.name)).to.deep.equal(['notes.count']);
      expect((await client.callTool({ name: 'notes.count', arguments: {} })).content).to.deep.equal([{ type: 'text', text: '0' }]);
      await client.close();

      // The embedded database is the running engine's: a second process is told what to do instead of working on a copy.
      const second = await gatehouse(['keys', 'create', '--tenant', 'acme', '--config', CONFIG, '--data-dir', dataDir]);
      expect(second.code).to.equal(1);
      expect(second.stderr).to.include(`The embedded database in ${dataDir} is in use by another process (pid ${server.child.pid})`);
      expect(second.stderr).to.include('Stop that engine first').and.include('DATABASE_URL');
    } finally {
      expect(await server.stop()).to.equal(0);
    }
    // Stopped, it releases the directory.
    const after = await gatehouse(['keys', 'list', '--tenant', 'acme', '--config', CONFIG, '--data-dir', dataDir]);
    expect(after.code, after.stderr).to.equal(0);
  });

  it('without a config, migrate and serve create no example tables', async () => {
    const migrated = await gatehouse(['migrate', '--data-dir', dataDir]);
    expect(migrated.code, migrated.stderr).to.equal(0);
    expect(migrated.stdout).to.include('Migrations are up to date (core).');
    expect(await tables(dataDir, ['api_keys', 'tickets'])).to.deep.equal({ api_keys: true, tickets: false });
  });

  it('a missing --config file and --edition next to a config are usage errors', async () => {
    const missing = await gatehouse(['migrate', '--config', 'no/such/gatehouse.config.ts', '--data-dir', dataDir]);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.include('--config no/such/gatehouse.config.ts: no such file.');
    const both = await gatehouse(['migrate', '--config', CONFIG, '--edition', 'enterprise', '--data-dir', dataDir]);
    expect(both.code).to.equal(2);
    expect(both.stderr).to.include('--edition cannot be combined with');
  });
});
