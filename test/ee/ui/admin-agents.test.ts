import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { goTo, launchChromium, openPage, signIn, startUiEngine, type UiEngine, skipWithoutChromium, adminRequest, mcpListStatus } from './support.js';

describe('EE admin UI: agents tell their whole story', function () {
  before(function () {
    skipWithoutChromium(this);
  });
  this.timeout(60_000);
  let t: UiEngine;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  const admin = (method: string, path: string, body?: unknown): Promise<any> => adminRequest(t.url, t.adminKey, method, path, body);
  const mcpStatus = (token: string): Promise<number> => mcpListStatus(t, token);
  const row = (id: string) => page.locator(`tr[data-agent-id="${id}"]`);
  const reloadAgents = async () => {
    await goTo(page, 'Roles');
    await goTo(page, 'Agents');
  };

  let reader: { id: string };

  before(async () => {
    [t, browser] = await Promise.all([startUiEngine(), launchChromium()]);
    ({ context, page } = await openPage(browser));
    await signIn(page, t.adminUrl, t.adminKey);
    reader = await admin('POST', '/api/v1/mcp/roles', { name: 'Ticket reader', permissions: ['tickets:read'] });
  });

  after(async () => {
    await context?.close();
    await browser?.close();
    await t?.close();
  });

  it('shows an agent bound to a deactivated identity provider as blocked, saying why', async () => {
    const idp = await admin('POST', '/api/v1/mcp/idp-providers', { kind: 'keycloak', name: 'Staff SSO', realmUrl: 'https://sso.example.com/realms/staff' });
    const agent = await admin('POST', '/api/v1/mcp/agents', { name: 'SSO bot', idpId: idp.id, subject: 'sso-bot', roleIds: [reader.id] });
    await goTo(page, 'Agents');
    await row(agent.id).locator('.badge', { hasText: 'ready' }).waitFor();
    await admin('POST', `/api/v1/mcp/idp-providers/${idp.id}/deactivate`);
    await reloadAgents();
    const status = row(agent.id).locator('.health');
    await status.locator('.badge', { hasText: 'blocked' }).waitFor();
    expect(await status.textContent()).to.include('Its identity provider Staff SSO is deactivated');
  });

  it('says an agent without roles can call nothing, and calls out keys expired or expiring within 14 days', async () => {
    const agent = await admin('POST', '/api/v1/mcp/agents', { name: 'Roleless bot' });
    await admin('POST', `/api/v1/mcp/agents/${agent.id}/keys`, { name: 'soon', expiresAt: new Date(Date.now() + 5 * 86_400_000 - 60_000).toISOString() });
    await admin('POST', `/api/v1/mcp/agents/${agent.id}/keys`, { name: 'later', expiresAt: new Date(Date.now() + 60 * 86_400_000).toISOString() });
    await reloadAgents();
    const status = row(agent.id).locator('.health');
    await status.locator('.badge', { hasText: 'needs attention' }).waitFor();
    const text = (await status.textContent())!;
    expect(text).to.include('can call nothing');
    expect(text).to.include('Key soon expires in 5 days');
    expect(text).to.not.include('Key later');
  });

  it('shows "last seen" seconds after a call, before the batched write', async () => {
    const agent = await admin('POST', '/api/v1/mcp/agents', { name: 'Busy bot', roleIds: [reader.id] });
    const key = await admin('POST', `/api/v1/mcp/agents/${agent.id}/keys`, { name: 'busy' });
    await reloadAgents();
    expect(await row(agent.id).locator('.last-seen').textContent()).to.equal('never');
    expect(await mcpStatus(key.secret)).to.equal(200);
    await reloadAgents();
    expect(await row(agent.id).locator('.last-seen').textContent()).to.match(/just now|seconds? ago/);
  });

  it('records an owner / contact with the agent', async () => {
    await page.getByRole('button', { name: 'Create agent' }).click();
    const form = page.getByRole('form', { name: 'Create agent' });
    await form.getByLabel('Name', { exact: true }).fill('Report bot');
    await form.getByLabel('Identity provider').selectOption({ label: 'None (API keys only)' });
    await form.getByLabel('Owner / contact (optional)').fill('Data team <data@example.com>');
    await form.getByRole('button', { name: 'Create agent' }).click();
    await page.locator('td.agent-name', { hasText: 'Owner: Data team <data@example.com>' }).waitFor();
    const stored = (await admin('GET', '/api/v1/mcp/agents')).find((agent: { name: string }) => agent.name === 'Report bot');
    expect(stored.contact).to.equal('Data team <data@example.com>');
  });

  it('rotates a key: the new key and the old both work until the old one is revoked', async () => {
    const agent = await admin('POST', '/api/v1/mcp/agents', { name: 'Rotating bot', roleIds: [reader.id] });
    const old = await admin('POST', `/api/v1/mcp/agents/${agent.id}/keys`, { name: 'primary' });
    await reloadAgents();
    await row(agent.id).getByRole('button', { name: 'Keys' }).click();
    const keys = page.locator('.keys');
    await keys.locator('li[data-key="primary"]').getByRole('button', { name: 'Rotate' }).click();
    const secret = (await keys.locator('[data-secret]').textContent())!.trim();
    expect(secret).to.not.equal(old.secret);
    const active = keys.locator('li .badge', { hasText: 'active' });
    await active.nth(1).waitFor(); // the list reloads after the rotation
    expect(await active.count()).to.equal(2);
    expect(await mcpStatus(secret)).to.equal(200);
    expect(await mcpStatus(old.secret)).to.equal(200);
    await keys.getByRole('button', { name: 'Done' }).click();
    await keys.locator('li[data-key="primary"]').getByRole('button', { name: 'Revoke' }).click();
    await keys.getByRole('button', { name: 'Confirm revoke' }).click();
    await keys.locator('li[data-key="primary"] .badge', { hasText: 'revoked' }).waitFor();
    expect(await mcpStatus(old.secret)).to.equal(401);
    expect(await mcpStatus(secret)).to.equal(200);
  });

  it('refreshes the list by itself every 15 seconds', async () => {
    // A page of its own whose timers the test moves on (the session cookie is the context's).
    const own = await context.newPage();
    try {
      await own.clock.install();
      await own.goto(t.adminUrl);
      await goTo(own, 'Agents');
      // The first load is done (the earlier tests' agents are listed) before the new agent exists.
      await own.locator('tr[data-agent-id]').first().waitFor();
      const agent = await admin('POST', '/api/v1/mcp/agents', { name: 'Appears by itself', roleIds: [reader.id] });
      const appeared = own.locator(`tr[data-agent-id="${agent.id}"]`);
      await own.clock.runFor(14_000);
      expect(await appeared.count(), 'not before 15 s').to.equal(0);
      await own.clock.runFor(1_000);
      await appeared.waitFor();
    } finally {
      await own.close();
    }
  });

  it('deactivates several agents at once', async () => {
    const one = await admin('POST', '/api/v1/mcp/agents', { name: 'Bulk one' });
    const two = await admin('POST', '/api/v1/mcp/agents', { name: 'Bulk two' });
    await reloadAgents();
    await page.getByLabel('Select Bulk one').check();
    await page.getByLabel('Select Bulk two').check();
    await page.getByRole('button', { name: 'Deactivate selected' }).click();
    await row(two.id).locator('.badge', { hasText: 'inactive' }).waitFor();
    await row(one.id).locator('.badge', { hasText: 'inactive' }).waitFor();
    const stored = await admin('GET', '/api/v1/mcp/agents?status=inactive');
    expect(stored.map((agent: { name: string }) => agent.name).sort()).to.deep.equal(['Bulk one', 'Bulk two']);
  });
});
