/**
 * The discovery document is cached (an hour by default). When the cache lapsed during an IdP
 * outage, the failed rediscovery refused every token, although the keys fetched before the outage
 * were still usable ("keys fetched before the outage stay in use", docs/security.md). Now the last
 * discovered metadata stays in use, with its keys, while discovery fails; the failure is logged
 * through the IdP fault log, and discovery is tried again after the refetch cooldown. A token whose
 * key is not among those fetched gets 503 meanwhile (its key may have been published during the
 * outage). The real OpenID provider is stopped and restarted on its port; `discoveryCacheTtlMs` is
 * set short so the cache lapses within the test.
 */
import { expect } from 'chai';
import { startLocalIdp, mcpPost, bearer, idpLinesOf, type LocalIdp } from '../support/identity-engine.js';
import { RecordingLogger } from '../../support/recording-logger.js';

const DISCOVERY_TTL_MS = 1_000;
const COOLDOWN_MS = 500;
const UNREACHABLE = 'The identity provider could not be reached to verify the token (its signing keys could not be fetched); try again later.';
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('EE identity: discovery that lapses during an IdP outage', function () {
  this.timeout(60_000);
  const logger = new RecordingLogger();
  let local: LocalIdp;

  before(async () => {
    local = await startLocalIdp('discovery-bot', { logger, discoveryCacheTtlMs: DISCOVERY_TTL_MS, jwksRefetchCooldownMs: COOLDOWN_MS, jwksFetchTimeoutMs: 1_000, idpFaultLogIntervalMs: 60_000 });
  });
  after(() => local?.close());

  const linesOf = (tenant: string, from = 0) => idpLinesOf(logger, tenant, from);

  it('discovery that expired during an outage refused every token: the last discovered keys stay in use, a new kid gets 503, and all recovers with the IdP', async () => {
    const { oidc } = local;
    // Found by discovery: no JWKS URL configured.
    const agent = await local.agent({ tenant: 'discout' });
    const { tenant, url } = agent;
    const warmup = await agent.token();
    const issuedBefore = await agent.token();
    expect((await mcpPost(url, bearer(warmup), 'tools/call')).status, 'discovery and keys fetched').to.equal(200);
    const rotated = await oidc.keys.prepare('ES256');
    const mint = (options: { kid?: string } = {}) => agent.mint({}, options);

    await oidc.stop();
    try {
      await pause(DISCOVERY_TTL_MS + 200);
      const before = logger.lines.length;
      const kept = await mcpPost(url, bearer(issuedBefore), 'tools/call');
      expect(kept.status, `a token issued before the outage: ${JSON.stringify(kept.body)}`).to.equal(200);
      expect(JSON.parse(kept.body.result.content[0].text)).to.include({ tenant, kind: 'agent' });
      for (let i = 0; i < 3; i++) expect((await mcpPost(url, bearer(await mint()))).status, 'tokens of a key fetched before the outage').to.equal(200);
      const stale = linesOf(tenant, before);
      expect(stale.map((line) => [line.level, line.message]), 'logged once').to.deep.equal([['warn', 'identity provider discovery failed; the last discovered keys stay in use']]);
      expect(stale[0]!.fields.reason).to.equal(`OpenID discovery for ${oidc.issuer} failed.`);

      // A key the engine has not seen: it cannot be fetched, so the token cannot be checked.
      await pause(COOLDOWN_MS + 100);
      const unseen = await mcpPost(url, bearer(await mint({ kid: rotated.kid })));
      expect(unseen.status, JSON.stringify(unseen.body)).to.equal(503);
      expect(Number(unseen.retryAfter), 'Retry-After').to.be.at.least(1).and.at.most(Math.ceil(COOLDOWN_MS / 1000));
      expect(unseen.body.error.message).to.equal(UNREACHABLE);
      expect((await mcpPost(url, bearer(await mint()))).status, 'the kept keys still serve').to.equal(200);
    } finally {
      await oidc.restart();
    }

    rotated.publish();
    await pause(COOLDOWN_MS + 100);
    const before = logger.lines.length;
    const recovered = await mcpPost(url, bearer(await mint({ kid: rotated.kid })), 'tools/call');
    expect(recovered.status, JSON.stringify(recovered.body)).to.equal(200);
    expect(linesOf(tenant, before).map((line) => line.message)).to.have.members(['identity provider discovery available again', 'identity provider keys available again']);
    expect((await mcpPost(url, bearer(await agent.token()))).status).to.equal(200);
  });
});
