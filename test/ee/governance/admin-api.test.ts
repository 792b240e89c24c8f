import { expect } from 'chai';
import { AuditSink } from '@gatehouse-mcp/engine';
import { startOidcProvider, type OidcFixture } from '../support/oidc.js';
import { governanceEngine, type GovernanceTestEngine } from './support.js';

const UNKNOWN = '00000000-0000-4000-8000-000000000000';

describe('EE admin API', () => {
  let t: GovernanceTestEngine;
  let oidc: OidcFixture;
  before(async () => {
    t = await governanceEngine();
    oidc = await startOidcProvider();
  });
  after(async () => {
    await t?.close();
    await oidc?.close();
  });
  const flush = (): Promise<void> => t.engine.resolve<AuditSink>(AuditSink).flush();

  it('answers 401 without a credential and 403 (JSON) to a non-admin credential', async () => {
    const none = await t.http('GET', '/api/v1/mcp/agents');
    expect(none.status).to.equal(401);
    expect(none.headers.get('www-authenticate')).to.match(/^Bearer/);
    const plain = (await t.createKey({ scopes: ['mcp'] })).secret;
    const agent = await t.agent();
    for (const token of [plain, agent.key]) {
      for (const [method, path] of [['GET', '/api/v1/mcp/agents'], ['POST', '/api/v1/mcp/roles'], ['GET', '/api/v1/mcp/audit'], ['GET', '/api/v1/mcp/idp-providers']]) {
        const response = await t.http(method!, path!, { token, body: method === 'POST' ? { name: 'x', permissions: [] } : undefined });
        expect(response.status, `${method} ${path}`).to.equal(403);
        expect(response.headers.get('content-type')).to.match(/^application\/json/);
        expect(response.body.error.code).to.equal('forbidden');
      }
    }
    expect((await t.http('GET', '/api/v1/mcp/roles', { token: 'ghk_notakey' })).status).to.equal(401);
  });

  it('validates input: 400 with field errors, 404 for unknown ids, 409 for conflicts', async () => {
    const bad = await t.http('POST', '/api/v1/mcp/roles', { token: t.adminKey, body: { name: '', permissions: ['tickets:read', 'no spaces allowed'], extra: 1 } });
    expect(bad.status).to.equal(400);
    const fields = (bad.body.error.details as { field: string }[]).map((d) => d.field).sort();
    expect(fields).to.include.members(['name', 'permissions', 'extra']);
    const notJson = await t.http('POST', '/api/v1/mcp/roles', { token: t.adminKey, body: '{nope', headers: { 'content-type': 'application/json' } });
    expect(notJson.status).to.equal(400);
    expect(notJson.body.error).to.be.an('object');

    expect((await t.http('GET', `/api/v1/mcp/roles/${UNKNOWN}`, { token: t.adminKey })).status).to.equal(404);
    expect((await t.http('GET', '/api/v1/mcp/roles/not-a-uuid', { token: t.adminKey })).status).to.equal(404);
    expect((await t.http('PATCH', `/api/v1/mcp/agents/${UNKNOWN}`, { token: t.adminKey, body: { name: 'x' } })).status).to.equal(404);
    expect((await t.http('DELETE', `/api/v1/mcp/idp-providers/${UNKNOWN}`, { token: t.adminKey })).status).to.equal(404);

    await t.role('dup', ['a:b']);
    const dup = await t.http('POST', '/api/v1/mcp/roles', { token: t.adminKey, body: { name: 'dup', permissions: [] } });
    expect(dup.status).to.equal(409);
    expect(dup.body.error.code).to.equal('conflict');

    const agentBad = await t.http('POST', '/api/v1/mcp/agents', { token: t.adminKey, body: { name: 'a', roleIds: [UNKNOWN] } });
    expect(agentBad.status).to.equal(400);
    expect(agentBad.body.error.details).to.deep.equal([{ field: 'roleIds', message: `Unknown role id(s): ${UNKNOWN}.` }]);
    const idpBad = await t.http('POST', '/api/v1/mcp/idp-providers', { token: t.adminKey, body: { name: 'x', kind: 'okta' } });
    expect(idpBad.status).to.equal(400);
    expect(idpBad.body.error.details[0].field).to.equal('kind');
    const entraCommon = await t.http('POST', '/api/v1/mcp/idp-providers', { token: t.adminKey, body: { name: 'x', kind: 'entra', directoryId: 'common' } });
    expect(entraCommon.status).to.equal(400);
    expect(entraCommon.body.error.details[0].field).to.equal('directoryId');
  });

  it('manages an IdP: create from preset, test discovery + JWKS, deactivate, activate, update, delete', async () => {
    const created = await t.http('POST', '/api/v1/mcp/idp-providers', { token: t.adminKey, body: { name: 'Local', kind: 'custom', issuer: oidc.issuer } });
    expect(created.status).to.equal(201);
    const idp = created.body.data;
    expect(idp).to.include({ kind: 'custom', issuer: oidc.issuer, active: true, audience: t.engine.mcpUrl(t.tenant) });

    const probe = await t.http('POST', `/api/v1/mcp/idp-providers/${idp.id}/test`, { token: t.adminKey });
    expect(probe.status).to.equal(200);
    expect(probe.body.data).to.include({ ok: true, jwksUri: oidc.jwksUri });
    expect(probe.body.data.keyIds).to.have.length.greaterThan(0);

    const again = await t.http('POST', '/api/v1/mcp/idp-providers', { token: t.adminKey, body: { name: 'Again', kind: 'custom', issuer: oidc.issuer } });
    expect(again.status).to.equal(409);

    expect((await t.http('POST', `/api/v1/mcp/idp-providers/${idp.id}/deactivate`, { token: t.adminKey })).body.data.active).to.equal(false);
    expect((await t.http('POST', `/api/v1/mcp/idp-providers/${idp.id}/activate`, { token: t.adminKey })).body.data.active).to.equal(true);
    const renamed = await t.http('PATCH', `/api/v1/mcp/idp-providers/${idp.id}`, { token: t.adminKey, body: { name: 'Renamed', clockSkewSeconds: 30 } });
    expect(renamed.body.data).to.include({ name: 'Renamed', clockSkewSeconds: 30 });

    // Bound agents keep the provider; a second active agent with the same binding is a conflict.
    const bound = await t.http('POST', '/api/v1/mcp/agents', { token: t.adminKey, body: { name: 'bound', idpId: idp.id, subject: 'client-1' } });
    expect(bound.status).to.equal(201);
    const twin = await t.http('POST', '/api/v1/mcp/agents', { token: t.adminKey, body: { name: 'twin', idpId: idp.id, subject: 'client-1' } });
    expect(twin.status).to.equal(409);
    expect((await t.http('DELETE', `/api/v1/mcp/idp-providers/${idp.id}`, { token: t.adminKey })).status).to.equal(409);
    expect((await t.http('DELETE', `/api/v1/mcp/agents/${bound.body.data.id}`, { token: t.adminKey })).status).to.equal(200);
    expect((await t.http('DELETE', `/api/v1/mcp/idp-providers/${idp.id}`, { token: t.adminKey })).status).to.equal(200);
    expect((await t.http('GET', `/api/v1/mcp/idp-providers/${idp.id}`, { token: t.adminKey })).status).to.equal(404);

    const broken = await t.http('POST', '/api/v1/mcp/idp-providers', { token: t.adminKey, body: { name: 'Down', kind: 'custom', issuer: 'http://127.0.0.1:9/realms/none' } });
    const failed = await t.http('POST', `/api/v1/mcp/idp-providers/${broken.body.data.id}/test`, { token: t.adminKey });
    expect(failed.status).to.equal(200);
    expect(failed.body.data.ok).to.equal(false);
    expect(failed.body.data.error).to.contain('discovery');
  });

  it('manages agents: roles, deactivate/reactivate, keys shown once and revoked, delete keeps the audit trail', async () => {
    const reader = await t.role('agent-reader', ['tickets:read']);
    const writer = await t.role('agent-writer', ['tickets:write']);
    const created = await t.http('POST', '/api/v1/mcp/agents', { token: t.adminKey, body: { name: 'Bot', description: 'does things', roleIds: [reader] } });
    expect(created.status).to.equal(201);
    const id = created.body.data.id as string;
    expect(created.body.data.roles).to.deep.equal([{ id: reader, name: 'agent-reader' }]);

    const key = await t.http('POST', `/api/v1/mcp/agents/${id}/keys`, { token: t.adminKey, body: { name: 'ci' } });
    expect(key.status).to.equal(201);
    expect(key.body.data.secret).to.match(/^ghk_/);
    const listed = await t.http('GET', `/api/v1/mcp/agents/${id}/keys`, { token: t.adminKey });
    expect(listed.body.data).to.have.length(1);
    expect(listed.text).to.not.contain(key.body.data.secret);
    expect(listed.body.data[0]).to.include({ id: key.body.data.id, status: 'active', name: 'ci' });

    const client = await t.connect({ token: key.body.data.secret });
    expect((await client.listTools()).tools.map((tool) => tool.name)).to.deep.equal(['tickets.read']);
    const patched = await t.http('PATCH', `/api/v1/mcp/agents/${id}`, { token: t.adminKey, body: { roleIds: [reader, writer], name: 'Bot 2' } });
    expect(patched.body.data.roles.map((r: { name: string }) => r.name)).to.deep.equal(['agent-reader', 'agent-writer']);
    expect((await client.listTools()).tools.map((tool) => tool.name).sort()).to.deep.equal(['tickets.read', 'tickets.write']);

    const list = await t.http('GET', '/api/v1/mcp/agents?status=active', { token: t.adminKey });
    const row = (list.body.data as { id: string }[]).find((agent) => agent.id === id);
    expect(row).to.deep.include({ name: 'Bot 2', status: 'active' });
    expect(row).to.have.property('lastSeenAt');

    expect((await t.http('POST', `/api/v1/mcp/agents/${id}/deactivate`, { token: t.adminKey })).body.data.status).to.equal('inactive');
    const refused = await client.callTool({ name: 'tickets.read', arguments: { id: '1' } }).then(() => 'ran', (error: Error) => error.message);
    expect(refused).to.contain('deactivated');
    expect((await t.http('POST', `/api/v1/mcp/agents/${id}/reactivate`, { token: t.adminKey })).body.data.status).to.equal('active');
    expect((await client.callTool({ name: 'tickets.read', arguments: { id: '1' } })).isError).to.not.equal(true);

    expect((await t.http('DELETE', `/api/v1/mcp/agents/${id}/keys/${UNKNOWN}`, { token: t.adminKey })).status).to.equal(404);
    expect((await t.http('DELETE', `/api/v1/mcp/agents/${id}/keys/${key.body.data.id}`, { token: t.adminKey })).status).to.equal(200);
    expect((await t.http('GET', `/api/v1/mcp/agents/${id}/keys`, { token: t.adminKey })).body.data[0].status).to.equal('revoked');

    await flush();
    const before = await t.http('GET', `/api/v1/mcp/audit?agent=${id}`, { token: t.adminKey });
    expect(before.body.data.length).to.be.greaterThan(0);
    expect((await t.http('DELETE', `/api/v1/mcp/agents/${id}`, { token: t.adminKey })).status).to.equal(200);
    expect((await t.http('GET', `/api/v1/mcp/agents/${id}`, { token: t.adminKey })).status).to.equal(404);
    const after = await t.http('GET', `/api/v1/mcp/audit?agent=${id}`, { token: t.adminKey });
    expect(after.body.data.length).to.equal(before.body.data.length);
  });

  it('records every admin change with the admin, the object and what changed', async () => {
    const roleId = await t.role('audited', ['a:read']);
    await t.http('PATCH', `/api/v1/mcp/roles/${roleId}`, { token: t.adminKey, body: { permissions: ['a:read', 'a:write'] } });
    await t.http('DELETE', `/api/v1/mcp/roles/${roleId}`, { token: t.adminKey });
    await flush();
    const response = await t.http('GET', `/api/v1/mcp/audit?decision=admin&target=${roleId}`, { token: t.adminKey });
    const entries = response.body.data as { action: string; principal: { kind: string; label: string }; details: any; target: string }[];
    expect(entries.map((e) => e.action)).to.deep.equal(['roles.delete', 'roles.update', 'roles.create']);
    expect(entries.every((e) => e.principal.kind === 'admin' && e.principal.label === 'admin' && e.target === roleId)).to.equal(true);
    expect(entries[1]!.details.changed).to.deep.equal({ permissions: { from: ['a:read'], to: ['a:read', 'a:write'] } });
  });

  it('refuses a host admin whose label holds NUL or a lone surrogate with a 403 naming the label (creating an agent failed with a 500)', async () => {
    const host = await governanceEngine({
      edition: { adminAuthenticator: async (req) => (req.header('x-host-session') ? { tenant: 'host-tenant', label: req.header('x-host-session') === 'nul' ? 'alice\u0000' : 'alice\ud800' } : undefined) },
    });
    try {
      for (const session of ['nul', 'surrogate']) {
        const created = await host.http('POST', '/api/v1/mcp/agents', { headers: { 'x-host-session': session }, body: { name: 'bot' } });
        expect(created.status, JSON.stringify(created.body)).to.equal(403);
        expect(created.body.error.message).to.match(/label contains (a NUL character|a lone surrogate)/);
      }
    } finally {
      await host.close();
    }
  });

  it('accepts the host admin authenticator, scoped to the tenant it names', async () => {
    const host = await governanceEngine({
      edition: { adminAuthenticator: async (req) => (req.header('x-host-session') === 'ok' ? { tenant: 'host-tenant', label: 'alice@example.com' } : undefined) },
    });
    try {
      const created = await host.http('POST', '/api/v1/mcp/roles', { headers: { 'x-host-session': 'ok' }, body: { name: 'from host', permissions: ['*'] } });
      expect(created.status).to.equal(201);
      expect((await host.http('GET', '/t/host-tenant/api/v1/mcp/roles', { headers: { 'x-host-session': 'ok' } })).body.data).to.have.length.greaterThan(0);
      expect((await host.http('GET', `/t/${host.tenant}/api/v1/mcp/roles`, { headers: { 'x-host-session': 'ok' } })).status).to.equal(403);
      expect((await host.http('GET', '/api/v1/mcp/roles', { token: host.adminKey })).status).to.equal(200);
      expect((await host.http('GET', '/api/v1/mcp/roles')).status).to.equal(401);
      await host.engine.resolve<AuditSink>(AuditSink).flush();
      const audit = await host.http('GET', '/api/v1/mcp/audit?decision=admin', { headers: { 'x-host-session': 'ok' } });
      expect(audit.body.data[0].principal).to.deep.equal({ kind: 'host-admin', id: 'alice@example.com', label: 'alice@example.com' });
    } finally {
      await host.close();
    }
  });
});
