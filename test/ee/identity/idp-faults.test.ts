/**
 * Identity providers that misbehave while the engine needs their keys: each refusal is bounded by
 * `jwksFetchTimeoutMs` (docs/enterprise.md), and other tenants are served meanwhile.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { uniqueTenant } from '@gatehouse-mcp/engine/testing';
import { startIdentityEngine, mcpPost, bearer, type IdentityEngine } from '../support/identity-engine.js';
import { KeyRing } from '../support/oidc.js';

const TIMEOUT_MS = 300;
const UNAVAILABLE = 'The identity provider could not be reached to verify the token (its signing keys could not be fetched); try again later.';

describe('EE identity: a faulty identity provider', function () {
  this.timeout(60_000);
  let t: IdentityEngine;
  let ring: KeyRing;
  let server: http.Server;
  let base: string;

  before(async () => {
    ring = await KeyRing.create(['ES256']);
    // `/hang/…` never answers; `/ok/…` is a healthy IdP (discovery document and JWKS).
    server = http.createServer((req, res) => {
      if (req.url!.startsWith('/hang/')) return;
      if (req.url === '/ok/.well-known/openid-configuration') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: `${base}/ok`, jwks_uri: `${base}/ok/keys` }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(ring.jwks()));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    t = await startIdentityEngine({ jwksFetchTimeoutMs: TIMEOUT_MS });
  });
  after(async () => {
    await t?.close();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  async function tenantTrusting(issuer: string, jwksUri?: string): Promise<{ url: string; token: () => Promise<string> }> {
    const tenant = uniqueTenant('faulty');
    const idp = await t.idps.create(tenant, { kind: 'custom', name: 'IdP', issuer, ...(jwksUri ? { jwksUri } : {}) });
    await t.agents.create(tenant, { name: 'bot', idpId: idp.id, subject: 'bot' });
    const url = t.engine.mcpUrl(tenant);
    return { url, token: () => ring.sign({ iss: issuer, aud: url, sub: 'bot' }) };
  }

  it('a discovery endpoint that never answers held the refusal for whole seconds past jwksFetchTimeoutMs: it is bounded by it, and other tenants are served meanwhile', async () => {
    const hanging = await tenantTrusting(`${base}/hang`);
    const healthy = await tenantTrusting(`${base}/ok`);
    const started = Date.now();
    const refusal = mcpPost(hanging.url, bearer(await hanging.token()));
    const other = await mcpPost(healthy.url, bearer(await healthy.token()));
    expect(other.status, JSON.stringify(other.body)).to.equal(200);
    const response = await refusal;
    const elapsed = Date.now() - started;
    expect(response.status).to.equal(503);
    expect(response.body.error.message).to.equal(UNAVAILABLE);
    expect(elapsed, `answered after ${elapsed} ms`).to.be.below(TIMEOUT_MS + 500);
  });

  it('a JWKS endpoint that never answers: the refusal is bounded by jwksFetchTimeoutMs', async () => {
    const hanging = await tenantTrusting('https://hanging-jwks.example.com', `${base}/hang/keys`);
    const started = Date.now();
    const response = await mcpPost(hanging.url, bearer(await hanging.token()));
    const elapsed = Date.now() - started;
    expect(response.status).to.equal(503);
    expect(response.body.error.message).to.equal(UNAVAILABLE);
    expect(elapsed, `answered after ${elapsed} ms`).to.be.below(TIMEOUT_MS + 500);
  });
});
