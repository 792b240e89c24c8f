/**
 * Item 2 of the hardening work: no 5xx from input on the admin API. Hostile bodies and queries
 * get a 4xx with a field error (415 for a body that is not JSON), and a property test over the
 * admin API and the audit filters checks "never 5xx, never a stored row that differs from what
 * was accepted".
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { governanceEngine, type GovernanceTestEngine, type HttpResult } from './support.js';

const fieldsOf = (response: HttpResult): string[] => (response.body?.error?.details ?? []).map((d: { field: string }) => d.field);

describe('EE admin API: hostile input never causes a 5xx', function () {
  this.timeout(180_000);
  let t: GovernanceTestEngine;
  let agentId: string;

  before(async () => {
    t = await governanceEngine();
    agentId = (await t.agent({ name: 'target' })).id;
  });
  after(async () => {
    await t?.close();
  });

  /** Send a raw body (text as given) with a JSON content type. */
  async function raw(method: string, path: string, text: string, contentType = 'application/json'): Promise<HttpResult> {
    const response = await fetch(`${t.url}${path}`, { method, headers: { authorization: `Bearer ${t.adminKey}`, 'content-type': contentType }, body: text });
    const body = await response.text();
    let parsed: any;
    try {
      parsed = JSON.parse(body);
    } catch {
      parsed = undefined;
    }
    return { status: response.status, headers: response.headers, body: parsed, text: body };
  }

  function expectFieldError(response: HttpResult, field: string, message?: RegExp): void {
    expect(response.status, response.text).to.equal(400);
    expect(response.body.error.code).to.equal('validation_failed');
    expect(fieldsOf(response), response.text).to.include(field);
    if (message) expect(response.body.error.details.find((d: { field: string }) => d.field === field).message).to.match(message);
  }

  it('answers 415 to a body that is not JSON, on every admin endpoint that reads one', async () => {
    const endpoints: [string, string][] = [
      ['POST', '/api/v1/mcp/agents'],
      ['PATCH', `/api/v1/mcp/agents/${agentId}`],
      ['POST', `/api/v1/mcp/agents/${agentId}/keys`],
      ['POST', '/api/v1/mcp/roles'],
      ['POST', '/api/v1/mcp/idp-providers'],
    ];
    for (const [method, path] of endpoints) {
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx', 'text/json']) {
        const response = await raw(method, path, '{"name":"x"}', type);
        expect(response.status, `${method} ${path} ${type}`).to.equal(415);
        expect(response.body.error).to.deep.include({ code: 'unsupported_media_type', message: 'Content-Type must be application/json.' });
      }
      const untyped = await fetch(`${t.url}${path}`, { method, headers: { authorization: `Bearer ${t.adminKey}` }, body: new Uint8Array(Buffer.from('{"name":"x"}')) });
      expect(untyped.status, `${method} ${path} without a content type`).to.equal(415);
    }
    // A JSON type with parameters, or a +json type, is JSON.
    expect((await raw('POST', '/api/v1/mcp/roles', '{"name":"typed","permissions":[]}', 'application/json; charset=utf-8')).status).to.equal(201);
  });

  it('answers 400 to a body nesting deeper than 128 levels, on every admin endpoint that reads one, and stores nothing', async () => {
    const deep = `{"name":"deep","permissions":[],"description":${'['.repeat(5_000)}${']'.repeat(5_000)}}`;
    for (const [method, path] of [['POST', '/api/v1/mcp/agents'], ['PATCH', `/api/v1/mcp/agents/${agentId}`], ['POST', '/api/v1/mcp/roles'], ['POST', '/api/v1/mcp/idp-providers'], ['POST', '/api/v1/mcp/policies']] as const) {
      const response = await raw(method, path, deep);
      expect(response.status, `${method} ${path}: ${response.text}`).to.equal(400);
      expect(response.body.error.code).to.equal('invalid_json');
      expect(response.body.error.message).to.contain('deeper than 128 levels');
    }
    const roles = await t.http('GET', '/api/v1/mcp/roles', { token: t.adminKey });
    expect((roles.body.data as { name: string }[]).map((role) => role.name)).to.not.include('deep');
  });

  it('answers 413 payload_too_large to a body over the limit, in the admin API\'s own error shape, and stores nothing', async () => {
    const huge = JSON.stringify({ name: 'huge', permissions: [], description: 'x'.repeat(2 * 1024 * 1024) });
    const response = await raw('POST', '/api/v1/mcp/roles', huge);
    expect(response.status, response.text).to.equal(413);
    expect(response.body.error.code).to.equal('payload_too_large');
    const roles = await t.http('GET', '/api/v1/mcp/roles', { token: t.adminKey });
    expect((roles.body.data as { name: string }[]).map((role) => role.name)).to.not.include('huge');
  });

  it('NUL bytes, lone surrogates and over-long strings are field errors', async () => {
    expectFieldError(await raw('POST', '/api/v1/mcp/agents', '{"name":"a\\u0000b"}'), 'name', /NUL/);
    expectFieldError(await raw('POST', '/api/v1/mcp/agents', '{"name":"a\\ud800b"}'), 'name', /lone surrogate/);
    expectFieldError(await raw('POST', '/api/v1/mcp/agents', '{"name":"ok","description":"\\udc00"}'), 'description', /lone surrogate/);
    expectFieldError(await raw('POST', '/api/v1/mcp/roles', '{"name":"r","permissions":["a:b","c\\u0000"]}'), 'permissions.1', /NUL/);
    expectFieldError(await raw('POST', '/api/v1/mcp/agents', JSON.stringify({ name: 'x'.repeat(20_000) })), 'name', /at most 10000 characters/);
    expectFieldError(await raw('POST', '/api/v1/mcp/idp-providers', JSON.stringify({ kind: 'custom', name: 'x', issuer: `https://x.example/${'a'.repeat(5_000)}` })), 'issuer');
    expectFieldError(await raw('POST', `/api/v1/mcp/agents/${agentId}/keys`, '{"name":"k\\u0000"}'), 'name', /NUL/);
  });

  it('numbers out of range are field errors', async () => {
    for (const number of ['1e400', '-1e400', '12345678901234567890', '1e20', '-0.5', '3.5']) {
      const response = await raw('POST', '/api/v1/mcp/idp-providers', `{"kind":"custom","name":"n","issuer":"https://n.example.com","clockSkewSeconds":${number}}`);
      expectFieldError(response, 'clockSkewSeconds');
    }
  });

  it('__proto__, constructor and prototype keys are field errors and pollute nothing', async () => {
    expectFieldError(await raw('POST', '/api/v1/mcp/agents', '{"name":"p","__proto__":{"admin":true}}'), '__proto__', /not an allowed field name/);
    expectFieldError(await raw('POST', '/api/v1/mcp/agents', '{"name":"p","constructor":{"prototype":{"admin":true}}}'), 'constructor');
    expectFieldError(await raw('PATCH', `/api/v1/mcp/agents/${agentId}`, '{"description":{"__proto__":{"x":1}}}'), 'description.__proto__');
    expectFieldError(await raw('POST', '/api/v1/mcp/roles', '{"name":"r","permissions":[{"__proto__":null}]}'), 'permissions.0.__proto__');
    const audit = await t.http('GET', '/api/v1/mcp/audit?__proto__=x', { token: t.adminKey });
    expectFieldError(audit, '__proto__');
    expect(({} as Record<string, unknown>).admin).to.equal(undefined);
    expect(({} as Record<string, unknown>).x).to.equal(undefined);
  });

  it('dates outside the representable range are field errors', async () => {
    for (const expiresAt of ['+275760-09-13T00:00:00.000Z', '+010000-01-01T00:00:00Z', '0000-12-31T23:59:59Z', '-000001-01-01T00:00:00Z']) {
      const response = await raw('POST', `/api/v1/mcp/agents/${agentId}/keys`, JSON.stringify({ name: 'k', expiresAt }));
      expectFieldError(response, 'expiresAt');
    }
    for (const query of ['from=%2B275760-09-13T00:00:00.000Z', 'to=%2B010000-01-01T00:00:00Z', 'from=0000-01-01T00:00:00Z']) {
      const response = await t.http('GET', `/api/v1/mcp/audit?${query}`, { token: t.adminKey });
      expectFieldError(response, query.split('=')[0]!);
    }
  });

  it('dates at the edges of the range are taken, in every year from 0001 (the years 0001-0099 were refused as "not ISO 8601"); dates that do not exist are field errors', async () => {
    for (const path of ['/api/v1/mcp/audit', '/api/v1/mcp/audit/verify']) {
      const edges = await t.http('GET', `${path}?from=0001-01-01T00:00:00Z&to=9999-12-31T23:59:59Z`, { token: t.adminKey });
      expect(edges.status, `${path}: ${edges.text}`).to.equal(200);
      const early = await t.http('GET', `${path}?from=0099-06-30T12:00:00Z`, { token: t.adminKey });
      expect(early.status, `${path}: ${early.text}`).to.equal(200);
      for (const from of ['2026-02-31T00:00:00Z', '0099-02-29T00:00:00Z', '2026-13-01T00:00:00Z']) {
        expectFieldError(await t.http('GET', `${path}?from=${from}`, { token: t.adminKey }), 'from', /ISO 8601/);
      }
    }
    expectFieldError(await raw('POST', `/api/v1/mcp/agents/${agentId}/keys`, JSON.stringify({ name: 'k', expiresAt: '2027-02-29T00:00:00Z' })), 'expiresAt');
  });

  it('malformed and forged cursors are field errors', async () => {
    const forge = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const cursors = [
      'not-a-cursor',
      '%00',
      forge(['2024-01-01T00:00:00.000Z', '99999999999999999999']),
      forge(['2024-01-01T00:00:00.000Z', '9223372036854775808']),
      forge(['+275760-09-13T00:00:00.000Z', '1']),
      forge(['0000-01-01T00:00:00.000Z', '1']),
      forge(['2024-01-01T00:00:00.000Z', -1]),
      forge({ occurredAt: '2024-01-01', id: '1' }),
      forge(['2024-01-01T00:00:00.000Z', '1', 'extra']),
      Buffer.from('["2024-01-01T00:00:00.000Z","1"').toString('base64url'),
      'A'.repeat(300),
    ];
    for (const cursor of cursors) {
      const response = await t.http('GET', `/api/v1/mcp/audit?cursor=${encodeURIComponent(cursor)}`, { token: t.adminKey });
      expectFieldError(response, 'cursor');
    }
    for (const limit of ['1e400', '-1', '0', '501', '99999999999999999999', 'NaN', '1.5']) {
      expectFieldError(await t.http('GET', `/api/v1/mcp/audit?limit=${limit}`, { token: t.adminKey }), 'limit');
    }
  });

  describe('property: never 5xx, never a stored row that differs from what was accepted', () => {
    // Any text, including NUL, lone surrogates and astral characters.
    const text = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.string({ unit: fc.constantFrom('\u0000', '\ud800', '\udfff', 'a', ' ', '"', '\\', '\u2028', '😀', '%', '_', '*', ':'), maxLength: 20 }),
      fc.string({ minLength: 1, maxLength: 12 }),
    );
    const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
      text,
      fc.double(),
      fc.integer(),
      fc.constantFrom(null, true, false, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 2 ** 31, -(2 ** 31) - 1),
      fc.array(text, { maxLength: 4 }),
      fc.dictionary(fc.constantFrom('__proto__', 'constructor', 'prototype', 'a', 'name'), text, { maxKeys: 3 }),
    );
    const bodyOf = (fields: readonly string[]) =>
      fc.record(Object.fromEntries(fields.map((field) => [field, fc.oneof(text, hostileValue)])) as Record<string, fc.Arbitrary<unknown>>, { requiredKeys: [] });

    /** JSON text of `value` that keeps lone surrogates and special keys exactly as generated. */
    const jsonText = (value: unknown): string => JSON.stringify(value, (_key, item) => (typeof item === 'number' && !Number.isFinite(item) ? 1e400 : item)).replace(/1e\+400/g, '1e400');

    it('agents: create and read back', async () => {
      await fc.assert(
        fc.asyncProperty(bodyOf(['name', 'description', 'subject', 'idpId', 'roleIds', '__proto__']), async (body) => {
          const response = await raw('POST', '/api/v1/mcp/agents', jsonText(body));
          expect(response.status, `${jsonText(body)} → ${response.text}`).to.be.below(500);
          if (response.status === 201) {
            const stored = await t.http('GET', `/api/v1/mcp/agents/${response.body.data.id}`, { token: t.adminKey });
            expect(stored.body.data.name).to.equal(body.name);
            expect(stored.body.data.description ?? undefined).to.equal(body.description ?? undefined);
          } else {
            expect(response.body.error.code).to.be.a('string');
          }
        }),
        { numRuns: 60 },
      );
    });

    it('roles: create and read back', async () => {
      await fc.assert(
        fc.asyncProperty(bodyOf(['name', 'description', 'permissions']), async (body) => {
          const response = await raw('POST', '/api/v1/mcp/roles', jsonText(body));
          expect(response.status, `${jsonText(body)} → ${response.text}`).to.be.below(500);
          if (response.status === 201) {
            const list = await t.http('GET', '/api/v1/mcp/roles', { token: t.adminKey });
            const stored = list.body.data.find((role: { id: string }) => role.id === response.body.data.id);
            expect(stored.name).to.equal(body.name);
            expect(stored.permissions).to.deep.equal(body.permissions);
            // A role created without a description has the empty one.
            expect(stored.description).to.equal(body.description ?? '');
          }
        }),
        { numRuns: 60 },
      );
    });

    it('identity providers: create never 5xx', async () => {
      await fc.assert(
        fc.asyncProperty(bodyOf(['kind', 'name', 'issuer', 'audience', 'clockSkewSeconds', 'subjectClaim', 'allowedAlgorithms', 'directoryId', 'realmUrl']), async (body) => {
          const response = await raw('POST', '/api/v1/mcp/idp-providers', jsonText(body));
          expect(response.status, `${jsonText(body)} → ${response.text}`).to.be.below(500);
        }),
        { numRuns: 60 },
      );
    });

    it('audit filters: list and export never 5xx', async () => {
      const query = fc.dictionary(fc.constantFrom('agent', 'tool', 'target', 'action', 'decision', 'outcome', 'from', 'to', 'limit', 'cursor', '__proto__', 'format'), fc.oneof(text, fc.date({ noInvalidDate: false }).map((date) => (Number.isNaN(date.getTime()) ? 'Invalid Date' : date.toISOString()))), { maxKeys: 4 });
      await fc.assert(
        fc.asyncProperty(query, fc.boolean(), async (params, exporting) => {
          const search = new URLSearchParams(Object.entries(params));
          if (exporting) search.set('format', 'jsonl');
          const response = await t.http('GET', `/api/v1/mcp/audit${exporting ? '/export' : ''}?${search}`, { token: t.adminKey });
          expect(response.status, `${search} → ${response.text}`).to.be.below(500);
        }),
        { numRuns: 80 },
      );
    });
  });
});
