import { expect } from 'chai';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ApiKeyStore, defineTool, definePlugin, z } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';

const whoami = defineTool({
  name: 'whoami',
  description: 'Tells who is calling.',
  input: z.object({}),
  handler: (_args, ctx) => ({ tenant: ctx.tenant, kind: ctx.principal.kind, label: ctx.principal.label, attributes: ctx.principal.attributes }),
});

describe('Community Edition API keys', () => {
  let t: TestEngine;
  before(async () => {
    t = await createTestEngine({ plugins: [communityEdition(), definePlugin({ id: 'who', tools: [whoami] })] });
  });
  after(() => t.close());

  async function postWith(headers: Record<string, string>, url = t.engine.mcpUrl()): Promise<Response> {
    return fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
  }

  async function expect401(headers: Record<string, string>, description: RegExp, url?: string): Promise<void> {
    const res = await postWith(headers, url);
    expect(res.status).to.equal(401);
    const challenge = res.headers.get('www-authenticate')!;
    expect(challenge).to.match(/^Bearer realm="gatehouse"/);
    const body = (await res.json()) as { error_description: string };
    expect(body.error_description).to.match(description);
    // The credential is never echoed back.
    for (const value of Object.values(headers)) expect(JSON.stringify(body) + challenge).not.to.include(value.replace(/^Bearer /, ''));
  }

  it('a key name with NUL or a lone surrogate is refused with an error naming the name, not a database error', async () => {
    for (const name of ['ci\u0000bot', 'ci\ud800bot']) {
      const error = await t.createKey({ name }).then(
        () => undefined,
        (caught: unknown) => caught as Error,
      );
      expect(error?.message).to.match(/^The API key name contains (a NUL character|a lone surrogate)/);
    }
  });

  it('initialize, list and call through the SDK client with a valid key', async () => {
    const result = await t.client.callTool({ name: 'whoami', arguments: {} });
    expect(result.structuredContent).to.deep.include({ tenant: t.tenant, kind: 'api-key', label: 'test key' });
    // The handler context never carries the raw credential.
    expect(JSON.stringify(result.structuredContent)).not.to.include(t.apiKey);
  });

  it('accepts the key in X-API-Key too', async () => {
    const res = await postWith({ 'x-api-key': t.apiKey });
    expect(res.status).to.equal(200);
  });

  it('no key → 401 with a Bearer challenge that says how to send one', async () => {
    await expect401({}, /API key is required/);
  });

  it('a wrong key → 401 invalid_token', async () => {
    await expect401({ authorization: 'Bearer ghk_AAAAAAAAAAAA_' + 'A'.repeat(43) }, /not valid/);
    await expect401({ authorization: 'Bearer nonsense' }, /not valid/);
    const res = await postWith({ authorization: 'Bearer nonsense' });
    expect(res.headers.get('www-authenticate')).to.match(/error="invalid_token"/);
  });

  it('a malformed Authorization header → 401 invalid_request', async () => {
    await expect401({ authorization: 'Basic dXNlcjpwYXNz' }, /Bearer <key>/);
  });

  it('every way a bad credential arrives gets its RFC 6750 error code (an empty X-API-Key was taken for no credential)', async () => {
    const cases: [string, Record<string, string>, 'invalid_token' | 'invalid_request', RegExp][] = [
      ['wrong key in X-API-Key', { 'x-api-key': 'ghk_AAAAAAAAAAAA_' + 'A'.repeat(43) }, 'invalid_token', /^The API key is not valid\./],
      ['malformed key in X-API-Key', { 'x-api-key': 'not-a-key' }, 'invalid_token', /^The API key is not valid\./],
      ['wrong key as Bearer', { authorization: 'Bearer not-a-key' }, 'invalid_token', /^The API key is not valid\./],
      ['empty X-API-Key', { 'x-api-key': '' }, 'invalid_request', /^The X-API-Key header is empty\./],
      ['empty Bearer', { authorization: 'Bearer ' }, 'invalid_request', /^The Authorization header must be "Bearer <key>"\./],
      // With an Authorization header, X-API-Key is not read: never a fallback to it.
      ['a wrong Bearer and a valid X-API-Key', { authorization: 'Bearer not-a-key', 'x-api-key': t.apiKey }, 'invalid_token', /^The API key is not valid\./],
    ];
    for (const [what, headers, error, description] of cases) {
      const res = await postWith(headers);
      expect(res.status, what).to.equal(401);
      expect(res.headers.get('www-authenticate'), what).to.include(`error="${error}"`);
      const body = (await res.json()) as { error: string; error_description: string };
      expect(body.error, what).to.equal(error);
      expect(body.error_description, what).to.match(description);
    }
  });

  it('a valid Bearer key is accepted beside an X-API-Key of a gateway in front (such requests were refused as carrying two credentials)', async () => {
    const res = await postWith({ authorization: `Bearer ${t.apiKey}`, 'x-api-key': 'gateway-usage-plan-key' });
    expect(res.status).to.equal(200);
  });

  it("a key of another tenant, in whatever state, is refused with invalid_token and never names the key's tenant", async () => {
    const other = 'elsewhere-' + t.tenant.slice(-6);
    const expired = await t.createKey({ expiresAt: new Date(Date.now() - 1000) });
    const adminOnly = await t.createKey({ scopes: ['admin'] });
    for (const [what, secret] of [['valid', t.apiKey], ['expired', expired.secret], ['admin-only', adminOnly.secret]] as const) {
      for (const headers of [{ authorization: `Bearer ${secret}` }, { 'x-api-key': secret }] as Record<string, string>[]) {
        const res = await postWith(headers, t.engine.mcpUrl(other));
        expect(res.status, what).to.equal(401);
        const challenge = res.headers.get('www-authenticate')!;
        expect(challenge, what).to.include('error="invalid_token"');
        const text = await res.text();
        expect(text + challenge, what).not.to.include(t.tenant);
      }
    }
  });

  it('an expired key → 401 saying it expired', async () => {
    const key = await t.createKey({ expiresAt: new Date(Date.now() - 1000) });
    await expect401({ authorization: `Bearer ${key.secret}` }, /expired/);
  });

  it('a key that expires while cached stops working when it expires', async () => {
    const key = await t.createKey({ expiresAt: new Date(Date.now() + 1500) });
    expect((await postWith({ authorization: `Bearer ${key.secret}` })).status).to.equal(200);
    await new Promise((resolve) => setTimeout(resolve, 1600));
    await expect401({ authorization: `Bearer ${key.secret}` }, /expired/);
  });

  it('a revoked key → 401 at once, even right after it was used (no stale cache)', async () => {
    const key = await t.createKey();
    expect((await postWith({ authorization: `Bearer ${key.secret}` })).status).to.equal(200);
    expect(await t.engine.resolve(ApiKeyStore).revoke(t.tenant, key.id)).to.equal(true);
    await expect401({ authorization: `Bearer ${key.secret}` }, /revoked/);
  });

  it('the SDK client gets a 401 it can report for a bad key', async () => {
    const client = new Client({ name: 'bad', version: '1' });
    const transport = new StreamableHTTPClientTransport(new URL(t.engine.mcpUrl()), { requestInit: { headers: { authorization: 'Bearer wrong' } } });
    let error: unknown;
    try {
      await client.connect(transport);
    } catch (caught) {
      error = caught;
    }
    expect((error as { code?: unknown }).code).to.equal(401);
    expect(String(error)).to.match(/The API key is not valid/);
    await client.close();
  });

  it('a key without the mcp scope (e.g. an admin-only key) is refused', async () => {
    const key = await t.createKey({ scopes: ['admin'] });
    await expect401({ authorization: `Bearer ${key.secret}` }, /not valid for MCP/);
  });

  it("a key used at another tenant's URL → 401; at its own tenant's URL → 200", async () => {
    await expect401({ authorization: `Bearer ${t.apiKey}` }, /not valid for this tenant/, t.engine.mcpUrl('someone-else'));
    expect((await postWith({ authorization: `Bearer ${t.apiKey}` }, t.engine.mcpUrl(t.tenant))).status).to.equal(200);
  });

  it('the registry lists the caller tenant’s tools and needs a valid key', async () => {
    const anonymous = await fetch(`${t.url}/api/v1/meta/mcp-registry`);
    expect(anonymous.status).to.equal(401);
    const res = await fetch(`${t.url}/api/v1/meta/mcp-registry`, { headers: { authorization: `Bearer ${t.apiKey}` } });
    expect(res.status).to.equal(200);
    const { data } = (await res.json()) as { data: any };
    expect(data).to.include({ edition: 'community', tenant: t.tenant, count: 1 });
    expect(data.entries[0]).to.include({ kind: 'tool', name: 'whoami', plugin: 'who' });
    expect(data.entries[0].inputSchema).to.include({ type: 'object' });
  });
});

describe('authentication challenges', () => {
  it('a failure description with non-ASCII text still gets its 401 (regression: the response was dropped)', async () => {
    const { Authenticator, AuditSink, Policy, definePlugin: plugin } = await import('@gatehouse-mcp/engine');
    const { AllowAllPolicy, NoopAuditSink } = await import('@gatehouse-mcp/engine/oss');
    const accented = plugin({
      id: 'accented-edition',
      register({ bind }) {
        bind(Authenticator).toConstantValue({
          authenticate: async () => ({ ok: false as const, error: 'invalid_token' as const, description: 'Jeton expiré — réessayez' }),
          challenge: () => ({}),
        });
        bind(Policy).to(AllowAllPolicy);
        bind(AuditSink).to(NoopAuditSink);
      },
    });
    const t = await createTestEngine({ plugins: [accented], connect: false });
    try {
      const res = await fetch(t.engine.mcpUrl(), {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', authorization: 'Bearer x' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
      });
      expect(res.status).to.equal(401);
      expect(res.headers.get('www-authenticate')).to.include('error_description="Jeton expir? ? r?essayez"');
      expect(((await res.json()) as { error_description: string }).error_description).to.equal('Jeton expiré — réessayez');
    } finally {
      await t.close();
    }
  });
});
