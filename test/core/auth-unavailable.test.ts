/**
 * An authenticator that cannot check a credential because a service it depends on is down (an
 * identity provider) had only a 401 to answer with, which tells the caller its credential is bad.
 * The port now says "unavailable, retry after N s": the engine answers 503 with that
 * `Retry-After`, audits the refusal like any other, and leaves the logging of the outage to the
 * authenticator (no line per request).
 */
import { expect } from 'chai';
import { AuditSink, Authenticator, PinoLogger, Policy, definePlugin, type AuthRequest, type AuthResult } from '@gatehouse-mcp/engine';
import { AllowAllPolicy } from '@gatehouse-mcp/engine/oss';
import { RecordingAuditSink, createTestEngine, testPrincipal, type TestEngine } from '@gatehouse-mcp/engine/testing';

const DOWN = 'The service that checks credentials cannot be reached; try again later.';

/** `ok` passes; `down` cannot be checked for 17 s; anything else is refused. */
class OutageAuthenticator implements Authenticator {
  authenticate(request: AuthRequest): AuthResult {
    const token = /^Bearer (\S+)$/.exec(request.header('authorization') ?? '')?.[1];
    if (token === 'ok') return { ok: true, principal: testPrincipal({ tenant: request.tenantHint ?? 'default' }) };
    if (token === 'down') return { ok: false, description: DOWN, unavailable: { retryAfterSeconds: 17 }, tenant: request.tenantHint };
    return { ok: false, error: 'invalid_token', description: 'Unknown token.', tenant: request.tenantHint };
  }
  challenge(): Record<string, string> {
    return {};
  }
}

describe('an authenticator whose dependency is down', function () {
  this.timeout(60_000);
  const audit = new RecordingAuditSink();
  const lines: Record<string, unknown>[] = [];
  let t: TestEngine;

  before(async () => {
    const edition = definePlugin({
      id: 'outage-auth',
      register({ bind }) {
        bind(Authenticator).toConstantValue(new OutageAuthenticator());
        bind(Policy).to(AllowAllPolicy);
        bind(AuditSink).toConstantValue(audit);
      },
    });
    const logger = new PinoLogger('debug', { write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    t = await createTestEngine({ connect: false, logger, plugins: [edition] });
  });
  after(async () => {
    await t?.close();
  });

  const post = (token: string) =>
    fetch(`${t.url}/t/acme/api/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
    });

  it('a credential that could not be checked could only be answered 401: it is a 503 with the Retry-After the authenticator gives, audited, and not logged per request', async () => {
    const before = { events: audit.events.length, lines: lines.length };
    const response = await post('down');
    expect(response.status).to.equal(503);
    expect(response.headers.get('retry-after')).to.equal('17');
    expect(response.headers.get('www-authenticate'), 'no challenge: the credential is not known to be bad').to.equal(null);
    expect(await response.json()).to.deep.equal({ error: { code: 'unavailable', message: DOWN } });
    const events = audit.events.slice(before.events);
    expect(events).to.have.length(1);
    expect(events[0]).to.include({ tenant: 'acme', decision: 'auth-failed', outcome: 'refused', reason: DOWN });
    expect(lines.slice(before.lines).filter((line) => line.msg === 'request refused: dependency unavailable')).to.deep.equal([]);
  });

  it('a bad credential is still a 401, and a good one passes', async () => {
    const refused = await post('nope');
    expect(refused.status).to.equal(401);
    expect(refused.headers.get('www-authenticate')).to.include('error="invalid_token"');
    expect(refused.headers.get('retry-after')).to.equal(null);
    expect((await post('ok')).status).to.equal(200);
  });
});
