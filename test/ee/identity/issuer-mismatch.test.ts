/**
 * An identity provider whose discovery document names another issuer than the one configured (a
 * trailing slash, a Keycloak realm path): the admin's "test", the log and the agent's 401 said only
 * that discovery failed or that keys could not be fetched. Each now names both issuers and the
 * likely fix (docs/enterprise.md, "Registering an IdP and an agent").
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { IdpProviderStore, IssuerMismatchError, JwksCache, KeySourceError } from '@gatehouse-mcp/engine/ee';
import { governanceEngine, type GovernanceTestEngine } from '../governance/support.js';
import { bearer, mcpPost, startBesideOidc, type BesideOidc } from '../support/identity-engine.js';
import { KeyRing, type OidcFixture } from '../support/oidc.js';
import { RecordingLogger } from '../../support/recording-logger.js';

describe('EE identity: a discovery document naming another issuer', function () {
  this.timeout(60_000);
  const logger = new RecordingLogger();
  let local: BesideOidc<GovernanceTestEngine>;
  let t: GovernanceTestEngine;
  let oidc: OidcFixture;
  let ring: KeyRing;
  let keycloak: http.Server;
  let base: string;

  before(async () => {
    local = await startBesideOidc(() => governanceEngine({ logger }));
    ({ oidc, t } = local);
    ring = await KeyRing.create(['RS256']);
    // A Keycloak older than 17 behind its /auth context path: the realm's issuer includes /auth.
    keycloak = http.createServer((req, res) => {
      const realm = /^\/realms\/([a-z]+)\/\.well-known\/openid-configuration$/.exec(req.url!)?.[1];
      if (realm) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: `${base}/auth/realms/${realm}`, jwks_uri: `${base}/auth/realms/${realm}/protocol/openid-connect/certs` }));
        return;
      }
      if (req.url!.endsWith('/protocol/openid-connect/certs')) return ring.serve(res);
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => keycloak.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(keycloak.address() as AddressInfo).port}`;
  });
  after(async () => {
    await local?.close();
    keycloak?.closeAllConnections();
    await new Promise<void>((resolve) => (keycloak ? keycloak.close(() => resolve()) : resolve()));
  });

  async function register(body: Record<string, unknown>): Promise<{ id: string; issuer: string }> {
    const created = await t.http('POST', '/api/v1/mcp/idp-providers', { token: t.adminKey, body: { name: 'Mismatched', ...body } });
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    return created.body.data;
  }

  async function tested(id: string): Promise<Record<string, unknown>> {
    const response = await t.http('POST', `/api/v1/mcp/idp-providers/${id}/test`, { token: t.adminKey });
    expect(response.status).to.equal(200);
    expect(response.body.data.ok).to.equal(false);
    return response.body.data;
  }

  it('an issuer configured with a trailing slash the provider does not use: the test, the log and the agent\'s 401 name both issuers and the fix', async () => {
    const configured = `${oidc.issuer}/`;
    const idp = await register({ kind: 'custom', issuer: configured });

    const result = await tested(idp.id);
    expect(result.error).to.equal(
      `The discovery document at ${oidc.issuer}/.well-known/openid-configuration names the issuer "${oidc.issuer}", but the provider is configured with the issuer "${configured}". ` +
        `They differ only in a trailing slash: set the provider's issuer to "${oidc.issuer}" exactly (tokens carry it as "iss").`,
    );
    expect(result.discoveredIssuer).to.equal(oidc.issuer);

    const agent = await t.http('POST', '/api/v1/mcp/agents', { token: t.adminKey, body: { name: 'slash bot', idpId: idp.id, subject: 'slash-bot' } });
    expect(agent.status).to.equal(201);
    const url = t.engine.mcpUrl(t.tenant);
    const before = logger.lines.length;
    const response = await mcpPost(url, bearer(await oidc.keys.sign({ iss: configured, aud: url, sub: 'slash-bot' })));
    expect(response.status).to.equal(401);
    expect(response.body.error).to.equal('invalid_token');
    expect(response.body.error_description).to.equal(
      `The identity provider's discovery document names the issuer "${oidc.issuer}", not the configured "${configured}": an administrator of this tenant must correct the provider's issuer.`,
    );
    const warned = logger.lines.slice(before).filter((line) => line.level === 'warn');
    expect(warned, 'a warning for the operator').to.have.length.at.least(1);
    expect(warned[0]!.json).to.include('They differ only in a trailing slash').and.include(JSON.stringify(configured).slice(1, -1));

    // Corrected as the message says, the same provider's tokens pass.
    const fixed = await t.http('PATCH', `/api/v1/mcp/idp-providers/${idp.id}`, { token: t.adminKey, body: { issuer: oidc.issuer } });
    expect(fixed.status, JSON.stringify(fixed.body)).to.equal(200);
    const probe = await t.http('POST', `/api/v1/mcp/idp-providers/${idp.id}/test`, { token: t.adminKey });
    expect(probe.body.data.ok, JSON.stringify(probe.body)).to.equal(true);
  });

  it('a Keycloak realm whose issuer carries the legacy /auth path: the error names both and points at the realm path', async () => {
    const idp = await register({ kind: 'keycloak', realmUrl: `${base}/realms/acme` });
    const result = await tested(idp.id);
    expect(result.error).to.equal(
      `The discovery document at ${base}/realms/acme/.well-known/openid-configuration names the issuer "${base}/auth/realms/acme", but the provider is configured with the issuer "${base}/realms/acme". ` +
        `The realm path differs: for Keycloak, the issuer is the realm URL exactly as Keycloak reports it (versions before 17 put /auth before /realms/; realm names are case-sensitive), so set the provider's issuer to "${base}/auth/realms/acme" exactly (tokens carry it as "iss"), or correct the realm.`,
    );
  });

  it('a custom issuer with a path that discovery answers for another path (refused by the OpenID client itself): the same clear error, a KeySourceError', async () => {
    const idp = await register({ kind: 'custom', issuer: `${base}/realms/other` });
    const result = await tested(idp.id);
    expect(result.error).to.include(`names the issuer "${base}/auth/realms/other", but the provider is configured with the issuer "${base}/realms/other"`);
    expect(result.error).to.include('The realm path differs');
    expect(result).not.to.have.property('cause');
    // A host probing the provider can tell the case by its class, exported from the EE entry.
    const provider = (await t.engine.resolve(IdpProviderStore).get(t.tenant, idp.id))!;
    const error = await t.engine.resolve(JwksCache).probe(provider).then(
      () => expect.fail('the probe of a mismatched issuer succeeded'),
      (thrown: unknown) => thrown,
    );
    expect(error).to.be.instanceOf(IssuerMismatchError).and.instanceOf(KeySourceError);
    expect(error).to.include({ configured: `${base}/realms/other`, discovered: `${base}/auth/realms/other`, documentUrl: `${base}/realms/other/.well-known/openid-configuration` });
  });
});
