/**
 * Item 7 of the hardening work: connector interop with IdPs that accept only client_secret_post.
 * With client_secret_basic refused (401/403 invalid_client, or an empty 403) the connector retries
 * once with client_secret_post and says which one worked in --verbose; an empty or non-JSON 4xx
 * from the token endpoint reads "the IdP rejected the client credentials (HTTP 403)".
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { ClientCredentialsTokenSource } from '../../../src/connector/client-credentials-token-source.js';
import { ConnectorError } from '../../../src/connector/connector-error.js';
import { StderrLogger } from '../../../src/connector/stderr-logger.js';
import { startOidcProvider, type OidcFixture } from '../../ee/support/oidc.js';

/**
 * A token endpoint in front of the provider's that accepts client_secret_post only, as some IdPs
 * do: client_secret_basic gets an empty 403 (or 401 invalid_client), the rest is forwarded.
 */
async function startPicky(target: string, refuseEverything = false, refusal: 'empty-403' | 'invalid_client' = 'empty-403'): Promise<{ url: string; requests: string[]; close: () => Promise<void> }> {
  const requests: string[] = [];
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const basic = /^basic /i.test(req.headers.authorization ?? '');
    requests.push(basic ? 'basic' : 'post');
    if (basic || refuseEverything) {
      if (refusal === 'invalid_client') {
        res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'invalid_client', error_description: 'client authentication method not allowed' }));
      } else res.writeHead(403).end();
      return;
    }
    const forwarded = await fetch(target, { method: 'POST', headers: { 'content-type': req.headers['content-type'] ?? '' }, body: Buffer.concat(chunks) });
    res.writeHead(forwarded.status, { 'content-type': forwarded.headers.get('content-type') ?? 'application/json' }).end(Buffer.from(await forwarded.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('connector: client_secret_basic → client_secret_post fallback against a real token endpoint', function () {
  this.timeout(60_000);
  let idp: OidcFixture;

  before(async () => {
    idp = await startOidcProvider();
  });
  after(async () => {
    await idp?.close();
  });

  function source(options: { clientId: string; clientSecret: string; issuer?: string; tokenEndpoint?: string }) {
    const lines: string[] = [];
    const logger = new StderrLogger(true, (text) => lines.push(text.trim()));
    const tokens = new ClientCredentialsTokenSource({
      issuer: options.issuer,
      tokenEndpoint: options.tokenEndpoint,
      clientId: options.clientId,
      clientSecret: options.clientSecret,
      scope: 'mcp',
      resource: 'https://mcp.example.com/t/acme/api/mcp',
      clientAuth: 'basic',
      timeoutMs: 5_000,
      logger,
    });
    return { tokens, lines };
  }

  async function failure(promise: Promise<unknown>): Promise<ConnectorError> {
    try {
      await promise;
    } catch (error) {
      expect(error).to.be.instanceOf(ConnectorError);
      return error as ConnectorError;
    }
    throw new Error('expected a failure');
  }

  it('an IdP that accepts client_secret_post only: basic gets 401 invalid_client, the retry with post works, and post is kept', async () => {
    const client = await idp.registerClient('post-only', 'client_secret_post');
    const picky = await startPicky(idp.tokenEndpoint, false, 'invalid_client');
    try {
      const { tokens, lines } = source({ ...client, tokenEndpoint: picky.url });
      const token = await tokens.token();
      expect(token.split('.')).to.have.length(3);
      expect(lines).to.include('gatehouse-connector: the IdP refused client_secret_basic (HTTP 401 invalid_client); retrying once with client_secret_post.');
      expect(lines).to.include('gatehouse-connector: client authentication with client_secret_post worked.');
      // The next token goes straight to post.
      tokens.rejected(token);
      await tokens.token();
      expect(picky.requests).to.deep.equal(['basic', 'post', 'post']);
    } finally {
      await picky.close();
    }
  });

  it('a client registered for client_secret_basic keeps using basic and says so', async () => {
    const client = await idp.registerClient('basic', 'client_secret_basic');
    const { tokens, lines } = source({ ...client, issuer: idp.issuer });
    await tokens.token();
    expect(lines).to.include('gatehouse-connector: client authentication with client_secret_basic worked.');
    expect(lines.some((line) => line.includes('retrying'))).to.equal(false);
  });

  it('an empty 403 to basic: retried once with post', async () => {
    const client = await idp.registerClient('picky', 'client_secret_post');
    const picky = await startPicky(idp.tokenEndpoint);
    try {
      const { tokens, lines } = source({ ...client, tokenEndpoint: picky.url });
      expect((await tokens.token()).split('.')).to.have.length(3);
      expect(picky.requests).to.deep.equal(['basic', 'post']);
      expect(lines).to.include('gatehouse-connector: the IdP refused client_secret_basic (HTTP 403); retrying once with client_secret_post.');
    } finally {
      await picky.close();
    }
  });

  it('an empty 403 to both: "the IdP rejected the client credentials (HTTP 403)", not a content-type complaint', async () => {
    const client = await idp.registerClient('refused', 'client_secret_post');
    const picky = await startPicky(idp.tokenEndpoint, true);
    try {
      const { tokens } = source({ ...client, tokenEndpoint: picky.url });
      const error = await failure(tokens.token());
      expect(error.message).to.equal('the IdP rejected the client credentials (HTTP 403). Check --client-id and the client secret.');
      expect(picky.requests).to.deep.equal(['basic', 'post']);
    } finally {
      await picky.close();
    }
  });

  it('a wrong secret is refused after one retry, with the IdP\'s own reason', async () => {
    const client = await idp.registerClient('wrong', 'client_secret_basic');
    const { tokens, lines } = source({ clientId: client.clientId, clientSecret: 'not-the-secret', issuer: idp.issuer });
    const error = await failure(tokens.token());
    expect(error.message).to.match(/^the IdP rejected the client credentials \(invalid_client/);
    expect(lines.filter((line) => line.includes('retrying once'))).to.have.length(1);
  });
});
