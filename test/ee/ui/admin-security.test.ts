import { expect } from 'chai';
import type { Browser } from 'playwright-core';
import { ADMIN_SCOPE } from '@gatehouse-mcp/engine/ee';
import { goTo, launchChromium, openPage, signIn, startUiEngine, type UiEngine, skipWithoutChromium } from './support.js';

describe('EE admin UI: sign-in, sessions and page security in Chromium', function () {
  before(function () {
    skipWithoutChromium(this);
  });
  this.timeout(60_000);
  let t: UiEngine;
  let browser: Browser;

  before(async () => {
    [t, browser] = await Promise.all([startUiEngine(), launchChromium()]);
  });

  after(async () => {
    await browser?.close();
    await t?.close();
  });

  // The HTTP-only checks (CSP, asset paths, cookie attributes, CSRF) are in ../governance/admin-ui-http.test.ts: they need no browser.

  it('refuses a non-admin key on the sign-in form with a clear message, and a wrong key too', async () => {
    const plain = await t.createKey({ name: 'mcp only', scopes: ['mcp'] });
    const { context, page } = await openPage(browser);
    try {
      await page.goto(t.adminUrl);
      await page.getByLabel('Admin API key').fill(plain.secret);
      await page.getByRole('button', { name: 'Sign in' }).click();
      const message = page.locator('.field-error[data-field="apiKey"]');
      await message.waitFor();
      expect(await message.textContent()).to.include('not an admin key').and.include(`"${ADMIN_SCOPE}" scope`);
      expect(await page.getByRole('navigation', { name: 'Admin pages' }).count()).to.equal(0);
      expect((await context.cookies()).map((cookie) => cookie.name)).to.not.include('gatehouse_admin');

      await page.getByLabel('Admin API key').fill('gh_not-a-real-key');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.locator('.field-error[data-field="apiKey"]', { hasText: 'not valid' }).waitFor();
    } finally {
      await context.close();
    }
  });

  it('signs in to an HttpOnly, SameSite=Strict cookie, and signs out', async () => {
    const signInResponse = await fetch(`${t.url}/admin/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiKey: t.adminKey }) });
    expect(signInResponse.status).to.equal(200);
    const cookie = signInResponse.headers.get('set-cookie') ?? '';
    expect(cookie).to.match(/^gatehouse_admin=[\w-]{30,};/);
    expect(cookie).to.include('HttpOnly');
    expect(cookie).to.include('SameSite=Strict');
    expect(cookie).to.match(/Max-Age=\d+/);
    expect(cookie).to.not.include('Secure');
    const body = (await signInResponse.json()) as { data: { csrfToken: string; tenant: string } };
    expect(body.data.tenant).to.equal(t.tenant);
    expect(JSON.stringify(body)).to.not.include(t.adminKey);

    const { context, page } = await openPage(browser);
    try {
      await signIn(page, t.adminUrl, t.adminKey);
      const session = (await context.cookies()).find((entry) => entry.name === 'gatehouse_admin');
      expect(session?.httpOnly).to.equal(true);
      expect(session?.sameSite).to.equal('Strict');
      expect(page.url()).to.not.include(t.adminKey);
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByLabel('Admin API key').waitFor();
      // The old session id no longer opens the admin API.
      const reused = await fetch(`${t.url}/api/v1/mcp/roles`, { headers: { cookie: `gatehouse_admin=${session!.value}` } });
      expect(reused.status).to.equal(401);
    } finally {
      await context.close();
    }
  });

  it('refuses a change made with the session cookie but without the CSRF token (403), and makes it with the token', async () => {
    const { context, page } = await openPage(browser);
    try {
      await signIn(page, t.adminUrl, t.adminKey);
      // From the signed-in page itself: the cookie goes along, the token does not.
      const without = await page.evaluate(async (url) => {
        const response = await fetch(url, { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'sneaky', permissions: ['*'] }) });
        return { status: response.status, body: await response.text() };
      }, `${t.url}/api/v1/mcp/roles`);
      expect(without.status).to.equal(403);
      expect(without.body).to.include('X-CSRF-Token');
      const wrong = await page.evaluate(async (url) => {
        const response = await fetch(url, { method: 'DELETE', credentials: 'same-origin', headers: { 'x-csrf-token': 'guessed' } });
        return response.status;
      }, `${t.url}/api/v1/mcp/roles/00000000-0000-4000-8000-000000000000`);
      expect(wrong).to.equal(403);
      // Reads need no token.
      const read = await page.evaluate(async (url) => (await fetch(url, { credentials: 'same-origin' })).status, `${t.url}/api/v1/mcp/roles`);
      expect(read).to.equal(200);

      await goTo(page, 'Roles');
      await page.getByRole('button', { name: 'Create role' }).click();
      await page.getByLabel('Name', { exact: true }).fill('through the page');
      await page.getByLabel('tickets:read').check();
      await page.getByRole('form', { name: 'Create role' }).getByRole('button', { name: 'Create role' }).click();
      await page.locator('tr[data-role="through the page"]').waitFor();
      const roles = (await (await fetch(`${t.url}/api/v1/mcp/roles`, { headers: { authorization: `Bearer ${t.adminKey}` } })).json()) as { data: { name: string }[] };
      expect(roles.data.map((role) => role.name)).to.deep.equal(['through the page']);
    } finally {
      await context.close();
    }
  });

  it('renders an agent named like markup as text: no element, no script, no dialog', async () => {
    const probe = '<img src=x onerror=alert(1)>';
    const created = await fetch(`${t.url}/api/v1/mcp/agents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: probe }),
    });
    expect(created.status).to.equal(201);
    const { context, page, dialogs } = await openPage(browser);
    try {
      await signIn(page, t.adminUrl, t.adminKey);
      await goTo(page, 'Agents');
      const cell = page.locator('td.agent-name', { hasText: probe });
      await cell.waitFor();
      expect(await cell.textContent()).to.equal(probe);
      expect(await page.locator('main img').count()).to.equal(0);
      await goTo(page, 'Access check');
      await page.locator('#access-agent option', { hasText: probe }).waitFor({ state: 'attached' });
      expect(await page.locator('#access-agent option', { hasText: probe }).textContent()).to.equal(probe);
      await page.waitForTimeout(200);
      expect(dialogs).to.deep.equal([]);
      expect(await page.locator('img').count()).to.equal(0);
    } finally {
      await context.close();
    }
  });
});
