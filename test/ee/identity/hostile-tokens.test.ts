/**
 * Tokens built by hand to attack the token path: header and claim values of the wrong type, and
 * header parameters that a verifier must not follow. Each is refused with the reason that is
 * actually wrong (docs/security.md, "Access-token profile").
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { expect } from 'chai';
import { uniqueTenant } from '@gatehouse-mcp/engine/testing';
import { JwksCache, UnusableKeyError } from '@gatehouse-mcp/engine/ee';
import { startIdentityEngine, mcpPost, bearer, type IdentityEngine } from '../support/identity-engine.js';
import { RecordingLogger } from '../../support/recording-logger.js';

const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An ES256 key whose public half the local JWKS publishes as `kid: k1`. */
const signing = generateKeyPairSync('ec', { namedCurve: 'P-256' });
/** A key nobody trusts, which the attacker publishes at a URL of its own and embeds in headers. */
const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const attackerJwk = { ...(attacker.publicKey.export({ format: 'jwk' }) as Record<string, unknown>), kid: 'k1', alg: 'ES256', use: 'sig' };
const publicJwk = { ...(signing.publicKey.export({ format: 'jwk' }) as Record<string, unknown>), kid: 'k1', alg: 'ES256', use: 'sig' };

/** Sign any header and payload, however wrong, with the published key. */
function sign(header: Record<string, unknown>, payload: Record<string, unknown>, key = signing.privateKey): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  const signature = cryptoSign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

