import { expect } from 'chai';
import { AuditSink } from '@gatehouse-mcp/engine';
import { uniqueTenant } from '@gatehouse-mcp/engine/testing';
import { governanceEngine, type GovernanceTestEngine } from './support.js';

describe('EE admin API tenant isolation', () => {
  let t: GovernanceTestEngine;
  const b = { tenant: uniqueTenant('other'), admin: '', role: '', agent: '', key: '', keyId: '', idp: '' };

  before(async () => {
    t = await governanceEngine();
    b.admin = await t.adminOf(b.tenant);
    b.role = await t.role('b-role', ['*'], b.admin);
    const agent = await t.agent({ name: 'b-agent', roleIds: [b.role], token: b.admin });
    Object.assign(b, { agent: agent.id, key: agent.key, keyId: agent.keyId });
    const idp = await t.http('POST', '/api/v1/mcp/idp-providers', { token: b.admin, body: { name: 'B IdP', kind: 'keycloak', realmUrl: 'https://sso.b.example/realms/b' } });
    expect(idp.status).to.equal(201);
    b.idp = idp.body.data.id;
    const client = await t.connect({ token: b.key });
    await client.callTool({ name: 'tickets.read', arguments: { id: 'b-secret-ticket' } });
    await t.engine.resolve<AuditSink>(AuditSink).flush();
  });
  after(async () => {
    await t?.close();
  });

  it("never shows, changes or deletes another tenant's objects through any admin endpoint", async () => {
    const a = t.adminKey;
    const aAgent = await t.agent({ name: 'a-agent' });
    const attempts: [string, string, unknown?][] = [
      ['GET', `/api/v1/mcp/roles/${b.role}`],
      ['PATCH', `/api/v1/mcp/roles/${b.role}`, { permissions: [] }],
      ['DELETE', `/api/v1/mcp/roles/${b.role}`],
      ['GET', `/api/v1/mcp/agents/${b.agent}`],
      ['PATCH', `/api/v1/mcp/agents/${b.agent}`, { name: 'taken over' }],
      ['POST', `/api/v1/mcp/agents/${b.agent}/deactivate`],
      ['POST', `/api/v1/mcp/agents/${b.agent}/reactivate`],
      ['POST', `/api/v1/mcp/agents/${b.agent}/keys`, { name: 'backdoor' }],
      ['GET', `/api/v1/mcp/agents/${b.agent}/keys`],
      ['DELETE', `/api/v1/mcp/agents/${b.agent}/keys/${b.keyId}`],
      ['DELETE', `/api/v1/mcp/agents/${aAgent.id}/keys/${b.keyId}`],
      ['DELETE', `/api/v1/mcp/agents/${b.agent}`],
      ['GET', `/api/v1/mcp/idp-providers/${b.idp}`],
      ['PATCH', `/api/v1/mcp/idp-providers/${b.idp}`, { name: 'mine' }],
      ['POST', `/api/v1/mcp/idp-providers/${b.idp}/deactivate`],
      ['POST', `/api/v1/mcp/idp-providers/${b.idp}/activate`],
      ['POST', `/api/v1/mcp/idp-providers/${b.idp}/test`],
      ['DELETE', `/api/v1/mcp/idp-providers/${b.idp}`],
      ['GET', `/api/v1/mcp/access-check?agent=${b.agent}`],
    ];
    for (const [method, path, body] of attempts) {
      const response = await t.http(method, path, { token: a, body });
      expect(response.status, `${method} ${path}`).to.equal(404);
      expect(response.text, `${method} ${path}`).to.not.contain('b-agent').and.not.contain('b-role').and.not.contain('B IdP');
    }

    // Assigning another tenant's role or binding to another tenant's IdP is refused as unknown.
    const withRole = await t.http('PATCH', `/api/v1/mcp/agents/${aAgent.id}`, { token: a, body: { roleIds: [b.role] } });
    expect(withRole.status).to.equal(400);
    expect(withRole.body.error.details[0].field).to.equal('roleIds');
    const create = await t.http('POST', '/api/v1/mcp/agents', { token: a, body: { name: 'x', roleIds: [b.role] } });
    expect(create.status).to.equal(400);
    const bound = await t.http('POST', '/api/v1/mcp/agents', { token: a, body: { name: 'x', idpId: b.idp, subject: 's' } });
    expect(bound.status).to.equal(400);
    expect(bound.body.error.details[0].field).to.equal('idpId');

    // Lists and the audit trail hold only the admin's own tenant.
    for (const path of ['/api/v1/mcp/roles', '/api/v1/mcp/agents', '/api/v1/mcp/idp-providers']) {
      const response = await t.http('GET', path, { token: a });
      expect(response.status).to.equal(200);
      const ids = (response.body.data as { id: string }[]).map((item) => item.id);
      expect(ids).to.not.include.members([b.role, b.agent, b.idp]);
    }
    const audit = await t.http('GET', `/api/v1/mcp/audit?agent=${b.agent}`, { token: a });
    expect(audit.status).to.equal(200);
    expect(audit.body.data).to.deep.equal([]);
    const all = await t.http('GET', '/api/v1/mcp/audit?limit=500', { token: a });
    expect(all.text).to.not.contain('b-secret-ticket');
    for (const format of ['csv', 'jsonl']) {
      const exported = await t.http('GET', `/api/v1/mcp/audit/export?format=${format}`, { token: a });
      expect(exported.status).to.equal(200);
      expect(exported.text).to.not.contain('b-secret-ticket').and.not.contain(b.agent);
    }

    // The per-tenant admin URL of another tenant refuses the credential outright.
    for (const path of ['/api/v1/mcp/roles', `/api/v1/mcp/agents/${b.agent}`, '/api/v1/mcp/audit', '/api/v1/mcp/idp-providers']) {
      expect((await t.http('GET', `/t/${b.tenant}${path}`, { token: a })).status, path).to.equal(401);
    }
    expect((await t.http('GET', `/t/${t.tenant}/api/v1/mcp/roles`, { token: a })).status).to.equal(200);

    // Tenant B's objects are untouched and still work.
    const mine = await t.http('GET', `/api/v1/mcp/agents/${b.agent}`, { token: b.admin });
    expect(mine.body.data).to.include({ name: 'b-agent', status: 'active' });
    expect(mine.body.data.roles).to.deep.equal([{ id: b.role, name: 'b-role' }]);
    expect((await t.http('GET', `/api/v1/mcp/roles/${b.role}`, { token: b.admin })).body.data.permissions).to.deep.equal(['*']);
    expect((await t.http('GET', `/api/v1/mcp/idp-providers/${b.idp}`, { token: b.admin })).body.data).to.include({ name: 'B IdP', active: true });
    expect((await t.http('GET', `/api/v1/mcp/agents/${b.agent}/keys`, { token: b.admin })).body.data[0].status).to.equal('active');
    const bAudit = await t.http('GET', `/api/v1/mcp/audit?agent=${b.agent}`, { token: b.admin });
    expect(bAudit.text).to.contain('b-secret-ticket');
  });
});
