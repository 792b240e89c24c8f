/**
 * The admin API against input of the wrong shape: JSON `null` in a field, a value of the wrong
 * JSON type, query parameters a route does not take, requests without a credential, concurrent
 * saves and webhook URLs that carry credentials. Each answer is a 4xx naming the problem, never a
 * 500 or a change that was not asked for.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import type { Knex } from 'knex';
import { AuditSink } from '@gatehouse-mcp/engine';
import { governanceEngine, type GovernanceTestEngine, type HttpResult } from './support.js';

interface Route {
  readonly method: string;
  readonly path: string;
  /** A valid body: each field is replaced in turn. */
  readonly body: Record<string, unknown>;
  /** Fields whose `null` is documented to clear them. */
  readonly nullable?: readonly string[];
}

const detailsOf = (response: HttpResult): { field: string; message: string }[] => response.body?.error?.details ?? [];

describe('EE admin API: input of the wrong shape', function () {
  this.timeout(120_000);
  let t: GovernanceTestEngine;
  let agentId: string;
  let roleId: string;
  let idpId: string;
  let policyId: string;
  let limitId: string;
  let routes: Route[];

  before(async () => {
    t = await governanceEngine();
    const admin = { token: t.adminKey };
    agentId = (await t.agent({ name: 'target' })).id;
    roleId = await t.role('readers', ['tickets:read', 'tickets:write']);
    idpId = (await t.http('POST', '/api/v1/mcp/idp-providers', { ...admin, body: { kind: 'custom', name: 'idp', issuer: 'https://idp.example.com' } })).body.data.id;
    policyId = (await t.http('POST', '/api/v1/mcp/policies', { ...admin, body: { name: 'all', text: 'forbid (principal, action == Action::"tickets.write", resource);' } })).body.data.id;
    limitId = (await t.http('POST', '/api/v1/mcp/limits', { ...admin, body: { scope: 'tenant', window: 'minute', max: 50 } })).body.data.id;
    const text = 'forbid (principal, action == Action::"tickets.write", resource);';
    routes = [
      { method: 'POST', path: '/api/v1/mcp/roles', body: { name: 'r', description: 'd', permissions: ['a:b'] } },
      { method: 'PATCH', path: `/api/v1/mcp/roles/${roleId}`, body: { name: 'readers', description: 'd', permissions: ['tickets:read', 'tickets:write'] } },
      { method: 'POST', path: '/api/v1/mcp/agents', body: { name: 'a', description: 'd', contact: 'c', idpId, subject: 's-new', roleIds: [roleId], attributes: { board: 'x' } }, nullable: ['idpId', 'subject'] },
      { method: 'PATCH', path: `/api/v1/mcp/agents/${agentId}`, body: { name: 'target', description: 'd', contact: 'c', idpId, subject: 's-target', roleIds: [roleId], attributes: { board: 'x' } }, nullable: ['idpId', 'subject'] },
      { method: 'POST', path: `/api/v1/mcp/agents/${agentId}/keys`, body: { name: 'k', expiresAt: '2999-01-01T00:00:00Z' } },
      { method: 'POST', path: '/api/v1/mcp/idp-providers', body: { kind: 'custom', name: 'i2', issuer: 'https://i2.example.com', jwksUri: 'https://i2.example.com/jwks', subjectClaim: 'sub', allowedAlgorithms: ['RS256'], audience: 'aud', clockSkewSeconds: 30, tokenType: 'any', listOrder: 1 } },
      { method: 'PATCH', path: `/api/v1/mcp/idp-providers/${idpId}`, body: { name: 'idp', issuer: 'https://idp.example.com', jwksUri: 'https://idp.example.com/jwks', subjectClaim: 'sub', allowedAlgorithms: ['RS256'], audience: 'aud', clockSkewSeconds: 30, tokenType: 'any', listOrder: 1 } },
      { method: 'POST', path: '/api/v1/mcp/policies', body: { name: 'p2', description: 'd', text, enabled: true } },
      { method: 'PATCH', path: `/api/v1/mcp/policies/${policyId}`, body: { name: 'all', description: 'd', text, enabled: true } },
      { method: 'POST', path: '/api/v1/mcp/policies/validate', body: { text } },
      { method: 'POST', path: '/api/v1/mcp/limits', body: { scope: 'agent', agentId, tool: 'tickets.read', window: 'hour', max: 5 } },
      { method: 'PATCH', path: `/api/v1/mcp/limits/${limitId}`, body: { max: 60 } },
      { method: 'PUT', path: '/api/v1/mcp/approval-webhook', body: { url: 'https://hooks.example.com/approvals' } },
      { method: 'POST', path: '/api/v1/mcp/access-check/simulate', body: { agent: agentId, tool: 'tickets.read', arguments: { id: '1' }, at: '2030-01-01T00:00:00Z', clientAddress: '10.0.0.1', credential: 'api_key' } },
      { method: 'POST', path: '/api/v1/mcp/approvals/00000000-0000-4000-8000-000000000000/approve', body: { reason: 'ok' } },
      { method: 'POST', path: '/api/v1/mcp/approvals/00000000-0000-4000-8000-000000000000/deny', body: { reason: 'no' } },
    ];
  });
  after(async () => {
    await t?.close();
  });

  const send = (method: string, path: string, body: unknown): Promise<HttpResult> => t.http(method, path, { token: t.adminKey, body });

  describe('JSON null in a body field', () => {
    it('is a 400 naming the field, on every field of every admin write route (it was a 500, or stored as if absent)', async () => {
      for (const route of routes) {
        for (const field of Object.keys(route.body)) {
          if (route.nullable?.includes(field)) continue;
          const response = await send(route.method, route.path, { ...route.body, [field]: null });
          const what = `${route.method} ${route.path} ${field}: null → ${response.text}`;
          expect(response.status, what).to.equal(400);
          expect(response.body.error.code, what).to.equal('validation_failed');
          expect(detailsOf(response).filter((d) => d.field === field), what).to.have.length(1);
          expect(detailsOf(response).find((d) => d.field === field)!.message, what).to.match(/must not be null/);
        }
      }
    });

    it("never clears a role's permissions (a PATCH with permissions: null wiped them), name or description", async () => {
      for (const field of ['permissions', 'name', 'description']) {
        const response = await send('PATCH', `/api/v1/mcp/roles/${roleId}`, { [field]: null });
        expect(response.status, `${field}: ${response.text}`).to.equal(400);
      }
      const role = await t.http('GET', `/api/v1/mcp/roles/${roleId}`, { token: t.adminKey });
      expect(role.body.data).to.deep.include({ name: 'readers', permissions: ['tickets:read', 'tickets:write'] });
    });

    it("never clears an agent's roles or description, nor an identity provider's settings", async () => {
      expect((await send('PATCH', `/api/v1/mcp/agents/${agentId}`, { roleIds: [roleId], description: 'kept' })).status).to.equal(200);
      expect((await send('PATCH', `/api/v1/mcp/agents/${agentId}`, { roleIds: null })).status).to.equal(400);
      expect((await send('PATCH', `/api/v1/mcp/agents/${agentId}`, { description: null })).status).to.equal(400);
      const agent = (await t.http('GET', `/api/v1/mcp/agents/${agentId}`, { token: t.adminKey })).body.data;
      expect(agent.roles.map((role: { id: string }) => role.id)).to.deep.equal([roleId]);
      expect(agent.description).to.equal('kept');
      expect((await send('PATCH', `/api/v1/mcp/idp-providers/${idpId}`, { audience: null })).status).to.equal(400);
      expect((await send('PATCH', `/api/v1/mcp/idp-providers/${idpId}`, { allowedAlgorithms: null })).status).to.equal(400);
    });

    it("is an explicit clear where documented: an agent's identity provider binding (idpId and subject)", async () => {
      const bound = await send('PATCH', `/api/v1/mcp/agents/${agentId}`, { idpId, subject: 'bound-subject' });
      expect(bound.status, bound.text).to.equal(200);
      expect(bound.body.data).to.deep.include({ idpId, subject: 'bound-subject' });
      const cleared = await send('PATCH', `/api/v1/mcp/agents/${agentId}`, { idpId: null, subject: null });
      expect(cleared.status, cleared.text).to.equal(200);
      expect(cleared.body.data).to.deep.include({ idpId: null, subject: null });
    });

    it('as the whole body is a 400, not a 500', async () => {
      for (const route of routes) {
        const response = await send(route.method, route.path, 'null');
        expect(response.status, `${route.method} ${route.path}: ${response.text}`).to.equal(400);
      }
    });
  });

  describe('a value of the wrong JSON type', () => {
    /** A value of another JSON type than `valid`: a number for text, text for a list or a number, a list for an object. */
    const wrongType = (valid: unknown): unknown[] => {
      if (typeof valid === 'string') return [12, true, ['x'], { a: 'x' }];
      if (typeof valid === 'number') return ['12', true, [12]];
      if (typeof valid === 'boolean') return ['true', 1];
      if (Array.isArray(valid)) return ['x', 12, { 0: 'x' }];
      return ['x', 12, ['x']];
    };

    it('is reported once, as its type only, without length or range checks (a number for a name also got "must be 1 to 200 characters")', async () => {
      for (const route of routes) {
        for (const [field, valid] of Object.entries(route.body)) {
          for (const value of wrongType(valid)) {
            const response = await send(route.method, route.path, { ...route.body, [field]: value });
            const what = `${route.method} ${route.path} ${field}: ${JSON.stringify(value)} → ${response.text}`;
            expect(response.status, what).to.equal(400);
            const mine = detailsOf(response).filter((d) => d.field === field || d.field.startsWith(`${field}.`));
            expect(mine, what).to.have.length(1);
            expect(mine[0]!.message, what).to.not.match(/characters|at most|at least|entries|longer|shorter|too long/);
          }
        }
      }
    });

    it('says which type the field takes', async () => {
      const message = async (method: string, path: string, body: unknown, field: string): Promise<string> => {
        const response = await send(method, path, body);
        expect(response.status, response.text).to.equal(400);
        return detailsOf(response).find((d) => d.field === field)!.message;
      };
      expect(await message('POST', '/api/v1/mcp/roles', { name: 12, permissions: [] }, 'name')).to.equal('Name must be a string.');
      expect(await message('POST', '/api/v1/mcp/roles', { name: 'r', permissions: 'a:b' }, 'permissions')).to.equal('Permissions must be an array.');
      expect(await message('POST', '/api/v1/mcp/roles', { name: 'r', permissions: ['a:b', 7] }, 'permissions')).to.equal('Each of the permissions must be a string.');
      expect(await message('PATCH', `/api/v1/mcp/idp-providers/${idpId}`, { clockSkewSeconds: '30' }, 'clockSkewSeconds')).to.equal('Clock skew must be a whole number.');
      expect(await message('PATCH', `/api/v1/mcp/policies/${policyId}`, { enabled: 'yes' }, 'enabled')).to.equal('enabled must be true or false.');
      expect(await message('PUT', '/api/v1/mcp/approval-webhook', { url: 12 }, 'url')).to.equal('url must be a string.');
      expect(await message('POST', '/api/v1/mcp/approvals/00000000-0000-4000-8000-000000000000/deny', { reason: 12 }, 'reason')).to.equal('reason must be a string.');
    });

    it('a missing required field is reported once', async () => {
      const response = await send('POST', '/api/v1/mcp/roles', {});
      expect(response.status).to.equal(400);
      expect(detailsOf(response)).to.deep.equal([
        { field: 'name', message: 'Enter a name.' },
        { field: 'permissions', message: 'Permissions is required (an array).' },
      ]);
    });
  });

  describe('query parameters', () => {
    /** Every admin GET route, with the query parameters it takes (and a valid value of each). */
    const getRoutes = (): [string, Record<string, string>][] => [
      ['/api/v1/mcp/roles', {}],
      [`/api/v1/mcp/roles/${roleId}`, {}],
      ['/api/v1/mcp/agents', { status: 'active' }],
      [`/api/v1/mcp/agents/${agentId}`, {}],
      [`/api/v1/mcp/agents/${agentId}/keys`, {}],
      ['/api/v1/mcp/idp-providers', {}],
      [`/api/v1/mcp/idp-providers/${idpId}`, {}],
      ['/api/v1/mcp/policies', {}],
      ['/api/v1/mcp/policies/schema', {}],
      [`/api/v1/mcp/policies/${policyId}`, {}],
      [`/api/v1/mcp/policies/${policyId}/history`, {}],
      ['/api/v1/mcp/limits', { agentId }],
      ['/api/v1/mcp/audit', { limit: '5', decision: 'admin' }],
      ['/api/v1/mcp/audit/export', { format: 'jsonl' }],
      ['/api/v1/mcp/audit/verify', { from: '2020-01-01T00:00:00Z' }],
      ['/api/v1/mcp/access-check', { agent: agentId }],
      ['/api/v1/mcp/approvals', { state: 'pending' }],
      ['/api/v1/mcp/approval-webhook', {}],
    ];
    const get = (path: string, query: string): Promise<HttpResult> => t.http('GET', `${path}${query ? `?${query}` : ''}`, { token: t.adminKey });

    it('an unknown parameter is a 400 naming it, on every admin GET route (it was ignored)', async () => {
      for (const [path, params] of getRoutes()) {
        const fine = await get(path, new URLSearchParams(params).toString());
        expect(fine.status, `${path}: ${fine.text}`).to.equal(200);
        for (const extra of ['bogus=1', 'Limit=5', 'status[]=active', '=1']) {
          const response = await get(path, [new URLSearchParams(params).toString(), extra].filter(Boolean).join('&'));
          const what = `${path}?${extra} → ${response.text}`;
          expect(response.status, what).to.equal(400);
          expect(response.body.error.code, what).to.equal('validation_failed');
          expect(detailsOf(response).map((d) => d.field), what).to.deep.equal([extra.split('=')[0]]);
        }
      }
    });

    it('a parameter given twice is a 400 naming it, even with the same value twice (the last one silently won)', async () => {
      for (const [path, params] of getRoutes()) {
        for (const [name, value] of Object.entries(params)) {
          for (const query of [`${name}=${encodeURIComponent(value)}&${name}=${encodeURIComponent(value)}`, `${name}=${encodeURIComponent(value)}&${name}=`]) {
            const response = await get(path, query);
            const what = `${path}?${query} → ${response.text}`;
            expect(response.status, what).to.equal(400);
            expect(detailsOf(response), what).to.deep.equal([{ field: name, message: `"${name}" is given 2 times: give it at most once.` }]);
          }
        }
      }
      const twice = await get('/api/v1/mcp/audit', 'limit=5&limit=6');
      expect(twice.status).to.equal(400);
      expect(detailsOf(twice).map((d) => d.field)).to.deep.equal(['limit']);
    });

    it('admin routes that change something take no query parameters either, and change nothing when given one', async () => {
      const refused = await t.http('DELETE', `/api/v1/mcp/roles/${roleId}?force=1`, { token: t.adminKey });
      expect(refused.status, refused.text).to.equal(400);
      expect(detailsOf(refused).map((d) => d.field)).to.deep.equal(['force']);
      expect((await t.http('GET', `/api/v1/mcp/roles/${roleId}`, { token: t.adminKey })).status).to.equal(200);
      const patched = await t.http('PATCH', `/api/v1/mcp/roles/${roleId}?name=other`, { token: t.adminKey, body: { description: 'changed' } });
      expect(patched.status).to.equal(400);
      expect((await t.http('GET', `/api/v1/mcp/roles/${roleId}`, { token: t.adminKey })).body.data.description).to.not.equal('changed');
    });

    it('every parameter the admin UI sends is accepted by the route it calls', async () => {
      // The audit page: its filters, page size and cursor; the export link: its filters and format.
      const filters = { agent: agentId, tool: 'tickets.read', decision: 'allowed', from: '2020-01-01T00:00:00.000Z', to: '2999-01-01T00:00:00.000Z' };
      const first = await get('/api/v1/mcp/audit', new URLSearchParams({ ...filters, limit: '1' }).toString());
      expect(first.status, first.text).to.equal(200);
      const page = await get('/api/v1/mcp/audit', new URLSearchParams({ decision: 'admin', limit: '1' }).toString());
      expect(page.body.nextCursor, page.text).to.be.a('string');
      expect((await get('/api/v1/mcp/audit', new URLSearchParams({ decision: 'admin', limit: '1', cursor: page.body.nextCursor }).toString())).status).to.equal(200);
      for (const format of ['csv', 'jsonl']) expect((await get('/api/v1/mcp/audit/export', new URLSearchParams({ ...filters, format }).toString())).status).to.equal(200);
      // The access page, the limits panel (an agent's or a role's), the integrity check.
      expect((await get('/api/v1/mcp/access-check', `agent=${agentId}`)).status).to.equal(200);
      expect((await get('/api/v1/mcp/limits', `agentId=${agentId}`)).status).to.equal(200);
      expect((await get('/api/v1/mcp/limits', `roleId=${roleId}`)).status).to.equal(200);
      expect((await get('/api/v1/mcp/audit/verify', '')).status).to.equal(200);
    });
  });

  describe('401 without a valid credential', () => {
    const unauthenticated = async (method: string, path: string, authorization?: string): Promise<Response> => {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (authorization) headers.authorization = authorization;
      return fetch(`${t.url}${path}`, { method, headers, ...(method === 'GET' || method === 'DELETE' ? {} : { body: '{}' }) });
    };

    it("challenges for an admin credential, not with the MCP endpoint's scope and resource metadata, on every admin route and at the per-tenant URLs", async () => {
      const paths: [string, string][] = [
        ...routes.map((route): [string, string] => [route.method, route.path]),
        ['GET', '/api/v1/mcp/roles'],
        ['GET', '/api/v1/mcp/audit'],
        ['GET', `/api/v1/mcp/access-check?agent=${agentId}`],
        ['DELETE', `/api/v1/mcp/roles/${roleId}`],
      ];
      for (const [method, path] of [...paths, ...paths.map(([m, p]): [string, string] => [m, `/t/${t.tenant}${p}`])]) {
        const response = await unauthenticated(method, path);
        const challenge = response.headers.get('www-authenticate') ?? '';
        expect(response.status, `${method} ${path}`).to.equal(401);
        expect(challenge, `${method} ${path}`).to.equal('Bearer realm="gatehouse", scope="admin"');
      }
    });

    it('names the error of a credential that was refused, with the admin scope', async () => {
      for (const authorization of ['Bearer ghk_notakey', 'Bearer not.a.jwt']) {
        const response = await unauthenticated('GET', `/t/${t.tenant}/api/v1/mcp/roles`, authorization);
        const challenge = response.headers.get('www-authenticate') ?? '';
        expect(response.status, authorization).to.equal(401);
        expect(challenge, authorization).to.match(/^Bearer realm="gatehouse", scope="admin", error="(invalid_token|invalid_request)", error_description="[^"]+"$/);
        expect(challenge).to.not.contain('resource_metadata');
      }
    });

    it('leaves the MCP endpoint\'s own challenge as it was', async () => {
      const response = await fetch(`${t.url}/t/${t.tenant}/api/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }) });
      expect(response.status, await response.clone().text()).to.equal(401);
      expect(response.headers.get('www-authenticate')).to.contain('resource_metadata=').and.to.contain('scope="mcp"');
    });
  });

  describe('the approval webhook setting', () => {
    it('concurrent saves each succeed and each answers the URL and secret it stored (they raced to a 500 on the unique key, or showed another save\'s URL)', async () => {
      for (let round = 0; round < 3; round++) {
        const urls = Array.from({ length: 16 }, (_, i) => `https://hook-${round}-${i}.example.com/approvals`);
        const responses = await Promise.all(urls.map((url) => send('PUT', '/api/v1/mcp/approval-webhook', { url })));
        responses.forEach((response, i) => {
          expect(response.status, response.text).to.equal(200);
          expect(response.body.data.url).to.equal(urls[i]);
          expect(response.body.data.secret).to.match(/^whsec_/);
        });
        expect(new Set(responses.map((response) => response.body.data.secret)).size).to.equal(urls.length);
        const stored = await t.knex('mcp_approval_webhooks').where({ tenant: t.tenant });
        expect(stored).to.have.length(1);
        const winner = responses.find((response) => response.body.data.url === stored[0].url);
        expect(winner, 'the stored URL is one that was saved').to.not.equal(undefined);
        expect(winner!.body.data.secret, 'and its secret is the one that save answered').to.equal(stored[0].secret);
        expect((await t.http('GET', '/api/v1/mcp/approval-webhook', { token: t.adminKey })).body.data.url).to.equal(stored[0].url);
      }
    });

    it('a URL with a user name or password is refused with a 400 on url, and nothing is stored (it was shown back in full)', async () => {
      const kept = await send('PUT', '/api/v1/mcp/approval-webhook', { url: 'https://hooks.example.com/kept' });
      expect(kept.status).to.equal(200);
      for (const url of ['https://user:secret@hooks.example.com/approvals', 'https://token@hooks.example.com/', 'https://:secret@hooks.example.com/', 'http://u%40x:p%3Aw@hooks.example.com/']) {
        const response = await send('PUT', '/api/v1/mcp/approval-webhook', { url });
        expect(response.status, `${url}: ${response.text}`).to.equal(400);
        expect(detailsOf(response), url).to.have.length(1);
        expect(detailsOf(response)[0]).to.deep.include({ field: 'url' });
        expect(detailsOf(response)[0]!.message).to.match(/must not contain a user name or password/);
        expect(response.text).to.not.contain('secret@').and.to.not.contain('token@');
      }
      expect((await t.http('GET', '/api/v1/mcp/approval-webhook', { token: t.adminKey })).body.data.url).to.equal('https://hooks.example.com/kept');
    });

    it('a URL with credentials stored earlier keeps working but is shown with them masked', async () => {
      const stored = 'https://deliver:s3cr3t-pass@hooks.example.com/approvals?x=1';
      await t.knex('mcp_approval_webhooks').where({ tenant: t.tenant }).update({ url: stored });
      const shown = await t.http('GET', '/api/v1/mcp/approval-webhook', { token: t.adminKey });
      expect(shown.body.data.url).to.equal('https://deliver:***@hooks.example.com/approvals?x=1');
      expect(shown.text).to.not.contain('s3cr3t');
      expect((await t.knex('mcp_approval_webhooks').where({ tenant: t.tenant }).first()).url, 'still stored as it was').to.equal(stored);
      await t.knex('mcp_approval_webhooks').where({ tenant: t.tenant }).update({ url: 'https://tok-en-123@hooks.example.com/' });
      const token = await t.http('GET', '/api/v1/mcp/approval-webhook', { token: t.adminKey });
      expect(token.body.data.url).to.equal('https://***@hooks.example.com/');
      // Deliveries use the URL as stored, credentials included.
      const seen: (string | undefined)[] = [];
      const receiver = createServer((request, response) => {
        seen.push(request.headers.authorization);
        request.resume();
        response.end('ok');
      });
      await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = receiver.address() as AddressInfo;
        await t.knex('mcp_approval_webhooks').where({ tenant: t.tenant }).update({ url: `http://deliver:s3cr3t@127.0.0.1:${port}/hook` });
        const tested = await t.http('POST', '/api/v1/mcp/approval-webhook/test', { token: t.adminKey });
        expect(tested.body.data, tested.text).to.deep.include({ delivered: true });
        expect(seen).to.deep.equal([`Basic ${Buffer.from('deliver:s3cr3t').toString('base64')}`]);
        expect(tested.text).to.not.contain('s3cr3t');
      } finally {
        receiver.close();
      }
    });
  });

  describe('concurrent changes', () => {
    it("concurrent PATCHes of an agent's roles each succeed, and the agent ends with one of the sets asked for (they raced to a 500 on the assignment key)", async () => {
      const roles = await Promise.all(['w', 'x', 'y', 'z'].map((name) => t.role(`concurrent-${name}`, ['tickets:read'])));
      const agent = (await t.agent({ name: 'concurrent' })).id;
      for (let round = 0; round < 3; round++) {
        const sets = Array.from({ length: 12 }, (_, i) => [roles[i % 4]!, roles[(i + 1) % 4]!].sort());
        const responses = await Promise.all(sets.map((roleIds) => send('PATCH', `/api/v1/mcp/agents/${agent}`, { roleIds })));
        responses.forEach((response, i) => {
          expect(response.status, response.text).to.equal(200);
          expect(response.body.data.roles.map((role: { id: string }) => role.id).sort()).to.deep.equal(sets[i]);
        });
        const final = (await t.http('GET', `/api/v1/mcp/agents/${agent}`, { token: t.adminKey })).body.data.roles.map((role: { id: string }) => role.id).sort();
        expect(sets.map((set) => JSON.stringify(set))).to.include(JSON.stringify(final));
      }
    });

    it('of concurrent deletes of one agent or identity provider, one answers 200 and is audited, the others 404 (each answered 200 and recorded a delete)', async () => {
      const agent = (await t.agent({ name: 'deleted-once' })).id;
      const provider = (await send('POST', '/api/v1/mcp/idp-providers', { kind: 'custom', name: 'deleted once', issuer: 'https://deleted-once.example.com' })).body.data.id;
      for (const path of [`/api/v1/mcp/agents/${agent}`, `/api/v1/mcp/idp-providers/${provider}`]) {
        const responses = await Promise.all(Array.from({ length: 10 }, () => t.http('DELETE', path, { token: t.adminKey })));
        expect(responses.map((response) => response.status).sort(), path).to.deep.equal([200, ...Array(9).fill(404)]);
      }
      await t.engine.resolve<AuditSink>(AuditSink).flush();
      for (const [action, target] of [['agents.delete', agent], ['idp-providers.delete', provider]]) {
        const events = (await t.http('GET', `/api/v1/mcp/audit?decision=admin&action=${action}&target=${target}`, { token: t.adminKey })).body.data;
        expect(events, action).to.have.length(1);
      }
    });
  });

  describe('ids written in upper case', () => {
    const upper = (id: string): string => id.toUpperCase();

    it("assign the role they name: PATCH an agent's roleIds with a role id in upper case answers 200 with the role (it was 400 \"Unknown role id\")", async () => {
      const role = await t.role('upper-case', ['tickets:read']);
      const agent = (await t.agent({ name: 'upper-case roles' })).id;
      const patched = await send('PATCH', `/api/v1/mcp/agents/${upper(agent)}`, { roleIds: [upper(role), role] });
      expect(patched.status, patched.text).to.equal(200);
      expect(patched.body.data.id).to.equal(agent);
      expect(patched.body.data.roles).to.deep.equal([{ id: role, name: 'upper-case' }]);
      expect(await t.knex('agent_roles').where({ agent_id: agent }).pluck('role_id')).to.deep.equal([role]);
      const created = await send('POST', '/api/v1/mcp/agents', { name: 'upper-case create', idpId: upper(idpId), subject: 'upper-case-subject', roleIds: [upper(role)] });
      expect(created.status, created.text).to.equal(201);
      expect(created.body.data.idpId).to.equal(idpId);
      expect(created.body.data.roles).to.deep.equal([{ id: role, name: 'upper-case' }]);
      const unknown = '00000000-0000-4000-8000-00000000ABCD';
      const refused = await send('PATCH', `/api/v1/mcp/agents/${agent}`, { roleIds: [unknown] });
      expect(refused.status, refused.text).to.equal(400);
      expect(detailsOf(refused)).to.deep.equal([{ field: 'roleIds', message: `Unknown role id(s): ${unknown.toLowerCase()}.` }]);
    });

    it('address the same object as in lower case on every route that takes an id in its path, body or query, and are answered in lower case', async () => {
      const role = await t.role('upper-case everywhere', ['tickets:read']);
      const agent = await t.agent({ name: 'upper-case everywhere', roleIds: [role] });
      const get = (path: string): Promise<HttpResult> => t.http('GET', path, { token: t.adminKey });
      for (const [path, id] of [
        [`/api/v1/mcp/agents/${upper(agent.id)}`, agent.id],
        [`/api/v1/mcp/roles/${upper(role)}`, role],
        [`/api/v1/mcp/idp-providers/${upper(idpId)}`, idpId],
        [`/api/v1/mcp/policies/${upper(policyId)}`, policyId],
      ]) {
        const response = await get(path!);
        expect(response.status, `${path}: ${response.text}`).to.equal(200);
        expect(response.body.data.id, path).to.equal(id);
      }
      expect((await get(`/api/v1/mcp/policies/${upper(policyId)}/history`)).status).to.equal(200);
      expect((await get(`/api/v1/mcp/agents/${upper(agent.id)}/keys`)).body.data.map((key: { id: string }) => key.id)).to.deep.equal([agent.keyId]);
      // The limits an agent's or a role's panel lists (they listed none: the filter compared the ids as given).
      const mine = await send('POST', '/api/v1/mcp/limits', { scope: 'agent', agentId: upper(agent.id), window: 'day', max: 7 });
      expect(mine.status, mine.text).to.equal(201);
      expect(mine.body.data.agentId).to.equal(agent.id);
      const theirs = await send('POST', '/api/v1/mcp/limits', { scope: 'role', roleId: upper(role), window: 'day', max: 8 });
      expect(theirs.status, theirs.text).to.equal(201);
      expect(theirs.body.data.roleId).to.equal(role);
      for (const [parameter, id, limitId] of [['agentId', agent.id, mine.body.data.id], ['roleId', role, theirs.body.data.id]]) {
        const lower = (await get(`/api/v1/mcp/limits?${parameter}=${id}`)).body.data;
        expect(lower.map((limit: { id: string }) => limit.id), parameter).to.include(limitId);
        const upperCase = await get(`/api/v1/mcp/limits?${parameter}=${upper(id!)}`);
        expect(upperCase.status, upperCase.text).to.equal(200);
        expect(upperCase.body.data, parameter).to.deep.equal(lower);
      }
      const patchedLimit = await send('PATCH', `/api/v1/mcp/limits/${upper(mine.body.data.id)}`, { max: 9 });
      expect(patchedLimit.status, patchedLimit.text).to.equal(200);
      expect(patchedLimit.body.data).to.deep.include({ id: mine.body.data.id, max: 9 });
      // The access page and the simulator.
      const access = await get(`/api/v1/mcp/access-check?agent=${upper(agent.id)}`);
      expect(access.status, access.text).to.equal(200);
      expect(access.text).to.contain(agent.id).and.to.not.contain(upper(agent.id));
      const simulated = await send('POST', '/api/v1/mcp/access-check/simulate', { agent: upper(agent.id), tool: 'tickets.read', arguments: { id: '1' } });
      expect(simulated.status, simulated.text).to.equal(200);
      // The audit trail of one agent.
      await t.engine.resolve<AuditSink>(AuditSink).flush();
      const trail = (await get(`/api/v1/mcp/audit?agent=${agent.id}`)).body.data;
      expect((await get(`/api/v1/mcp/audit?agent=${upper(agent.id)}`)).body.data).to.deep.equal(trail);
      // And the trail of changes to one object, whose id is the target.
      const changes = (await get(`/api/v1/mcp/audit?decision=admin&target=${role}`)).body.data;
      expect(changes.map((event: { action: string }) => event.action)).to.include('roles.create');
      expect((await get(`/api/v1/mcp/audit?decision=admin&target=${upper(role)}`)).body.data).to.deep.equal(changes);
      expect((await get(`/api/v1/mcp/audit?decision=admin&tool=${upper(role)}`)).body.data).to.deep.equal(changes);
      // Changes and deletes by an upper-case id, answered with the stored id.
      const renamed = await send('PATCH', `/api/v1/mcp/roles/${upper(role)}`, { description: 'renamed by upper case' });
      expect(renamed.status, renamed.text).to.equal(200);
      expect(renamed.body.data.id).to.equal(role);
      const revoked = await t.http('DELETE', `/api/v1/mcp/agents/${upper(agent.id)}/keys/${upper(agent.keyId)}`, { token: t.adminKey });
      expect(revoked.status, revoked.text).to.equal(200);
      expect(revoked.body.data).to.deep.equal({ id: agent.keyId, revoked: true });
      const limitGone = await t.http('DELETE', `/api/v1/mcp/limits/${upper(theirs.body.data.id)}`, { token: t.adminKey });
      expect(limitGone.body.data).to.deep.equal({ id: theirs.body.data.id, deleted: true });
      const approval = await get(`/api/v1/mcp/approvals/${upper('00000000-0000-4000-8000-00000000abcd')}`);
      expect(approval.status, 'an unknown approval in upper case is as unknown as in lower case').to.equal(404);
      const deleted = await t.http('DELETE', `/api/v1/mcp/agents/${upper(agent.id)}`, { token: t.adminKey });
      expect(deleted.body.data).to.deep.equal({ id: agent.id, deleted: true });
      const roleGone = await t.http('DELETE', `/api/v1/mcp/roles/${upper(role)}`, { token: t.adminKey });
      expect(roleGone.body.data).to.deep.equal({ id: role, deleted: true });
    });
  });

  describe('an object deleted while a change to it waits for its lock', () => {
    /**
     * Hold `lock` in a transaction of another connection, send the request, wait until it waits
     * for that transaction, run `meanwhile` in it (a delete) and commit: the request then goes on
     * against what the delete left.
     */
    async function whileLocked(lock: (trx: Knex.Transaction) => Promise<unknown>, request: () => Promise<HttpResult>, meanwhile: (trx: Knex.Transaction) => Promise<unknown>): Promise<HttpResult> {
      const trx = await t.knex.transaction();
      let pending: Promise<HttpResult> | undefined;
      try {
        await lock(trx);
        const { pid } = (await trx.raw('select pg_backend_pid() as pid')).rows[0];
        pending = request();
        const deadline = Date.now() + 20_000;
        while (Number((await t.knex.raw('select count(*) as waiting from pg_stat_activity where ? = any(pg_blocking_pids(pid))', [pid])).rows[0].waiting) === 0) {
          if (Date.now() > deadline) throw new Error('the request never waited for the lock');
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        await meanwhile(trx);
        await trx.commit();
      } catch (error) {
        await trx.rollback();
        await pending?.catch(() => undefined);
        throw error;
      }
      return pending;
    }

    const auditedChanges = async (action: string, target: string): Promise<unknown[]> => {
      await t.engine.resolve<AuditSink>(AuditSink).flush();
      return (await t.http('GET', `/api/v1/mcp/audit?decision=admin&action=${action}&target=${target}`, { token: t.adminKey })).body.data;
    };

    it("an agent deleted while its roles are being changed: the PATCH answers 404 and leaves no assignment and no audit event (it answered 200 with no roles)", async () => {
      const [kept, wanted] = await Promise.all([t.role('deleted-agent kept', ['tickets:read']), t.role('deleted-agent wanted', ['tickets:write'])]);
      // A key-share lock lets the PATCH write the agent's row and stops it at the assignment's lock
      // of that row; an update lock stops it at the write of the row, before the assignment.
      for (const lock of ['forKeyShare', 'forUpdate'] as const) {
        const agent = (await t.agent({ name: `deleted while assigned (${lock})`, roleIds: [kept] })).id;
        const response = await whileLocked(
          (trx) => trx('agents').where({ id: agent })[lock]().first('id'),
          () => send('PATCH', `/api/v1/mcp/agents/${agent}`, { roleIds: [wanted] }),
          (trx) => trx('agents').where({ id: agent }).delete(),
        );
        expect(response.status, `${lock}: ${response.text}`).to.equal(404);
        expect(response.body.error).to.deep.include({ code: 'not_found', message: 'No such agent.' });
        expect(await t.knex('agent_roles').where({ agent_id: agent })).to.deep.equal([]);
        expect(await auditedChanges('agents.update', agent)).to.deep.equal([]);
      }
    });

    it('an identity provider deleted while an agent is being bound to it: 400 on idpId as for a provider already gone, and nothing changed (it was a 500)', async () => {
      const agent = (await t.agent({ name: 'bound while deleted' })).id;
      for (const [method, path, body] of [
        ['PATCH', `/api/v1/mcp/agents/${agent}`, { subject: 'bound-while-deleted' }],
        ['POST', '/api/v1/mcp/agents', { name: 'created while deleted', subject: 'created-while-deleted' }],
      ] as const) {
        const provider = (await send('POST', '/api/v1/mcp/idp-providers', { kind: 'custom', name: `deleted ${method}`, issuer: `https://deleted-${method.toLowerCase()}.example.com` })).body.data.id;
        const response = await whileLocked(
          (trx) => trx('agent_idp_providers').where({ id: provider }).forUpdate().first('id'),
          () => send(method, path, { ...body, idpId: provider }),
          (trx) => trx('agent_idp_providers').where({ id: provider }).delete(),
        );
        expect(response.status, `${method}: ${response.text}`).to.equal(400);
        expect(detailsOf(response)).to.deep.equal([{ field: 'idpId', message: 'This identity provider no longer exists: choose another one.' }]);
      }
      expect(await t.knex('agents').where({ id: agent }).first('idp_id', 'subject')).to.deep.equal({ idp_id: null, subject: null });
      expect(await t.knex('agents').where({ tenant: t.tenant, name: 'created while deleted' })).to.deep.equal([]);
      expect(await auditedChanges('agents.update', agent)).to.deep.equal([]);
    });

    it('an agent deleted while a key is issued to it or a limit set on it: 404 for the key and 400 on agentId for the limit, and nothing stored (each was a 500)', async () => {
      const agent = (await t.agent({ name: 'deleted while keyed' })).id;
      const key = await whileLocked(
        (trx) => trx('agents').where({ id: agent }).forUpdate().first('id'),
        () => send('POST', `/api/v1/mcp/agents/${agent}/keys`, { name: 'late key' }),
        (trx) => trx('agents').where({ id: agent }).delete(),
      );
      expect(key.status, key.text).to.equal(404);
      expect(key.body.error).to.deep.include({ code: 'not_found', message: 'No such agent.' });
      expect(await t.knex('api_keys').where({ tenant: t.tenant, name: 'late key' })).to.deep.equal([]);
      const limited = (await t.agent({ name: 'deleted while limited' })).id;
      const limit = await whileLocked(
        (trx) => trx('agents').where({ id: limited }).forUpdate().first('id'),
        () => send('POST', '/api/v1/mcp/limits', { scope: 'agent', agentId: limited, window: 'hour', max: 3 }),
        (trx) => trx('agents').where({ id: limited }).delete(),
      );
      expect(limit.status, limit.text).to.equal(400);
      expect(detailsOf(limit)).to.deep.equal([{ field: 'agentId', message: 'there is no such agent' }]);
      const role = await t.role('deleted while limited', ['tickets:read']);
      const roleLimit = await whileLocked(
        (trx) => trx('roles').where({ id: role }).forUpdate().first('id'),
        () => send('POST', '/api/v1/mcp/limits', { scope: 'role', roleId: role, window: 'hour', max: 3 }),
        (trx) => trx('roles').where({ id: role }).delete(),
      );
      expect(roleLimit.status, roleLimit.text).to.equal(400);
      expect(detailsOf(roleLimit)).to.deep.equal([{ field: 'roleId', message: 'there is no such role' }]);
      expect(await t.knex('mcp_limits').where({ tenant: t.tenant }).whereIn('agent_id', [limited]).orWhere({ role_id: role })).to.deep.equal([]);
    });

    it('a role deleted while it is being assigned: 400 naming it as unknown, and the agent keeps its roles', async () => {
      const [kept, doomed] = await Promise.all([t.role('assigned kept', ['tickets:read']), t.role('assigned doomed', ['tickets:write'])]);
      const agent = (await t.agent({ name: 'assigned a deleted role', roleIds: [kept] })).id;
      const response = await whileLocked(
        (trx) => trx('roles').where({ id: doomed }).forUpdate().first('id'),
        () => send('PATCH', `/api/v1/mcp/agents/${agent}`, { roleIds: [doomed] }),
        (trx) => trx('roles').where({ id: doomed }).delete(),
      );
      expect(response.status, response.text).to.equal(400);
      expect(detailsOf(response)).to.deep.equal([{ field: 'roleIds', message: `Unknown role id(s): ${doomed}.` }]);
      expect(await t.knex('agent_roles').where({ agent_id: agent }).pluck('role_id')).to.deep.equal([kept]);
      expect(await auditedChanges('agents.update', agent)).to.deep.equal([]);
    });

    it('a role deleted while it is assigned with other changes: 400, and the other changes are not made either (the name was changed, unaudited)', async () => {
      const [kept, doomed] = await Promise.all([t.role('with fields kept', ['tickets:read']), t.role('with fields doomed', ['tickets:write'])]);
      const agent = (await t.agent({ name: 'renamed with a deleted role', roleIds: [kept] })).id;
      const response = await whileLocked(
        (trx) => trx('roles').where({ id: doomed }).forUpdate().first('id'),
        () => send('PATCH', `/api/v1/mcp/agents/${agent}`, { name: 'should not stick', description: 'nor this', roleIds: [doomed] }),
        (trx) => trx('roles').where({ id: doomed }).delete(),
      );
      expect(response.status, response.text).to.equal(400);
      expect(detailsOf(response)).to.deep.equal([{ field: 'roleIds', message: `Unknown role id(s): ${doomed}.` }]);
      const stored = await t.knex('agents').where({ id: agent }).first('name', 'description');
      expect(stored).to.deep.equal({ name: 'renamed with a deleted role', description: '' });
      expect(await t.knex('agent_roles').where({ agent_id: agent }).pluck('role_id')).to.deep.equal([kept]);
      expect(await auditedChanges('agents.update', agent)).to.deep.equal([]);
      // The same change without the deleted role goes through whole, and is audited once.
      const retried = await send('PATCH', `/api/v1/mcp/agents/${agent}`, { name: 'renamed at last', roleIds: [kept] });
      expect(retried.status, retried.text).to.equal(200);
      expect(retried.body.data).to.include({ name: 'renamed at last' });
      expect(await auditedChanges('agents.update', agent)).to.have.length(1);
    });

    it('a binding taken by another agent, sent with roles: 409 naming the holder, and neither the roles nor the other fields change', async () => {
      const [kept, wanted] = await Promise.all([t.role('binding kept', ['tickets:read']), t.role('binding wanted', ['tickets:write'])]);
      const holder = await send('POST', '/api/v1/mcp/agents', { name: 'binding holder', idpId, subject: 'taken-with-roles' });
      expect(holder.status, holder.text).to.equal(201);
      const agent = (await t.agent({ name: 'binding seeker', roleIds: [kept] })).id;
      const response = await send('PATCH', `/api/v1/mcp/agents/${agent}`, { name: 'seeker renamed', idpId, subject: 'taken-with-roles', roleIds: [wanted] });
      expect(response.status, response.text).to.equal(409);
      expect(response.body.error.message).to.include('binding holder');
      expect(await t.knex('agents').where({ id: agent }).first('name', 'subject')).to.deep.equal({ name: 'binding seeker', subject: null });
      expect(await t.knex('agent_roles').where({ agent_id: agent }).pluck('role_id')).to.deep.equal([kept]);
      expect(await auditedChanges('agents.update', agent)).to.deep.equal([]);
    });
  });

  describe('one message per field', () => {
    it('an approval webhook URL over 2,000 characters gets one message, that it is too long (it also got "must be an http or https URL")', async () => {
      const kept = await send('PUT', '/api/v1/mcp/approval-webhook', { url: 'https://hooks.example.com/kept-long' });
      expect(kept.status).to.equal(200);
      for (const length of [2001, 2100, 5000]) {
        const url = `https://hooks.example.com/${'a'.repeat(length - 'https://hooks.example.com/'.length)}`;
        const response = await send('PUT', '/api/v1/mcp/approval-webhook', { url });
        expect(response.status, `${length}`).to.equal(400);
        expect(detailsOf(response), `${length}`).to.deep.equal([{ field: 'url', message: 'url is too long: at most 2000 characters.' }]);
        expect(response.body.error.message).to.equal('Invalid request: url: url is too long: at most 2000 characters.');
      }
      expect((await t.http('GET', '/api/v1/mcp/approval-webhook', { token: t.adminKey })).body.data.url).to.equal('https://hooks.example.com/kept-long');
    });

    it("every URL field of an identity provider over 2,000 characters gets one message, and a field that fails two checks is reported once (an empty role name also got \"must not start or end with spaces\")", async () => {
      const long = `https://idp.example.com/${'a'.repeat(2100)}`;
      for (const field of ['issuer', 'jwksUri', 'realmUrl']) {
        for (const [method, path, body] of [
          ['POST', '/api/v1/mcp/idp-providers', { kind: field === 'realmUrl' ? 'keycloak' : 'custom', name: 'long', issuer: 'https://long.example.com', [field]: long }],
          ['PATCH', `/api/v1/mcp/idp-providers/${idpId}`, { [field]: long }],
        ] as const) {
          const response = await send(method, path, body);
          const what = `${method} ${field}: ${response.text.slice(0, 300)}`;
          expect(response.status, what).to.equal(400);
          expect(detailsOf(response).filter((d) => d.field === field), what).to.have.length(1);
          expect(detailsOf(response).find((d) => d.field === field)!.message, what).to.match(/too long: at most 2000 characters/);
        }
      }
      for (const name of ['', 'x'.repeat(101), ` ${'x'.repeat(100)}`]) {
        const response = await send('POST', '/api/v1/mcp/roles', { name, permissions: [] });
        expect(response.status).to.equal(400);
        expect(detailsOf(response), JSON.stringify(name)).to.have.length(1);
        expect(detailsOf(response)[0]!.message, JSON.stringify(name)).to.match(/Enter a name|too long/);
      }
    });
  });
});
