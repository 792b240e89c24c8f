import { expect } from 'chai';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Databases } from './support/databases.js';
import { installedProject, NPM_ENV, root, scratchDir } from './support/packed.js';
import { callThroughConfig, runCommand, startCommand, type StdioServerEntry } from './support/processes.js';


/** Every file under `dir`, relative to it. */
function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(path.join(dir, entry.name), `${prefix}${entry.name}/`) : [`${prefix}${entry.name}`],
  );
}

/** A host project's config, found by the CLI in its working directory: its own plugin with its own table. */
const CONFIG = `import { definePlugin, defineTool, z } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';

const notes = definePlugin({
  id: 'notes',
  migrations: new URL('./migrations/', import.meta.url),
  tools: [
    defineTool({
      name: 'notes.count',
      description: 'Count the notes.',
      input: z.object({}),
      handler: async (_input, ctx) => String((await ctx.db.table('notes').count({ n: '*' }))[0].n),
    }),
  ],
});

export default { plugins: [communityEdition(), notes], migrate: false };
`;

const MIGRATION = `export async function up(knex) {
  await knex.schema.createTable('notes', (t) => { t.increments('id'); t.text('tenant').notNullable(); t.text('body'); });
}
export async function down(knex) {
  await knex.schema.dropTable('notes');
}
`;

