import { expect } from 'chai';
import { ConfigError } from '@gatehouse-mcp/engine';
import { IdentityConflictError, IdentityInputError, enterpriseEdition, resolvePreset } from '@gatehouse-mcp/engine/ee';
import { uniqueTenant } from '@gatehouse-mcp/engine/testing';
import { startIdentityEngine, type IdentityEngine } from '../support/identity-engine.js';

async function rejects(work: Promise<unknown>, type: Function, pattern?: RegExp): Promise<Error> {
  try {
    await work;
  } catch (error) {
    expect(error).to.be.instanceOf(type);
    if (pattern) expect((error as Error).message).to.match(pattern);
    return error as Error;
  }
  return expect.fail('expected a rejection');
}

describe('EE identity: provider and agent stores', function () {
  this.timeout(60_000);
  let t: IdentityEngine;
  before(async () => {
    t = await startIdentityEngine();
  });
  after(() => t?.close());

  it('defaults the audience to the tenant\'s canonical MCP URL and the usual safe settings', async () => {
    const tenant = uniqueTenant();
    const idp = await t.idps.create(tenant, { kind: 'custom', name: ' Okta ', issuer: 'https://acme.okta.com/oauth2/default', createdBy: 'admin@acme' });
    expect(idp).to.deep.include({
      tenant,
      name: 'Okta',
      kind: 'custom',
      audience: t.engine.mcpUrl(tenant),
      subjectClaim: 'sub',
      allowedAlgorithms: ['RS256', 'PS256', 'ES256'],
      clockSkewSeconds: 60,
      tokenType: 'any',
      active: true,
      jwksUri: null,
      createdBy: 'admin@acme',
    });
  });

  it('validates provider input field by field', async () => {
    const tenant = uniqueTenant();
    const cases: [Record<string, unknown>, string][] = [
      [{ kind: 'custom', name: 'x', issuer: 'http://idp.example.com' }, 'issuer'],
      [{ kind: 'custom', name: 'x', issuer: 'not a url' }, 'issuer'],
      [{ kind: 'custom', name: 'x', issuer: 'https://u:p@idp.example.com' }, 'issuer'],
      [{ kind: 'custom', name: '', issuer: 'https://idp.example.com' }, 'name'],
      [{ kind: 'custom', name: 'x', issuer: 'https://idp.example.com', allowedAlgorithms: ['HS256'] }, 'allowedAlgorithms'],
      [{ kind: 'custom', name: 'x', issuer: 'https://idp.example.com', allowedAlgorithms: ['none'] }, 'allowedAlgorithms'],
      [{ kind: 'custom', name: 'x', issuer: 'https://idp.example.com', allowedAlgorithms: [] }, 'allowedAlgorithms'],
      [{ kind: 'custom', name: 'x', issuer: 'https://idp.example.com', subjectClaim: 'a b' }, 'subjectClaim'],
      [{ kind: 'custom', name: 'x', issuer: 'https://idp.example.com', clockSkewSeconds: 3600 }, 'clockSkewSeconds'],
      [{ kind: 'custom', name: 'x', issuer: 'https://idp.example.com', tokenType: 'id_token' }, 'tokenType'],
      [{ kind: 'custom', name: 'x', issuer: 'https://idp.example.com', audience: '' }, 'audience'],
      [{ kind: 'keycloak', name: 'x', realmUrl: 'https://sso.example.com/auth' }, 'realmUrl'],
      [{ kind: 'saml', name: 'x' }, 'kind'],
    ];
    for (const [input, field] of cases) {
      const error = await rejects(t.idps.create(tenant, input as never), IdentityInputError);
      expect((error as IdentityInputError).field, JSON.stringify(input)).to.equal(field);
    }
    expect(await t.idps.list(tenant)).to.deep.equal([]);
  });

  it('refuses a second provider with the same issuer in a tenant, not across tenants', async () => {
    const tenant = uniqueTenant();
    await t.idps.create(tenant, { kind: 'google', name: 'G' });
    await rejects(t.idps.create(tenant, { kind: 'custom', name: 'G2', issuer: 'https://accounts.google.com' }), IdentityConflictError, /already trusts/);
    await t.idps.create(uniqueTenant(), { kind: 'google', name: 'G' });
  });

  it('updates a provider, re-resolving its preset and moving its agents\' bindings along', async () => {
    const tenant = uniqueTenant();
    const idp = await t.idps.create(tenant, { kind: 'keycloak', name: 'KC', realmUrl: 'https://sso.example.com/realms/old' });
    const agent = await t.agents.create(tenant, { name: 'bot', idpId: idp.id, subject: 'bot' });
    const updated = await t.idps.update(tenant, idp.id, { realmUrl: 'https://sso.example.com/realms/new', clockSkewSeconds: 5, name: 'Keycloak' });
    expect(updated).to.deep.include({ issuer: 'https://sso.example.com/realms/new', clockSkewSeconds: 5, name: 'Keycloak', subjectClaim: 'azp' });
    expect((await t.agents.get(tenant, agent.id))!.issuer).to.equal('https://sso.example.com/realms/new');
    expect(await t.idps.update(uniqueTenant(), idp.id, { name: 'stolen' })).to.equal(undefined);
    await rejects(t.idps.update(tenant, idp.id, { allowedAlgorithms: ['HS256'] }), IdentityInputError);
  });

  it('refuses to delete a provider that agents use, and deletes it once they are gone', async () => {
    const tenant = uniqueTenant();
    const idp = await t.idps.create(tenant, { kind: 'google', name: 'G' });
    const agent = await t.agents.create(tenant, { name: 'bot', idpId: idp.id, subject: '1' });
    await rejects(t.idps.delete(tenant, idp.id), IdentityConflictError, /still bound/);
    expect(await t.agents.delete(tenant, agent.id)).to.equal(true);
    expect(await t.idps.delete(uniqueTenant(), idp.id)).to.equal(false);
    expect(await t.idps.delete(tenant, idp.id)).to.equal(true);
    expect(await t.idps.get(tenant, idp.id)).to.equal(undefined);
  });

  it('refuses a second active agent with the same binding, and allows it once the first is deactivated', async () => {
    const tenant = uniqueTenant();
    const idp = await t.idps.create(tenant, { kind: 'google', name: 'G' });
    const first = await t.agents.create(tenant, { name: 'first', idpId: idp.id, subject: '42' });
    await rejects(t.agents.create(tenant, { name: 'second', idpId: idp.id, subject: '42' }), IdentityConflictError, /already bound/);
    await t.agents.deactivate(tenant, first.id);
    const second = await t.agents.create(tenant, { name: 'second', idpId: idp.id, subject: '42' });
    await rejects(t.agents.activate(tenant, first.id), IdentityConflictError);
    expect((await t.agents.get(tenant, first.id))!.active).to.equal(false);
    expect((await t.agents.findActiveByBinding(tenant, idp.issuer, '42'))!.id).to.equal(second.id);
    // Rebinding an agent onto a taken identity is refused too.
    const third = await t.agents.create(tenant, { name: 'third', idpId: idp.id, subject: '43' });
    await rejects(t.agents.update(tenant, third.id, { subject: '42' }), IdentityConflictError);
  });

  it('validates agent bindings against the tenant\'s own providers', async () => {
    const tenant = uniqueTenant();
    const foreign = await t.idps.create(uniqueTenant(), { kind: 'google', name: 'G' });
    const mine = await t.idps.create(tenant, { kind: 'google', name: 'G' });
    expect(((await rejects(t.agents.create(tenant, { name: 'x', idpId: foreign.id, subject: '1' }), IdentityInputError)) as IdentityInputError).field).to.equal('idpId');
    expect(((await rejects(t.agents.create(tenant, { name: 'x', idpId: mine.id }), IdentityInputError)) as IdentityInputError).field).to.equal('subject');
    expect(((await rejects(t.agents.create(tenant, { name: 'x', subject: '1' }), IdentityInputError)) as IdentityInputError).field).to.equal('idpId');
    expect(((await rejects(t.agents.create(tenant, { name: ' ' }), IdentityInputError)) as IdentityInputError).field).to.equal('name');
  });

  it('keeps agents to their tenant', async () => {
    const tenant = uniqueTenant();
    const agent = await t.agents.create(tenant, { name: 'mine', description: 'does things' });
    const other = uniqueTenant();
    expect(await t.agents.get(other, agent.id)).to.equal(undefined);
    expect(await t.agents.list(other)).to.deep.equal([]);
    expect(await t.agents.update(other, agent.id, { name: 'x' })).to.equal(undefined);
    expect(await t.agents.deactivate(other, agent.id)).to.equal(undefined);
    expect(await t.agents.delete(other, agent.id)).to.equal(false);
    expect(await t.agents.issueKey(other, agent.id, { name: 'k' })).to.equal(undefined);
    expect((await t.agents.get(tenant, agent.id))!).to.deep.include({ name: 'mine', description: 'does things', active: true });
  });

  it('records when an agent was last seen, off the request path', async () => {
    const tenant = uniqueTenant();
    const agent = await t.agents.create(tenant, { name: 'seen' });
    expect(agent.lastSeenAt).to.equal(null);
    t.agents.markSeen(agent.id);
    await t.agents.flushSeen();
    expect((await t.agents.get(tenant, agent.id))!.lastSeenAt).to.be.instanceOf(Date);
  });
});

