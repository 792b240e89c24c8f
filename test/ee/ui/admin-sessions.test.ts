import { expect } from 'chai';
import type { Browser } from 'playwright-core';
import { enterpriseEdition } from '@gatehouse-mcp/engine/ee';
import { createTestEngine, testPrincipal, uniqueTenant, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { ApiKeyStore, BackgroundWork, ChangeFeed, Database, Logger, type EngineConfig, type RouteRequest } from '@gatehouse-mcp/engine';
import { AdminSessions, KEY_RECHECK_MS, SESSION_IDLE_MS, SESSION_LIFETIME_MS } from '../../../src/plugins/ee/admin-ui/admin-sessions.js';
import { buildUi } from '../../../src/plugins/ee/admin-ui/build-ui.js';
import { goTo, launchChromium, openPage, ticketTools, skipWithoutChromium } from './support.js';

const config = (publicUrl: string, basePath: string) => ({ publicUrl, basePath }) as EngineConfig;
const request = (method: string, headers: Record<string, string>): RouteRequest =>
  ({ method, tenantHint: undefined, header: (name: string) => headers[name.toLowerCase()] }) as unknown as RouteRequest;

describe('EE admin UI: browser sessions, stored in the database', function () {
  let t: TestEngine;
  /** Admin sessions of the engine's database, with this public URL and base path. */
  const adminSessions = (publicUrl = 'http://127.0.0.1', basePath = '') =>
    new AdminSessions(config(publicUrl, basePath), t.engine.resolve(ApiKeyStore), t.engine.resolve<Database>(Database), t.engine.resolve<ChangeFeed>(ChangeFeed), t.engine.resolve<Logger>(Logger), t.engine.resolve(BackgroundWork));
  before(async () => {
    t = await createTestEngine({ connect: false, plugins: [enterpriseEdition()] });
  });
  after(() => t?.close());

  it('keep a host admin label holding NUL or a lone surrogate exactly (the jsonb insert failed)', async () => {
    const label = 'Ops\u0000Admin\ud800';
    const session = await adminSessions().create(testPrincipal({ tenant: 'acme', label, scopes: ['admin'] }));
    // Another instance knows the session from the database alone.
    const found = await adminSessions().current(request('GET', { cookie: `gatehouse_admin=${session.id}` }));
    expect(found?.principal.label).to.equal(label);
  });

  it('end after the idle time and after the lifetime, and are bound to their CSRF token', async () => {
    const sessions = adminSessions();
    const start = Date.now();
    const session = await sessions.create(testPrincipal({ tenant: 'acme', scopes: ['admin'] }), start);
    const cookie = { cookie: `other=1; gatehouse_admin=${session.id}` };
    expect((await sessions.current(request('GET', cookie), start + SESSION_IDLE_MS - 1000))?.principal.tenant).to.equal('acme');
    const refused = await sessions.resolve(request('PATCH', cookie)).then(
      () => undefined,
      (error: Error) => error,
    );
    expect(refused?.message).to.include('X-CSRF-Token');
    expect((await sessions.resolve(request('PATCH', { ...cookie, 'x-csrf-token': session.csrfToken })))?.tenant).to.equal('acme');
    expect(await sessions.resolve(request('PATCH', { ...cookie, authorization: 'Bearer other' })), 'a bearer request is not the cookie’s').to.equal(undefined);
    expect(await sessions.current(request('GET', cookie), Date.now() + SESSION_IDLE_MS + 1000)).to.equal(undefined);

    const kept = await sessions.create(testPrincipal({ tenant: 'acme', scopes: ['admin'] }), start);
    const keptCookie = { cookie: `gatehouse_admin=${kept.id}` };
    for (let at = start; at < start + SESSION_LIFETIME_MS; at += SESSION_IDLE_MS / 2) expect(await sessions.current(request('GET', keptCookie), at)).to.not.equal(undefined);
    expect(await sessions.current(request('GET', keptCookie), start + SESSION_LIFETIME_MS)).to.equal(undefined);
  });

  it('keep only a hash of the session id in the database, and are known to another instance reading it', async () => {
    const session = await adminSessions().create(testPrincipal({ tenant: 'acme', scopes: ['admin'] }));
    const rows = (await t.engine.database.knex('admin_sessions').select('id_hash')) as { id_hash: string }[];
    expect(rows.map((row) => row.id_hash)).to.not.include(session.id);
    const elsewhere = adminSessions();
    expect((await elsewhere.current(request('GET', { cookie: `gatehouse_admin=${session.id}` })))?.csrfToken).to.equal(session.csrfToken);
    await elsewhere.end(session.id);
    expect(await adminSessions().current(request('GET', { cookie: `gatehouse_admin=${session.id}` }))).to.equal(undefined);
  });

  it('end when the admin key behind them is revoked', async () => {
    const tenant = uniqueTenant('adm');
    const keys = t.engine.resolve(ApiKeyStore);
    const { key } = await keys.create({ tenant, name: 'admin', scopes: ['admin'] });
    const sessions = adminSessions();
    const session = await sessions.create(testPrincipal({ tenant, scopes: ['admin'], attributes: { keyId: key.id } }));
    const cookie = { cookie: `gatehouse_admin=${session.id}` };
    expect(await sessions.resolve(request('GET', cookie))).to.not.equal(undefined);
    // Revoked behind the engine's back: found at the next recheck.
    await t.engine.database.knex('api_keys').where({ id: key.id }).update({ revoked_at: new Date() });
    expect(await sessions.stillValid(session.id, Date.now() + KEY_RECHECK_MS + 1)).to.equal(false);
    expect(await sessions.resolve(request('GET', cookie))).to.equal(undefined);
  });

  it('end at once when the admin key behind them is revoked through the engine', async () => {
    const tenant = uniqueTenant('adm');
    const keys = t.engine.resolve(ApiKeyStore);
    const { key } = await keys.create({ tenant, name: 'admin', scopes: ['admin'] });
    const sessions = adminSessions();
    const session = await sessions.create(testPrincipal({ tenant, scopes: ['admin'], attributes: { keyId: key.id } }));
    const cookie = { cookie: `gatehouse_admin=${session.id}` };
    expect(await sessions.resolve(request('GET', cookie))).to.not.equal(undefined);
    await keys.revoke(tenant, key.id);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await sessions.resolve(request('GET', cookie))).to.equal(undefined);
  });

  it('sets Secure and the base path on the cookie under https', async () => {
    const sessions = adminSessions('https://mcp.example.com', '/gatehouse');
    const cookie = sessions.cookie(await sessions.create(testPrincipal({ tenant: 'acme', scopes: ['admin'] })));
    expect(cookie).to.match(/; Path=\/gatehouse\/; HttpOnly; SameSite=Strict; Secure; Max-Age=\d+$/);
    expect(Number(/Max-Age=(\d+)/.exec(cookie)![1])).to.be.within(SESSION_LIFETIME_MS / 1000 - 5, SESSION_LIFETIME_MS / 1000);
    expect(sessions.clearingCookie()).to.include('Max-Age=0');
  });
});

