import v8 from 'node:v8';
import vm from 'node:vm';
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { ApiKeyStore, ApiKeyVerifier, SessionStore, definePlugin } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { post, recordingGovernance } from '../protocol/support.js';

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
