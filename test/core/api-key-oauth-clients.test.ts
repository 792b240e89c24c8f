import { expect } from 'chai';
import { discoverOAuthProtectedResourceMetadata, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';

// OAuth-only clients (mcp-remote, the MCP Inspector) answer a 401 by looking up the resource's
// metadata and then registering with an authorization server. A Community Edition engine has
// none: its 401 and its metadata must say that it takes API keys, and how to send one.
describe('Community Edition: what OAuth clients see', () => {
  let t: TestEngine;
  before(async () => {
    t = await createTestEngine({ plugins: [communityEdition()] });
  });
  after(() => t.close());

  // RFC 9728: the metadata of https://host/path lives at https://host/.well-known/oauth-protected-resource/path.
  const metadataUrl = (resource: string): URL => new URL(`/.well-known/oauth-protected-resource${new URL(resource).pathname}`, resource);

  async function post(headers: Record<string, string>): Promise<Response> {
    return fetch(t.engine.mcpUrl(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'mcp-remote', version: '0' } } }),
    });
  }

  it('a wrong API key → 401 whose error_description (body and challenge) says the server takes API keys and how to send one', async () => {
    const res = await post({ authorization: 'Bearer nonsense' });
    expect(res.status).to.equal(401);
    const challenge = res.headers.get('www-authenticate')!;
    expect(challenge).to.match(/error="invalid_token"/);
    expect(challenge).to.include('error_description="The API key is not valid. This server takes API keys, not OAuth: send \\"Authorization: Bearer <key>\\" or \\"X-API-Key: <key>\\"');
    const body = (await res.json()) as { error: string; error_description: string };
    expect(body.error).to.equal('invalid_token');
    expect(body.error_description).to.match(/^The API key is not valid\. This server takes API keys, not OAuth: send "Authorization: Bearer <key>" or "X-API-Key: <key>"/);
    expect(body.error_description).to.include('gatehouse keys create');
  });

  it('no key → 401 whose challenge carries the same explanation', async () => {
    const res = await post({});
    expect(res.status).to.equal(401);
    expect(res.headers.get('www-authenticate')).to.match(/error_description="An API key is required\. This server takes API keys, not OAuth/);
    expect(((await res.json()) as { error_description: string }).error_description).to.match(/API key is required\. This server takes API keys/);
  });

  it('the protected-resource metadata names no authorization server and says how to authenticate (was a 404 that led to client registration)', async () => {
    const res = await fetch(metadataUrl(t.engine.mcpUrl()));
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.match(/application\/json/);
    const document = (await res.json()) as Record<string, unknown>;
    expect(document).to.deep.include({ resource: t.engine.mcpUrl(), authorization_servers: [], bearer_methods_supported: ['header'], authentication: 'api-key' });
    expect(document.description).to.match(/This server takes API keys, not OAuth/);
    // The SDK's OAuth client (used by mcp-remote and the Inspector) reads it as valid metadata.
    const parsed = await discoverOAuthProtectedResourceMetadata(t.engine.mcpUrl());
    expect(parsed.authorization_servers).to.deep.equal([]);
    expect(parsed.resource).to.equal(t.engine.mcpUrl());
  });

  it("a tenant's MCP URL has its own metadata; a malformed tenant id gets a 404", async () => {
    const tenantUrl = t.engine.mcpUrl(t.tenant);
    expect(tenantUrl).to.include(`/t/${t.tenant}/`);
    const res = await fetch(metadataUrl(tenantUrl));
    expect(res.status).to.equal(200);
    expect(await res.json()).to.deep.include({ resource: tenantUrl, authorization_servers: [] });
    const bad = await fetch(metadataUrl(tenantUrl.replace(`/t/${t.tenant}/`, '/t/NOT_A_TENANT!/')));
    expect(bad.status).to.equal(404);
  });

  it('an SDK OAuth client (as mcp-remote runs it) given a wrong key stops with the API-key explanation, not a 404 about registration', async () => {
    let redirected = false;
    const provider: OAuthClientProvider = {
      get redirectUrl() {
        return 'http://127.0.0.1:1/oauth/callback';
      },
      get clientMetadata() {
        return { client_name: 'mcp-remote', redirect_uris: ['http://127.0.0.1:1/oauth/callback'] };
      },
      clientInformation: () => undefined,
      saveClientInformation: () => undefined,
      tokens: () => undefined,
      saveTokens: () => undefined,
      redirectToAuthorization: () => {
        redirected = true;
      },
      saveCodeVerifier: () => undefined,
      codeVerifier: () => '',
    };
    const transport = new StreamableHTTPClientTransport(new URL(t.engine.mcpUrl()), {
      authProvider: provider,
      requestInit: { headers: { authorization: 'Bearer wrong-key' } },
    });
    const client = new Client({ name: 'mcp-remote', version: '0' });
    const failure = await client.connect(transport).then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    await client.close().catch(() => undefined);
    expect(failure, 'connect must fail').to.be.instanceOf(Error);
    expect(failure!.message).to.match(/^This server does not register OAuth clients\. This server takes API keys, not OAuth: send "Authorization: Bearer <key>"/);
    expect(failure!.message).not.to.match(/404/);
    expect(redirected, 'no browser is sent to an authorization page').to.equal(false);
  });
});
