import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { context, propagation, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { PinoLogger, definePlugin, defineTool, z } from '@gatehouse-mcp/engine';
import { IdpProviderStore, enterpriseEdition } from '@gatehouse-mcp/engine/ee';
import { createTestEngine, uniqueTenant, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { startOidcProvider, type OidcFixture } from '../support/oidc.js';

const PASSWORD = `pw-${randomBytes(12).toString('hex')}`;
const METRICS_TOKEN = `mt-${randomBytes(16).toString('hex')}`;

const tools = definePlugin({
  id: 'vault',
  tools: [
    defineTool({ name: 'vault.open', description: 'Opens the vault.', permission: 'vault:open', input: z.object({ password: z.string() }), handler: () => 'open' }),
    defineTool({ name: 'vault.seal', description: 'Seals it.', permission: 'vault:seal', input: z.object({ password: z.string() }), handler: () => 'sealed' }),
    defineTool({
      name: 'vault.crash',
      description: 'Fails.',
      permission: 'vault:open',
      input: z.object({ password: z.string() }),
      handler: () => {
        throw new Error('the vault backend is down');
      },
    }),
  ],
});

async function post(url: string, token: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${token}`, ...headers },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

/**
 * Runs a whole Enterprise engine — admin API, agent keys, IdP tokens, refused credentials, a
 * crashing tool, tracing and the metrics endpoint — at debug level, capturing everything it writes,
 * then searches that output for every secret it was given.
 */
describe('no credentials or arguments in logs, traces or metrics: a full engine run', function () {
  this.timeout(60_000);
  const lines: string[] = [];
  const written: string[] = [];
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const secrets: Record<string, string> = { password: PASSWORD, metricsToken: METRICS_TOKEN };
  let idp: OidcFixture;
  let t: TestEngine;
  let metricsText = '';
  let restore: (() => void) | undefined;

  before(async () => {
    provider.register();
    const stdout = process.stdout.write.bind(process.stdout);
    const stderr = process.stderr.write.bind(process.stderr);
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => (written.push(String(chunk)), stdout(chunk, ...rest))) as typeof process.stdout.write;
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => (written.push(String(chunk)), stderr(chunk, ...rest))) as typeof process.stderr.write;
    restore = () => {
      process.stdout.write = stdout;
      process.stderr.write = stderr;
    };

    idp = await startOidcProvider();
    const tenant = uniqueTenant('vault');
    t = await createTestEngine({
      connect: false,
      tenant,
      plugins: [enterpriseEdition(), tools],
      logger: new PinoLogger('debug', { write: (line: string) => lines.push(line.trim()) }),
      metrics: { token: METRICS_TOKEN },
    });
    const admin = (await t.createKey({ scopes: ['admin'], name: 'admin' })).secret;
    secrets.adminKey = admin;
    const api = async (method: string, path: string, body?: unknown): Promise<any> => {
      const response = await fetch(`${t.url}${path}`, { method, headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      const json = (await response.json()) as any;
      if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
      return json.data;
    };

    // Admin API: a role, an agent with an API key.
    const role = await api('POST', '/api/v1/mcp/roles', { name: 'opener', permissions: ['vault:open'] });
    const agent = await api('POST', '/api/v1/mcp/agents', { name: 'opener bot', roleIds: [role.id] });
    const key = await api('POST', `/api/v1/mcp/agents/${agent.id}/keys`, { name: 'bot key' });
    secrets.agentKey = key.secret;

    // An agent with an IdP-issued token.
    const idpRecord = await t.engine.resolve(IdpProviderStore).create(tenant, { kind: 'custom', name: 'IdP', issuer: idp.issuer, subjectClaim: 'client_id' });
    const client = await idp.registerClient('vault-bot');
    secrets.clientSecret = client.clientSecret;
    const tokenAgent = await api('POST', '/api/v1/mcp/agents', { name: 'token bot', roleIds: [role.id], idpId: idpRecord.id, subject: client.clientId });
    expect(tokenAgent.id).to.be.a('string');
    const mcpUrl = t.engine.mcpUrl(tenant);
    const jwt = await idp.token(client, { resource: mcpUrl });
    secrets.accessToken = jwt;

    const call = (token: string, name: string, id: number) => post(mcpUrl, token, { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: { password: PASSWORD } } });
    expect((await call(key.secret, 'vault.open', 1)).body.result.isError).to.not.equal(true);
    expect((await call(key.secret, 'vault.seal', 2)).body.result.isError).to.equal(true);
    expect((await call(key.secret, 'vault.crash', 3)).body.result.isError).to.equal(true);
    expect((await call(jwt, 'vault.open', 4)).body.result.isError).to.not.equal(true);
    expect((await call(jwt, 'vault.seal', 5)).body.result.isError).to.equal(true);
    // Refused credentials: a key that looks real, a forged token, a token for another tenant's URL.
    const forged = `${jwt.slice(0, -6)}AAAAAA`;
    secrets.forgedToken = forged;
    const lookalike = `${key.secret.slice(0, -4)}zzzz`;
    secrets.lookalikeKey = lookalike;
    expect((await call(lookalike, 'vault.open', 6)).status).to.equal(401);
    expect((await call(forged, 'vault.open', 7)).status).to.equal(401);
    expect((await post(t.engine.mcpUrl(uniqueTenant('other')), jwt, { jsonrpc: '2.0', id: 8, method: 'tools/list' })).status).to.equal(401);
    // The same token as X-API-Key and with a traceparent, and a broken Authorization header.
    expect((await post(mcpUrl, 'x', { jsonrpc: '2.0', id: 9, method: 'tools/list' }, { authorization: `Basic ${Buffer.from(`u:${PASSWORD}`).toString('base64')}` })).status).to.equal(401);

    const scrape = await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(scrape.status).to.equal(200);
    metricsText = await scrape.text();
    await t.close();
  });

  after(async () => {
    restore?.();
    await t?.close();
    await idp?.close();
    await provider.shutdown();
    trace.disable();
    context.disable();
    propagation.disable();
  });

  it('every request left one structured log line with request id, trace id, tenant, method, tool, status and latency', () => {
    const requests = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.msg === 'request' && entry.method === 'tools/call');
    const opened = requests.find((entry) => entry.tool === 'vault.open' && entry.status === 200);
    expect(opened).to.include({ level: 'info', httpMethod: 'POST', method: 'tools/call', tool: 'vault.open', status: 200 });
    expect(opened!.requestId).to.match(/^[0-9a-f-]{36}$/);
    expect(opened!.traceId).to.match(/^[0-9a-f]{32}$/);
    expect(opened!.tenant).to.be.a('string');
    expect(opened!.latencyMs).to.be.a('number');
    expect(requests.filter((entry) => entry.status === 401)).to.have.length.greaterThan(1);
  });

  it('the IdP token was verified with a traced, counted JWKS fetch', () => {
    const fetches = exporter.getFinishedSpans().filter((span) => span.name === 'gatehouse.jwks.fetch');
    expect(fetches.length).to.be.greaterThan(0);
    const parent = exporter.getFinishedSpans().find((span) => span.spanContext().spanId === fetches[0]!.parentSpanContext?.spanId);
    expect(parent?.name).to.equal('gatehouse.authenticate');
    expect(metricsText).to.match(/^gatehouse_jwks_fetches_total\{gatehouse_result="ok"\} [1-9]/m);
    const cached = exporter.getFinishedSpans().filter((span) => span.name === 'gatehouse.authenticate' && span.attributes['gatehouse.auth.cache'] === 'hit');
    expect(cached.length, 'a second use of a credential is a cache hit').to.be.greaterThan(0);
  });

  it('no secret appears anywhere the engine wrote: log lines, process output, spans, metrics', () => {
    const spans = JSON.stringify(exporter.getFinishedSpans().map((span) => ({ name: span.name, attributes: span.attributes, events: span.events, links: span.links, status: span.status })));
    const outputs = { logs: lines.join('\n'), process: written.join(''), spans, metrics: metricsText };
    expect(lines.length).to.be.greaterThan(10);
    for (const [name, secret] of Object.entries(secrets)) {
      expect(secret.length, name).to.be.greaterThan(10);
      for (const [where, text] of Object.entries(outputs)) {
        expect(text.includes(secret), `${name} found in ${where}`).to.equal(false);
        // A token's signature alone is a secret too.
        const tail = secret.slice(-16);
        expect(text.includes(tail), `the end of ${name} found in ${where}`).to.equal(false);
      }
    }
  });
});