describe('engine: the packed tarball @gatehouse-mcp/engine, installed into an empty project', function () {
  this.timeout(600_000);
  let work: string;
  let project: string;
  let pkgDir: string;
  let env: NodeJS.ProcessEnv;

  const gatehouse = (args: string[], cwd = project) => runCommand('npx', ['gatehouse', ...args], { cwd, env });

  before(async () => {
    work = scratchDir('engine-tarball-');
    env = { ...process.env, ...NPM_ENV, GATEHOUSE_DATA_DIR: path.join(work, 'data') };
    delete env.DATABASE_URL;
    project = await installedProject('engine-tarball-', [], env);
    mkdirSync(path.join(project, 'migrations'), { recursive: true });
    pkgDir = path.join(project, 'node_modules', '@gatehouse-mcp', 'engine');
  });

  it('ships what runs: the build, the example’s OpenAPI document, the admin UI and the LICENSE; no maps, no build scripts', () => {
    const files = filesUnder(pkgDir);
    const manifest = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
    expect(manifest.license).to.equal('Apache-2.0');
    expect(readFileSync(path.join(pkgDir, 'LICENSE'), 'utf8')).to.include('Apache License').and.include('Version 2.0, January 2004');
    expect(files).to.include.members(['dist/src/cli/gatehouse.js', 'dist/src/core/index.d.ts', 'dist/examples/tickets-plugin/openapi.yaml', 'dist-ui/admin/manifest.json', 'dist/src/connector/cli.js']);
    expect(files.filter((file) => file.endsWith('.map'))).to.deep.equal([]);
    expect(files.filter((file) => /build-ui|\/test\/|\.test\.|^src\/|^scripts\//.test(file))).to.deep.equal([]);
  });

  it('npx gatehouse --help and --version', async () => {
    const help = await gatehouse(['--help']);
    expect(help.code).to.equal(0);
    expect(help.stdout).to.include('gatehouse keys create --tenant T').and.include('--config FILE');
    expect((await gatehouse(['--version'])).stdout.trim()).to.equal(JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version);
  });

  it('the host project’s gatehouse.config.mjs: migrate creates its tables, keys create|list|revoke, serve runs its tool', async () => {
    writeFileSync(path.join(project, 'gatehouse.config.mjs'), CONFIG);
    writeFileSync(path.join(project, 'migrations', '20261130000001_notes.mjs'), MIGRATION);
    try {
      const refused = await gatehouse(['serve', '--port', '0']);
      expect(refused.code).to.equal(1);
      expect(refused.stderr).to.include('notes/20261130000001_notes');

      const migrated = await gatehouse(['migrate']);
      expect(migrated.code, migrated.stderr).to.equal(0);
      expect(migrated.stdout).to.include('Migrations are up to date (core, notes).');

      const created = await gatehouse(['keys', 'create', '--tenant', 'acme', '--name', 'ci bot', '--scopes', 'mcp', '--expires-in', '90d']);
      expect(created.code, created.stderr).to.equal(0);
      const secret = /^(ghk_\S+)$/m.exec(created.stdout)![1]!;
      const id = /Created key (\S+)/.exec(created.stdout)![1]!;
      const listed = await gatehouse(['keys', 'list', '--tenant', 'acme']);
      expect(listed.stdout).to.match(new RegExp(`${id}\\s+\\S+\\s+active\\s+mcp\\s+ci bot`));

      const server = await startCommand('npx', ['gatehouse', 'serve', '--port', '0', '--public-url', 'http://127.0.0.1'], /serving MCP at/, { cwd: project, env });
      try {
        const url = /per tenant: (\S+)\/t\/<tenant>\/api\/mcp/.exec(server.output())![1]!;
        const client = new Client({ name: 'tarball-test', version: '1' });
        await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/t/acme/api/mcp`), { requestInit: { headers: { authorization: `Bearer ${secret}` } } }));
        expect((await client.callTool({ name: 'notes.count', arguments: {} })).content).to.deep.equal([{ type: 'text', text: '0' }]);
        await client.close();
      } finally {
        // npm exec ends by the signal itself (128); stop() waits until the engine it started is gone too, and the next command proves the data directory was released.
        expect(await server.stop()).to.be.oneOf([0, 128]);
      }

      const revoked = await gatehouse(['keys', 'revoke', '--tenant', 'acme', '--id', id]);
      expect(revoked.code, revoked.stderr).to.equal(0);
    } finally {
      rmSync(path.join(project, 'gatehouse.config.mjs'));
    }
  });

  it('without a config: migrate --edition enterprise, and the demo, whose printed stdio configuration works pasted into a client', async () => {
    const bare = project;
    const enterprise = await gatehouse(['migrate', '--edition', 'enterprise', '--data-dir', path.join(work, 'ee-data')], bare);
    expect(enterprise.code, enterprise.stderr).to.equal(0);
    expect(enterprise.stdout).to.match(/Migrations are up to date \(core, \S+\)\./);

    const demo = await startCommand('npx', ['gatehouse', 'demo', '--port', '0', '--data-dir', path.join(work, 'demo-data')], /Press Ctrl\+C to stop/, { cwd: bare, env });
    try {
      const out = demo.output();
      const json = /through the connector on this machine:\n(\{[\s\S]*?\n\})\n/.exec(out)![1]!;
      const entry = (JSON.parse(json) as { mcpServers: { gatehouse: StdioServerEntry } }).mcpServers.gatehouse;
      expect(entry.command).to.equal(process.execPath);
      expect(entry.args[0]).to.equal(path.join(pkgDir, 'dist', 'src', 'connector', 'cli.js'));
      expect(existsSync(entry.args[0]!)).to.equal(true);
      expect(out).to.include('After installing the connector from the registry').and.include('"-y","@gatehouse-mcp/connector"');
      const result = await callThroughConfig(entry, { PATH: process.env.PATH ?? '' }, 'tickets.create', { title: 'through the pasted config' });
      expect(JSON.stringify(result.structuredContent)).to.include('through the pasted config');
    } finally {
      expect(await demo.stop()).to.be.oneOf([0, 128]);
    }
    const listed = await gatehouse(['keys', 'list', '--tenant', 'demo', '--data-dir', path.join(work, 'demo-data')], bare);
    expect(listed.code, listed.stderr).to.equal(0);
    expect(listed.stdout).to.match(/active\s+mcp\s+demo key/);
  });

  it('the admin UI answers 503 saying how to build it while dist-ui is missing', async () => {
    const databases = new Databases();
    const ui = path.join(pkgDir, 'dist-ui');
    renameSync(ui, `${ui}.away`);
    try {
      const server = await startCommand('npx', ['gatehouse', 'serve', '--edition', 'enterprise', '--port', '0'], /serving MCP at/, {
        cwd: project,
        env: { ...env, DATABASE_URL: await databases.fresh() },
      });
      try {
        const url = /per tenant: (\S+)\/t\/<tenant>\/api\/mcp/.exec(server.output())![1]!;
        const response = await fetch(`${url}/admin`);
        expect(response.status).to.equal(503);
        expect(await response.text()).to.include('The admin UI has not been built: run \\"npm run build:ui\\".');
      } finally {
        expect(await server.stop()).to.be.oneOf([0, 128]);
      }
    } finally {
      renameSync(`${ui}.away`, ui);
      await databases.close();
    }
  });
});