describe('EE admin UI: browser sessions in the browser', function () {
  before(function () {
    skipWithoutChromium(this);
  });
  this.timeout(60_000);

  describe('with the host’s admin authenticator', () => {
    let t: TestEngine;
    let browser: Browser;
    const tenant = uniqueTenant('host');

    before(async () => {
      await buildUi();
      const adminAuthenticator = async (req: RouteRequest) => (req.header('x-host-admin') ? { tenant, label: req.header('x-host-admin')! } : undefined);
      [t, browser] = await Promise.all([createTestEngine({ connect: false, plugins: [enterpriseEdition({ adminAuthenticator }), ticketTools] }), launchChromium()]);
    });

    after(async () => {
      await browser?.close();
      await t?.close();
    });

    it('signs the host’s admin in without a key, in the host’s tenant', async () => {
      const { context, page } = await openPage(browser);
      await context.setExtraHTTPHeaders({ 'x-host-admin': 'alice@example.com' });
      try {
        await page.goto(`${t.url}/admin`);
        await goTo(page, 'Roles');
        expect(await page.locator('.tenant').textContent()).to.equal(tenant);
        await page.getByText('No roles yet').waitFor();
      } finally {
        await context.close();
      }
      const { context: stranger, page: strangerPage } = await openPage(browser);
      try {
        await strangerPage.goto(`${t.url}/admin`);
        await strangerPage.getByLabel('Admin API key').waitFor();
      } finally {
        await stranger.close();
      }
    });
  });
});
