import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { startUiEngine, type UiEngine } from '../ui/support.js';

/** The admin UI's HTTP-level guarantees: checked with plain requests, so they run with or without a browser. */
describe('EE admin UI over HTTP (no browser needed): headers, cookies, CSRF and asset paths', function () {
  this.timeout(60_000);
  let t: UiEngine;
  before(async () => {
    t = await startUiEngine();
  });
  after(() => t?.close());

  async function signIn(): Promise<{ cookie: string; session: string; csrfToken: string }> {
    const response = await fetch(`${t.url}/admin/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiKey: t.adminKey }) });
    expect(response.status).to.equal(200);
    const cookie = response.headers.get('set-cookie') ?? '';
    const body = (await response.json()) as { data: { csrfToken: string } };
    return { cookie, session: /^gatehouse_admin=([^;]+)/.exec(cookie)![1]!, csrfToken: body.data.csrfToken };
  }

  it('serves the page and its assets with a strict CSP, no framing, nosniff and no referrer', async () => {
    const response = await fetch(t.adminUrl);
    expect(response.status).to.equal(200);
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).to.include("script-src 'self'");
    expect(csp).to.include("style-src 'self'");
    expect(csp).to.include("frame-ancestors 'none'");
    expect(csp).to.not.include('unsafe-inline');
    expect(response.headers.get('x-content-type-options')).to.equal('nosniff');
    expect(response.headers.get('referrer-policy')).to.equal('no-referrer');
    const html = await response.text();
    expect(html).to.not.match(/<script>|<style|\sstyle=|\son\w+=/i);
    const script = /src="([^"]+\.js)"/.exec(html)?.[1];
    const asset = await fetch(new URL(script!, t.url));
    expect(asset.status).to.equal(200);
    expect(asset.headers.get('content-type')).to.match(/^text\/javascript/);
    expect(asset.headers.get('cache-control')).to.include('immutable');
  });

  it('admits styles only with a nonce that is new on every page load and carried by the stylesheet link', async () => {
    const nonces: string[] = [];
    for (let i = 0; i < 2; i++) {
      const response = await fetch(t.adminUrl);
      const csp = response.headers.get('content-security-policy') ?? '';
      const nonce = /style-src 'self' 'nonce-([A-Za-z0-9+/=]{24,})'/.exec(csp)?.[1];
      expect(nonce, csp).to.be.a('string');
      expect(csp).to.not.include('unsafe-inline');
      // Scripts get no nonce: only files from the page's origin run.
      expect(/script-src ([^;]*)/.exec(csp)?.[1]).to.equal("'self'");
      expect(await response.text()).to.include(`<link rel="stylesheet" nonce="${nonce}"`);
      nonces.push(nonce!);
    }
    expect(nonces[0]).to.not.equal(nonces[1]);
    // Assets (and every other answer) keep the plain policy.
    const html = await (await fetch(t.adminUrl)).text();
    const asset = await fetch(new URL(/href="([^"]+\.css)"/.exec(html)![1]!, t.url));
    expect(asset.headers.get('content-security-policy')).to.include("style-src 'self';");
  });

  it('serves the code-split chunks of the policy editor, and only the files the build listed', async () => {
    const manifest = JSON.parse(readFileSync(join(process.cwd(), 'dist-ui', 'admin', 'manifest.json'), 'utf8')) as { js: string; files: string[] };
    const chunks = manifest.files.filter((file) => file.startsWith('chunk-'));
    expect(chunks.length).to.be.greaterThan(0);
    const entry = await (await fetch(`${t.adminUrl}/assets/${manifest.js}`)).text();
    for (const chunk of chunks) {
      const response = await fetch(`${t.adminUrl}/assets/${chunk}`);
      expect(response.status, chunk).to.equal(200);
      expect(response.headers.get('content-type')).to.match(/^text\/javascript/);
    }
    // The entry imports its chunks by relative name, so they load from the same asset folder.
    expect(chunks.some((chunk) => entry.includes(`./${chunk}`))).to.equal(true);
  });

  it('refuses asset paths that climb out of the asset folder or name unknown files (404, no file content)', async () => {
    for (const path of ['/assets/..%2Fmanifest.json', '/assets/%2e%2e/%2e%2e/package.json', '/assets/..%5c..%5cpackage.json', '/assets/other.js']) {
      const response = await fetch(`${t.adminUrl}${path}`);
      expect(response.status, path).to.equal(404);
      const text = await response.text();
      expect(text, path).to.not.include('"name"');
      expect(text, path).to.not.include('@gatehouse-mcp');
    }
  });

  it('signs in to an HttpOnly, SameSite=Strict cookie without Secure on plain http, never echoing the key', async () => {
    const response = await fetch(`${t.url}/admin/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiKey: t.adminKey }) });
    const cookie = response.headers.get('set-cookie') ?? '';
    expect(cookie).to.match(/^gatehouse_admin=[\w-]{30,};/);
    expect(cookie).to.include('HttpOnly');
    expect(cookie).to.include('SameSite=Strict');
    expect(cookie).to.match(/Max-Age=\d+/);
    expect(cookie).to.not.include('Secure');
    expect(response.headers.get('cache-control')).to.equal('no-store');
    expect(await response.text()).to.not.include(t.adminKey);
  });

  it('a change made with the session cookie but without the CSRF token is 403 saying which header is missing; with it, it is made', async () => {
    const { session, csrfToken } = await signIn();
    const role = JSON.stringify({ name: 'http-only role', permissions: ['tickets:read'] });
    const without = await fetch(`${t.url}/api/v1/mcp/roles`, { method: 'POST', headers: { cookie: `gatehouse_admin=${session}`, 'content-type': 'application/json' }, body: role });
    expect(without.status).to.equal(403);
    const body = (await without.json()) as { error: { code: string; message: string } };
    expect(body.error.message).to.include('X-CSRF-Token');
    const guessed = await fetch(`${t.url}/api/v1/mcp/roles`, { method: 'POST', headers: { cookie: `gatehouse_admin=${session}`, 'content-type': 'application/json', 'x-csrf-token': 'guessed' }, body: role });
    expect(guessed.status).to.equal(403);
    const made = await fetch(`${t.url}/api/v1/mcp/roles`, { method: 'POST', headers: { cookie: `gatehouse_admin=${session}`, 'content-type': 'application/json', 'x-csrf-token': csrfToken }, body: role });
    expect(made.status).to.equal(201);
  });

  it('signing out ends the session: the old cookie no longer opens the admin API (401)', async () => {
    const { session, csrfToken } = await signIn();
    expect((await fetch(`${t.url}/api/v1/mcp/roles`, { headers: { cookie: `gatehouse_admin=${session}` } })).status).to.equal(200);
    const out = await fetch(`${t.url}/admin/session`, { method: 'DELETE', headers: { cookie: `gatehouse_admin=${session}`, 'x-csrf-token': csrfToken } });
    expect(out.status).to.equal(200);
    expect(out.headers.get('set-cookie')).to.match(/^gatehouse_admin=;.*Max-Age=0/);
    expect((await fetch(`${t.url}/api/v1/mcp/roles`, { headers: { cookie: `gatehouse_admin=${session}` } })).status).to.equal(401);
  });
});