describe('EE identity: presets and options', () => {
  it('resolves each preset to its issuer and subject claim', () => {
    expect(resolvePreset({ kind: 'entra', directoryId: '6f1c2a9e-3b7d-4c1e-9a55-0e2f8d4b7c31' })).to.deep.include({
      issuer: 'https://login.microsoftonline.com/6f1c2a9e-3b7d-4c1e-9a55-0e2f8d4b7c31/v2.0',
      jwksUri: 'https://login.microsoftonline.com/6f1c2a9e-3b7d-4c1e-9a55-0e2f8d4b7c31/discovery/v2.0/keys',
      subjectClaim: 'azp',
    });
    expect(resolvePreset({ kind: 'google' })).to.deep.include({ issuer: 'https://accounts.google.com', subjectClaim: 'sub' });
    expect(resolvePreset({ kind: 'keycloak', realmUrl: 'https://sso.example.com/realms/acme' })).to.deep.include({
      issuer: 'https://sso.example.com/realms/acme',
      discoveryUrl: 'https://sso.example.com/realms/acme/.well-known/openid-configuration',
      subjectClaim: 'azp',
    });
    expect(resolvePreset({ kind: 'custom', issuer: 'https://idp.example.com', subjectClaim: 'client_id' })).to.deep.include({ subjectClaim: 'client_id', jwksUri: undefined });
  });

  it('validates enterpriseEdition options with errors naming the option', () => {
    const invalid: [unknown, RegExp][] = [
      [{ tenancy: 'subdomain' as never }, /tenancy must be "path", "host" or "single"/],
      [{ tenancy: 'single' }, /needs tenant/],
      [{ tenancy: 'single', tenant: 'Bad Tenant' }, /not a valid tenant id/],
      [{ tenant: 'acme' }, /only used with tenancy "single"/],
      [{ credentialCacheTtlMs: 0 }, /credentialCacheTtlMs must be a positive/],
      [{ jwksRefetchCooldownMs: -1 }, /jwksRefetchCooldownMs must be a positive/],
      [{ tenancy: 'path', bogus: true }, /unknown option "bogus"/],
    ];
    for (const [options, message] of invalid) {
      expect(() => enterpriseEdition(options as never), JSON.stringify(options)).to.throw(ConfigError, message);
    }
    expect(enterpriseEdition({ tenancy: 'single', tenant: 'acme' })).to.include({ id: 'enterprise-edition', kind: 'gatehouse.plugin' });
  });
});
