import http from 'node:http';
import type { AddressInfo } from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { ApiKeyStore, ApiKeyVerifier, AuditSink, Authenticator, Policy, type AuthRequest, SessionStore, definePlugin, defineTool, z } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { RecordingAuditSink, RecordingPolicy, StaticTokenAuthenticator, createTestEngine, testPrincipal, uniqueTenant, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { ClientExchange } from '../../src/core/mcp/client-exchange.js';
import { post, recordingGovernance, sseMessages } from '../protocol/support.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

const junk = (i: number): string => `${i}-${randomBytes(11_250).toString('base64')}`; // 15 KB each

describe('memory bounds: credentials that fail to parse are never cached', () => {
  let t: TestEngine;
  before(async () => {
    t = await createTestEngine({ plugins: [communityEdition()] });
  });
  after(() => t.close());

  it('6,000 distinct 15 KB junk keys grow the heap by under 30 MB', async () => {
    const verifier = t.engine.resolve(ApiKeyVerifier);
    const before = heapUsed();
    for (let i = 0; i < 6_000; i++) expect((await verifier.check(junk(i))).status).to.equal('malformed');
    const grown = heapUsed() - before;
    expect(grown).to.be.below(30 * 1024 * 1024);
  });

  it('a flood of junk and unknown keys over HTTP does not evict a valid key: it is still answered from cache', async () => {
    const store = t.engine.resolve(ApiKeyStore);
    const check = store.check.bind(store);
    const lookups: string[] = [];
    store.check = async (presented) => {
      lookups.push(presented);
      return check(presented);
    };
    try {
      expect((await t.client.ping())).to.deep.equal({});
      lookups.length = 0;
      for (let i = 0; i < 200; i++) {
        const res = await post(t.engine.mcpUrl(), i % 2 ? junk(i) : `ghk_${randomBytes(9).toString('base64url').replace(/[-_]/g, 'a')}_${randomBytes(32).toString('base64url')}`, { jsonrpc: '2.0', id: 1, method: 'ping' });
        expect(res.status).to.equal(401);
        await res.arrayBuffer();
      }
      await t.client.ping();
      expect(lookups.filter((key) => key === t.apiKey)).to.deep.equal([]);
    } finally {
      store.check = check;
    }
  });
});

const INIT = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };
const PING = { jsonrpc: '2.0', id: 1, method: 'ping' };

describe('memory bounds: sessions are capped per tenant and in total', () => {
  it('one tenant opening more than maxSessionsPerTenant loses its own oldest sessions, never another tenant’s', async () => {
    const governance = recordingGovernance();
    const t = await createTestEngine({ plugins: [governance.edition, definePlugin({ id: 'none' })], connect: false, sessions: { maxSessions: 10, maxSessionsPerTenant: 3 } });
    try {
      const url = t.engine.mcpUrl();
      const open = async (token: string): Promise<string> => (await post(url, token, INIT)).headers.get('mcp-session-id')!;
      const ping = async (token: string, session: string): Promise<number> => (await post(url, token, PING, { 'mcp-session-id': session })).status;
      const twins = await open('twin-token');
      const readers: string[] = [];
      for (let i = 0; i < 8; i++) readers.push(await open('reader-token'));
      const store = t.engine.resolve(SessionStore);
      expect(store.sizeOf(governance.tenant)).to.equal(3);
      expect(await ping('twin-token', twins)).to.equal(200);
      expect(await Promise.all(readers.map((session) => ping('reader-token', session)))).to.deep.equal([404, 404, 404, 404, 404, 200, 200, 200]);
    } finally {
      await t.close();
    }
  });

  it('past maxSessions the least recently used session ends (404), across tenants', async () => {
    const governance = recordingGovernance();
    const t = await createTestEngine({ plugins: [governance.edition, definePlugin({ id: 'none' })], connect: false, sessions: { maxSessions: 2 } });
    try {
      const url = t.engine.mcpUrl();
      const open = async (token: string): Promise<string> => (await post(url, token, INIT)).headers.get('mcp-session-id')!;
      const first = await open('reader-token');
      const second = await open('twin-token');
      expect((await post(url, 'reader-token', PING, { 'mcp-session-id': first })).status).to.equal(200); // first is now the most recent
      const third = await open('other-token');
      expect((await post(url, 'twin-token', PING, { 'mcp-session-id': second })).status).to.equal(404);
      expect((await post(url, 'reader-token', PING, { 'mcp-session-id': first })).status).to.equal(200);
      expect((await post(url, 'other-token', PING, { 'mcp-session-id': third })).status).to.equal(200);
      expect(t.engine.resolve(SessionStore).size).to.equal(2);
    } finally {
      await t.close();
    }
  });
});

