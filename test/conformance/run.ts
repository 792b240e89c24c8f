/**
 * `npm run conformance`: serves the engine with the conformance fixtures on 127.0.0.1 and runs the
 * official MCP conformance suite against it, checked against `baseline.yml` (the suite fails on a
 * new failure and on a baselined scenario that now passes).
 *
 * The suite is an MCP client that sends no credentials, so a loopback proxy in front of the engine
 * adds them. The proxy is the engine's public URL: Host and Origin pass through unchanged, so the
 * engine's own DNS-rebinding checks are what the suite measures.
 *
 * Uses the embedded database unless DATABASE_URL is set. Usage: run.ts [ce|ee|all] (default all;
 * `ee` runs when the Enterprise edition is present).
 */
import http from 'node:http';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { ApiKeyStore, createEngine, openDatabase, type Engine, type PluginDefinition } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { conformanceFixtures } from './fixture-plugin.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = fileURLToPath(new URL('../../', import.meta.url));
const BASELINE = `${here}baseline.yml`;
const SUITE = `${root}node_modules/@modelcontextprotocol/conformance/dist/index.js`;
const TENANT = 'conformance';

interface Edition {
  readonly name: string;
  /** The tenant whose URL (`/t/<tenant>/api/mcp`) the suite drives; the shared endpoint when unset. */
  readonly tenant?: string;
  plugins(): Promise<PluginDefinition[]>;
  /** Called once the engine runs: returns the credential header value and a clean-up. */
  credential(engine: Engine, publicUrl: string): Promise<{ authorization: string; close?: () => Promise<void> }>;
}

const community: Edition = {
  name: 'Community Edition (API key)',
  plugins: async () => [communityEdition(), conformanceFixtures()],
  async credential(engine) {
    const { secret } = await engine.resolve(ApiKeyStore).create({ tenant: TENANT, name: 'conformance suite' });
    return { authorization: `Bearer ${secret}` };
  },
};

/** A proxy that adds the credential; it starts first so its URL can be the engine's public URL. */
async function startProxy(): Promise<{ url: string; target(port: number, authorization: string): void; close(): Promise<void> }> {
  let upstreamPort = 0;
  let credential = '';
  const server = http.createServer((req, res) => {
    const upstream = http.request(
      { host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: { ...req.headers, authorization: credential } },
      (response) => {
        res.writeHead(response.statusCode ?? 502, response.headers);
        response.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    target(port, authorization) {
      upstreamPort = port;
      credential = authorization;
    },
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Scenarios the suite still lists as pending, which this engine passes: run one by one after the
 * active suite, so a regression in them fails the run too.
 */
const PENDING_SCENARIOS_RUN = ['server-sse-polling', 'json-schema-2020-12'];

function runSuiteOnce(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SUITE, 'server', ...args], { stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function runSuite(url: string): Promise<number> {
  let failed = (await runSuiteOnce(['--url', url, '--expected-failures', BASELINE])) !== 0 ? 1 : 0;
  for (const scenario of PENDING_SCENARIOS_RUN) if ((await runSuiteOnce(['--url', url, '--scenario', scenario])) !== 0) failed++;
  return failed;
}

async function run(edition: Edition): Promise<number> {
  console.log(`\n##### MCP conformance: ${edition.name} #####`);
  const proxy = await startProxy();
  const url = process.env.DATABASE_URL;
  const schema = `gh_conformance_${process.pid}`;
  const database = url ? await openDatabase({ url, schema }) : undefined;
  const engine = await createEngine({
    plugins: await edition.plugins(),
    publicUrl: proxy.url,
    sessions: true,
    logLevel: 'warn',
    database: database ? { knex: database.knex } : { dataDir: 'memory://' },
  });
  let credential: Awaited<ReturnType<Edition['credential']>> | undefined;
  try {
    const { port } = await engine.listen({ host: '127.0.0.1', port: 0 });
    credential = await edition.credential(engine, proxy.url);
    proxy.target(port, credential.authorization);
    return await runSuite(engine.mcpUrl(edition.tenant));
  } finally {
    await credential?.close?.();
    await engine.close();
    await proxy.close();
    if (database) {
      await database.knex.raw('drop schema if exists ?? cascade', [schema]);
      await database.knex.destroy();
    }
  }
}

const which = process.argv[2] ?? 'all';
const editions: Edition[] = [];
if (which === 'ce' || which === 'all') editions.push(community);
if (which === 'ee' || which === 'all') {
  // Resolved at run time: the Community Edition tree has neither the Enterprise plugin nor this module.
  const enterpriseModule = './enterprise-edition.js';
  if (existsSync(`${root}src/plugins/ee/index.ts`) && existsSync(`${here}enterprise-edition.ts`)) {
    const { enterprise } = (await import(enterpriseModule)) as { enterprise: Edition };
    editions.push(enterprise);
  } else if (which === 'ee') {
    console.error('The Enterprise edition is not present in this tree.');
    process.exit(1);
  }
}
let failed = 0;
for (const edition of editions) if ((await run(edition)) !== 0) failed++;
console.log(failed ? `\nMCP conformance: ${failed} edition(s) failed.` : '\nMCP conformance: all editions match the baseline.');
process.exit(failed ? 1 : 0);