describe('EE identity: hostile tokens', function () {
  this.timeout(60_000);
  const issuer = 'https://hostile.idp.example.com';
  let t: IdentityEngine;
  let server: http.Server;
  let jwks: unknown;
  let jwksRequests = 0;
  let attackerRequests = 0;
  let url: string;
  let brokenUrl: string;
  let brokenTenant: string;
  const logger = new RecordingLogger();
  const brokenIssuer = 'https://broken.idp.example.com';

  before(async () => {
    jwks = { keys: [publicJwk] };
    server = http.createServer((req, res) => {
      if (req.url!.startsWith('/attacker')) {
        attackerRequests++;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [attackerJwk] }));
        return;
      }
      jwksRequests++;
      // The same kid, with an x coordinate that is not a point of P-256.
      const body = req.url === '/broken' ? { keys: [{ ...publicJwk, x: 'AAAA' }] } : jwks;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t = await startIdentityEngine({ jwksRefetchCooldownMs: 60_000, logger });
    const tenant = uniqueTenant('hostile');
    const idp = await t.idps.create(tenant, { kind: 'custom', name: 'Hostile', issuer, jwksUri: `http://127.0.0.1:${(server.address() as AddressInfo).port}/keys` });
    await t.agents.create(tenant, { name: 'bot', idpId: idp.id, subject: 'bot' });
    url = t.engine.mcpUrl(tenant);
    brokenTenant = uniqueTenant('hostile');
    const broken = await t.idps.create(brokenTenant, { kind: 'custom', name: 'Broken', issuer: brokenIssuer, jwksUri: `http://127.0.0.1:${(server.address() as AddressInfo).port}/broken` });
    await t.agents.create(brokenTenant, { name: 'bot', idpId: broken.id, subject: 'bot' });
    brokenUrl = t.engine.mcpUrl(brokenTenant);
  });
  after(async () => {
    await t?.close();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  const now = (): number => Math.floor(Date.now() / 1000);
  const header = (extra: Record<string, unknown> = {}) => ({ alg: 'ES256', kid: 'k1', typ: 'at+jwt', ...extra });
  const claims = (extra: Record<string, unknown> = {}) => ({ iss: issuer, aud: url, sub: 'bot', iat: now(), exp: now() + 300, ...extra });

  async function refused(token: string, description: string): Promise<void> {
    const response = await mcpPost(url, bearer(token));
    expect(response.status, JSON.stringify(response.body)).to.equal(401);
    expect(response.body.error).to.equal('invalid_token');
    expect(response.body.error_description).to.equal(description);
  }

  it('the hand-signed token itself is accepted (control)', async () => {
    const response = await mcpPost(url, bearer(sign(header(), claims())));
    expect(response.status, JSON.stringify(response.body)).to.equal(200);
  });

  it('an nbf that is not a number was refused as "not valid yet": it is refused as not a number', async () => {
    for (const nbf of [String(now() - 60), null, [now() - 60], { at: now() - 60 }]) {
      await refused(sign(header(), claims({ nbf })), 'The token\'s not-before time (nbf) must be a number.');
    }
    await refused(sign(header(), claims({ nbf: now() + 3600 })), 'The token is not valid yet (nbf).');
  });

  it('a missing or non-string alg was refused as signed with "undefined" or "256": it names the header', async () => {
    await refused(sign(header({ alg: undefined }), claims()), 'The token has no algorithm (alg) header.');
    for (const alg of [256, null, ['ES256'], { name: 'ES256' }]) {
      await refused(sign(header({ alg }), claims()), 'The token\'s algorithm (alg) header must be a string.');
    }
  });

  it('"None" and "NONE" were refused only by the allow-list, after the key lookup: every spelling of none is refused at once', async () => {
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      await refused(sign(header({ alg }), claims()), `Tokens signed with "${alg}" are never accepted.`);
    }
  });

  it('a crit header naming an unknown extension was refused as "an unsupported algorithm or key": it names the extension, and no key is fetched for it', async () => {
    const before = jwksRequests;
    await refused(sign(header({ crit: ['exp-policy'], 'exp-policy': 1 }), claims()), 'The token requires header extensions this server does not support (crit: ["exp-policy"]).');
    await refused(sign(header({ crit: ['b64'], b64: false }), claims()), 'The token requires header extensions this server does not support (crit: ["b64"]).');
    for (const crit of ['exp-policy', [], [1], null]) {
      await refused(sign(header({ crit }), claims()), 'The token\'s critical-extensions (crit) header must be a non-empty array of names.');
    }
    expect(jwksRequests).to.equal(before);
  });

  it('a kid that is not a string was refused as an unknown key id: it is refused as not a string', async () => {
    for (const kid of [1, null, ['k1'], { id: 'k1' }, true]) {
      await refused(sign(header({ kid }), claims()), 'The token\'s key id (kid) header must be a string.');
    }
    // A string kid, however odd, is only looked up, never used as a path or query.
    for (const kid of ['../../../etc/passwd', "k1' OR '1'='1", 'k'.repeat(10_240)]) {
      await refused(sign(header({ kid }), claims()), 'The token is signed with an unknown key id (kid).');
    }
  });

  it('a published key that cannot be imported answered "could not be verified" and logged nothing: it names the IdP\'s fault and logs it', async () => {
    const token = sign(header(), { ...claims(), iss: brokenIssuer, aud: brokenUrl });
    const before = logger.lines.length;
    const response = await mcpPost(brokenUrl, bearer(token));
    expect(response.status, JSON.stringify(response.body)).to.equal(401);
    expect(response.body.error).to.equal('invalid_token');
    expect(response.body.error_description).to.equal('The identity provider publishes a signing key for this token that cannot be used.');
    const warned = logger.lines.slice(before).filter((line) => line.level === 'warn');
    expect(warned.map((line) => line.message)).to.include('identity provider publishes an unusable key');
    expect(warned.map((line) => line.json).join('\n')).to.include('/broken publishes a key').and.include('k1');
    // Other tenants' tokens are unaffected.
    expect((await mcpPost(url, bearer(sign(header(), claims({ jti: 'after-broken' }))))).status).to.equal(200);
  });

  it('the unusable published key is an UnusableKeyError, exported from the EE entry for hosts resolving keys themselves', async () => {
    const [provider] = await t.idps.list(brokenTenant);
    const getKey = await t.engine.resolve(JwksCache).keysFor(provider!);
    const token = sign(header(), { ...claims(), iss: brokenIssuer, aud: brokenUrl });
    const [protectedHeader, payload, signature] = token.split('.');
    const thrown = await Promise.resolve(getKey({ alg: 'ES256', kid: 'k1' }, { protected: protectedHeader!, payload: payload!, signature: signature! })).then(
      () => expect.fail('an unusable key was resolved'),
      (error: unknown) => error,
    );
    expect(thrown).to.be.instanceOf(UnusableKeyError);
    expect((thrown as Error).name).to.equal('UnusableKeyError');
  });

  it('no log line holds a token or its signature, whatever was refused', async () => {
    const token = sign(header({ kid: 'logged?' }), claims({ jti: 'needle-in-the-logs' }));
    await refused(token, 'The token is signed with an unknown key id (kid).');
    const all = logger.lines.map((line) => line.json).join('\n');
    expect(all).not.to.include('needle-in-the-logs');
    expect(all).not.to.include(token.split('.')[1]!.slice(0, 40));
    expect(all).not.to.include(token.split('.')[2]!);
  });

  it('jku, x5u, jwk and x5c headers are never followed nor used: an attacker-signed token naming its own key is refused, and its URL never fetched', async () => {
    const attackerUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/attacker/keys`;
    const { kid: _kid, ...embedded } = attackerJwk;
    const headers = [{ jku: attackerUrl }, { x5u: attackerUrl }, { jwk: embedded }, { jwk: embedded, kid: undefined }, { x5c: ['MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA'] }, { jku: attackerUrl, kid: undefined }];
    for (const extra of headers) {
      await refused(sign(header(extra), claims(), attacker.privateKey), 'The token\'s signature is invalid.');
    }
    expect(attackerRequests).to.equal(0);
    // The same headers on a token the IdP signed change nothing: they are ignored.
    const response = await mcpPost(url, bearer(sign(header({ jku: attackerUrl, jwk: embedded }), claims())));
    expect(response.status, JSON.stringify(response.body)).to.equal(200);
    expect(attackerRequests).to.equal(0);
  });

  it('a 1 MB token is answered 431 at once, never read into the token path', async () => {
    const token = sign(header(), claims({ pad: 'x'.repeat(1024 * 1024) }));
    const started = Date.now();
    const response = await mcpPost(url, bearer(token));
    expect(response.status).to.equal(431);
    expect(Date.now() - started).to.be.below(2_000);
    expect(JSON.stringify(response.body)).not.to.include(token.slice(0, 60));
  });
});
