/**
 * How a token is answered while its identity provider is down. It was refused with 401
 * `invalid_token` ("The identity provider's signing keys could not be fetched."), which tells the
 * agent its token is bad: clients discard it and go back to the IdP that is down, or give up. The
 * token may be perfectly good: nothing could be checked. Now the answer is 503 with `Retry-After`
 * (the seconds until the engine seeks the keys again) and a message saying to retry; the refusal is
 * still audited. What is the token's fault, or an administrator's (a discovery document naming
 * another issuer), stays a 401. The real OpenID provider is stopped and restarted on its port.
 */
import { expect } from 'chai';
import { startLocalIdp, mcpPost, bearer, type IdentityEngine, type LocalIdp, type LocalIdpAgent } from '../support/identity-engine.js';
import type { OidcFixture } from '../support/oidc.js';

const COOLDOWN_MS = 3_000;
const UNREACHABLE = 'The identity provider could not be reached to verify the token (its signing keys could not be fetched); try again later.';
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('EE identity: the answer to a token while its IdP is down', function () {
  this.timeout(60_000);
  let local: LocalIdp;
  let oidc: OidcFixture;
  let t: IdentityEngine;

  before(async () => {
    local = await startLocalIdp('status-bot', { jwksRefetchCooldownMs: COOLDOWN_MS, jwksFetchTimeoutMs: 1_000 });
    ({ oidc, t } = local);
  });
  after(() => local?.close());

  const tenantTrusting = (idp: { jwksUri?: string; issuer?: string } = {}): Promise<LocalIdpAgent> => local.agent({ tenant: 'idpdown', idp });

  /** A 503 asking to retry the token: a sane Retry-After, the message, no challenge telling it the token is bad. */
  function expectRetryLater(response: Awaited<ReturnType<typeof mcpPost>>): number {
    expect(response.status, JSON.stringify(response.body)).to.equal(503);
    expect(response.retryAfter, 'Retry-After').to.match(/^\d+$/);
    const seconds = Number(response.retryAfter);
    expect(seconds).to.be.at.least(1).and.at.most(Math.ceil(COOLDOWN_MS / 1000));
    expect(response.body.error).to.deep.equal({ code: 'unavailable', message: UNREACHABLE });
    expect(response.challenge, 'no invalid_token challenge').to.equal(null);
    return seconds;
  }

  for (const [source, options] of [
    ['its configured JWKS', () => ({ jwksUri: oidc.jwksUri })],
    ['discovery', () => ({})],
  ] as const) {
    it(`a valid token was answered 401 invalid_token while the IdP (${source}) was down: it gets 503 with Retry-After, is audited, and passes once the IdP is back`, async () => {
      const agent = await tenantTrusting(options());
      const { url, tenant } = agent;
      const token = await agent.token();
      await oidc.stop();
      try {
        const before = t.audit.events.length;
        const first = await mcpPost(url, bearer(token), 'tools/call');
        expectRetryLater(first);
        // Within the cooldown nothing is fetched again: the wait shrinks, it does not restart.
        await pause(1_100);
        const second = await mcpPost(url, bearer(token), 'tools/call');
        expect(expectRetryLater(second)).to.be.at.most(Number(first.retryAfter));
        const audited = t.audit.events.slice(before);
        expect(audited, 'each refusal audited').to.have.length(2);
        for (const event of audited) expect(event).to.include({ tenant, decision: 'auth-failed', outcome: 'refused', reason: UNREACHABLE });
      } finally {
        await oidc.restart();
      }
      await pause(COOLDOWN_MS + 100);
      const response = await mcpPost(url, bearer(token), 'tools/call');
      expect(response.status, JSON.stringify(response.body)).to.equal(200);
      expect(JSON.parse(response.body.result.content[0].text)).to.include({ tenant, kind: 'agent' });
    });
  }

  it('what is the token\'s fault stays a 401 while the IdP answers: a key it does not publish, another audience', async () => {
    const agent = await tenantTrusting({ jwksUri: oidc.jwksUri });
    const { url } = agent;
    const forged = await mcpPost(url, bearer(await agent.mint({}, { untrustedKey: true })));
    expect(forged.status).to.equal(401);
    expect(forged.body.error_description).to.equal('The token is signed with an unknown key id (kid).');
    const elsewhere = await mcpPost(url, bearer(await agent.mint({ aud: 'https://other.example.com/api/mcp' })));
    expect(elsewhere.status).to.equal(401);
    expect(elsewhere.challenge).to.include('error="invalid_token"');
  });

  it('a discovery document naming another issuer is an administrator\'s error, not an outage: 401, never a retry', async () => {
    const agent = await tenantTrusting({ issuer: `${oidc.issuer}/` });
    const response = await mcpPost(agent.url, bearer(await agent.mint({ iss: `${oidc.issuer}/` })));
    expect(response.status, JSON.stringify(response.body)).to.equal(401);
    expect(response.retryAfter).to.equal(null);
    expect(response.body.error_description).to.match(/an administrator of this tenant must correct the provider's issuer\.$/);
  });
});
