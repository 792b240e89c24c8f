/**
 * Item 8 of the hardening work: key fetches stay rate-limited while the IdP's JWKS endpoint fails.
 * A failed or timed-out fetch starts the cooldown like a successful one, so a flood of tokens with
 * unknown `kid`s during an outage costs at most one fetch per cooldown, and each refusal is fast.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { uniqueTenant } from '@gatehouse-mcp/engine/testing';
import { JwksCache } from '@gatehouse-mcp/engine/ee';
import { startIdentityEngine, mcpPost, bearer, type IdentityEngine } from '../support/identity-engine.js';
import { KeyRing } from '../support/oidc.js';

const COOLDOWN_MS = 2_500;
const TIMEOUT_MS = 300;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const UNAVAILABLE = 'The identity provider could not be reached to verify the token (its signing keys could not be fetched); try again later.';
/** A refusal for the outage: 503, a Retry-After of at most the cooldown, the message saying to retry. */
function expectUnavailable(response: { status: number; retryAfter: string | null; body: any }): void {
  expect(response.status, JSON.stringify(response.body)).to.equal(503);
  expect(Number(response.retryAfter), 'Retry-After').to.be.at.least(1).and.at.most(Math.ceil(COOLDOWN_MS / 1000));
  expect(response.body.error.message).to.equal(UNAVAILABLE);
}

type Mode = 'ok' | 'error' | 'slow';

/** A JWKS endpoint whose behaviour the test switches: healthy, HTTP 500, or answering after 10 s. */
async function startFlakyJwks(ring: KeyRing): Promise<{ url: string; requests: () => number; mode: (mode: Mode) => void; close: () => Promise<void> }> {
  let mode: Mode = 'ok';
  let requests = 0;
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((_req, res) => {
    requests++;
    if (mode === 'error') {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('internal error');
      return;
    }
    if (mode === 'slow') {
      const timer = setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(ring.jwks())), 10_000);
      timers.add(timer);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(ring.jwks()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/keys`,
    requests: () => requests,
    mode: (next) => {
      mode = next;
    },
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('EE identity: JWKS fetches during an IdP outage', function () {
  this.timeout(60_000);
  let t: IdentityEngine;
  let ring: KeyRing;
  let server: Awaited<ReturnType<typeof startFlakyJwks>>;

  before(async () => {
    t = await startIdentityEngine({ jwksRefetchCooldownMs: COOLDOWN_MS, jwksFetchTimeoutMs: TIMEOUT_MS });
    ring = await KeyRing.create(['ES256']);
  });
  beforeEach(async () => {
    server = await startFlakyJwks(ring);
  });
  afterEach(async () => {
    await server?.close();
  });
  after(async () => {
    await t?.close();
  });

  async function setup(prefix: string): Promise<{ url: string; token: (options?: { untrustedKey?: boolean }) => Promise<string> }> {
    const tenant = uniqueTenant(prefix);
    const issuer = `https://${prefix}.idp.example.com`;
    const idp = await t.idps.create(tenant, { kind: 'custom', name: 'Flaky', issuer, jwksUri: server.url });
    await t.agents.create(tenant, { name: 'bot', idpId: idp.id, subject: 'bot' });
    const url = t.engine.mcpUrl(tenant);
    let n = 0;
    return { url, token: (options = {}) => ring.sign({ iss: issuer, aud: url, sub: 'bot', jti: `j${n++}` }, options) };
  }

  it('a JWKS answering 500: one fetch per cooldown however many unknown-kid tokens arrive, the last error kept', async () => {
    server.mode('error');
    const { url, token } = await setup('jwks500');
    const started = Date.now();
    const flood = await Promise.all(Array.from({ length: 30 }, async () => mcpPost(url, bearer(await token({ untrustedKey: true })))));
    for (const response of flood) expectUnavailable(response);
    for (let i = 0; i < 20; i++) expectUnavailable(await mcpPost(url, bearer(await token())));
    // At most one fetch per cooldown (on a loaded machine the flood may outlast one cooldown).
    const bound = 1 + Math.floor((Date.now() - started) / COOLDOWN_MS);
    expect(server.requests(), 'fetches for 50 tokens').to.be.at.least(1).and.at.most(bound);
    expect(t.engine.resolve(JwksCache).keySet(server.url).lastError?.message).to.equal(`The JWKS at ${server.url} answered HTTP 500.`);
    const afterFlood = server.requests();

    // After the cooldown, exactly one more attempt; once the IdP recovers, tokens pass again.
    await pause(COOLDOWN_MS + 100);
    const second = Date.now();
    for (let i = 0; i < 10; i++) expectUnavailable(await mcpPost(url, bearer(await token())));
    expect(server.requests() - afterFlood).to.be.at.least(1).and.at.most(1 + Math.floor((Date.now() - second) / COOLDOWN_MS));
    server.mode('ok');
    await pause(COOLDOWN_MS + 100);
    const beforeRecovery = server.requests();
    expect((await mcpPost(url, bearer(await token()))).status).to.equal(200);
    expect(server.requests()).to.equal(beforeRecovery + 1);
    expect(t.engine.resolve(JwksCache).keySet(server.url).lastError).to.equal(undefined);
  });

  it('a JWKS answering after 10 s: one fetch per cooldown, and refusals do not wait for it', async () => {
    server.mode('slow');
    const { url, token } = await setup('jwksslow');
    const first = Date.now();
    expectUnavailable(await mcpPost(url, bearer(await token())));
    expect(Date.now() - first, 'the first refusal waits only the fetch timeout').to.be.below(TIMEOUT_MS + 2_000);
    expect(t.engine.resolve(JwksCache).keySet(server.url).lastError?.message).to.equal(`The JWKS at ${server.url} did not answer within ${TIMEOUT_MS} ms.`);

    const tokens = await Promise.all(Array.from({ length: 20 }, () => token({ untrustedKey: true })));
    const started = Date.now();
    for (const unknownKid of tokens) expectUnavailable(await mcpPost(url, bearer(unknownKid)));
    const elapsed = Date.now() - started;
    expect(elapsed, 'twenty refusals do not each wait for the key server').to.be.below(TIMEOUT_MS * 20);
    // One fetch at the start, then at most one more per cooldown that has fully elapsed.
    expect(server.requests(), 'one fetch per elapsed cooldown').to.be.at.least(1).and.at.most(1 + Math.floor((Date.now() - first) / COOLDOWN_MS));
  });

  it('keys fetched before the outage keep working; unknown kids during it are refused (503) without refetching', async () => {
    const { url, token } = await setup('jwksstale');
    expect((await mcpPost(url, bearer(await token()))).status).to.equal(200);
    expect(server.requests()).to.equal(1);
    server.mode('error');
    await pause(COOLDOWN_MS + 100);
    const burst = Date.now();
    const refused = await Promise.all(Array.from({ length: 20 }, async () => mcpPost(url, bearer(await token({ untrustedKey: true })))));
    // Their keys may have been published during the outage: not known to be bad, so not a 401.
    for (const response of refused) expectUnavailable(response);
    expect(server.requests() - 1, 'refetch attempts for the whole burst').to.be.at.least(1).and.at.most(1 + Math.floor((Date.now() - burst) / COOLDOWN_MS));
    const before = server.requests();
    expect((await mcpPost(url, bearer(await token()))).status, 'a token of a known key still passes').to.equal(200);
    expect(server.requests()).to.equal(before);
  });
});