describe('memory bounds: log levels of clients without a session', function () {
  this.timeout(300_000);
  const FLOOD = 10_050; // past the 10,000 levels one instance keeps
  const tenant = uniqueTenant('levels');
  const principals: Record<string, ReturnType<typeof testPrincipal>> = { keeper: testPrincipal({ tenant, id: 'keeper' }) };
  for (let i = 0; i < FLOOD; i++) principals[`caller-${i}`] = testPrincipal({ tenant, id: `caller-${i}` });
  const edition = definePlugin({
    id: 'flood-edition',
    register({ bind }) {
      bind(Authenticator).toConstantValue(new StaticTokenAuthenticator(principals));
      bind(Policy).toConstantValue(new RecordingPolicy());
      bind(AuditSink).toConstantValue(new RecordingAuditSink());
    },
  });
  const shout = defineTool({
    name: 'shout',
    description: 'Logs a warning and an error.',
    input: z.object({}),
    async handler(_args, ctx) {
      await ctx.log('warning', 'hm');
      await ctx.log('error', 'oh no');
      return 'shouted';
    },
  });
  let t: TestEngine;
  before(async () => {
    t = await createTestEngine({ plugins: [edition, definePlugin({ id: 'shouting', tools: [shout] })], tenant, connect: false });
  });
  after(() => t?.close());

  /** The log levels a caller's `shout` call delivers (its threshold, as the engine remembers it). */
  async function heard(token: string): Promise<string[]> {
    const res = await post(t.engine.mcpUrl(), token, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'shout', arguments: {} } });
    return sseMessages(await res.text()).filter((m) => m.method === 'notifications/message').map((m) => m.params.level as string);
  }
  const setLevel = async (token: string): Promise<number> => {
    const res = await post(t.engine.mcpUrl(), token, { jsonrpc: '2.0', id: 1, method: 'logging/setLevel', params: { level: 'error' } });
    await res.arrayBuffer();
    return res.status;
  };

  it('10,050 distinct callers keep at most 10,000 levels; a caller in use keeps its own; refused tokens store nothing', async () => {
    const exchange = t.engine.resolve(ClientExchange);
    expect(await setLevel('keeper')).to.equal(200);
    expect(await heard('keeper')).to.deep.equal(['error']);
    // Junk tokens are refused before anything is remembered.
    for (let i = 0; i < 200; i++) expect(await setLevel(`junk-${i}-${randomBytes(16).toString('hex')}`)).to.equal(401);
    expect(exchange.logLevelCount).to.equal(1);

    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < FLOOD; i = next++) {
        expect(await setLevel(`caller-${i}`)).to.equal(200);
        // The keeper goes on using its level throughout the flood.
        if (i % 1_000 === 999) expect(await heard('keeper')).to.deep.equal(['error']);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));

    expect(exchange.logLevelCount).to.equal(10_000);
    expect(await heard('keeper'), 'the caller in use keeps its level').to.deep.equal(['error']);
    expect(await heard(`caller-${FLOOD - 1}`), 'the newest level is kept').to.deep.equal(['error']);
    expect(await heard('caller-0'), 'the least recently used level is the one forgotten').to.deep.equal(['warning', 'error']);
  });
});

describe('memory bounds: an authenticator that keeps the requests it was shown', () => {
  it('keeps their headers, not their responses and connections (each kept request held the whole exchange, about 7 KB)', async () => {
    const principal = testPrincipal({ tenant: uniqueTenant('kept') });
    const kept: AuthRequest[] = [];
    const keeping = definePlugin({
      id: 'keeping-authenticator',
      register({ bind }) {
        bind(Authenticator).toConstantValue({
          async authenticate(request: AuthRequest) {
            kept.push(request);
            return { ok: true, principal };
          },
          challenge: () => ({}),
        });
        bind(Policy).toConstantValue(new RecordingPolicy());
        bind(AuditSink).toConstantValue(new RecordingAuditSink());
      },
    });
    const t = await createTestEngine({ plugins: [keeping], tenant: principal.tenant, connect: false });
    // The engine mounted on a server of the test's own, so the test can watch the responses.
    const responses = new FinalizationRegistry<void>(() => void collected++);
    let collected = 0;
    const server = http.createServer((req, res) => {
      responses.register(res, undefined);
      t.engine.nodeHandler(req, res);
    });
    try {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${new URL(t.engine.mcpUrl()).pathname}`;
      for (let i = 0; i < 100; i++) {
        // A connection per request: a kept request must not keep its socket either.
        const res = await post(url, 'any-token', PING, { connection: 'close' });
        expect(res.status).to.equal(200);
        await res.arrayBuffer();
      }
      // Finalizers run after a collection, on a later turn of the event loop.
      for (let round = 0; round < 10 && collected < 100; round++) {
        gc();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(kept).to.have.length(100);
      expect(kept[99]!.header('authorization'), 'what a kept request still answers').to.equal('Bearer any-token');
      expect(collected, 'responses collected while the authenticator keeps their requests').to.be.at.least(99);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await t.close();
    }
  });
});
