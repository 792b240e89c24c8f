import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { AuditSink } from '@gatehouse-mcp/engine';
import { goTo, launchChromium, openPage, signIn, startUiEngine, type UiEngine, skipWithoutChromium, adminRequest } from './support.js';

describe('EE admin UI: the audit reads as sentences', function () {
  before(function () {
    skipWithoutChromium(this);
  });
  this.timeout(60_000);
  let t: UiEngine;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let ana: string;

  const admin = (method: string, path: string, body?: unknown): Promise<any> => adminRequest(t.url, ana, method, path, body);
  const rows = () => page.getByRole('table', { name: 'Audit events' }).locator('tbody tr');
  const sentences = async () => (await rows().locator('td.sentence').allTextContents()).map((text) => text.trim());
  const openAudit = async () => {
    await t.engine.resolve<AuditSink>(AuditSink).flush();
    await goTo(page, 'Roles');
    await goTo(page, 'Audit');
    await rows().first().waitFor();
  };

  let role: { id: string };

  before(async () => {
    [t, browser] = await Promise.all([startUiEngine(), launchChromium()]);
    ana = (await t.createKey({ name: 'Ana', scopes: ['admin'] })).secret;
    ({ context, page } = await openPage(browser));
    await signIn(page, t.adminUrl, ana);

    role = await admin('POST', '/api/v1/mcp/roles', { name: 'Ticket triage', permissions: ['tickets:read'] });
    await admin('PATCH', `/api/v1/mcp/roles/${role.id}`, { permissions: ['tickets:read', 'tickets:write'] });
    await admin('PATCH', `/api/v1/mcp/roles/${role.id}`, { permissions: ['tickets:write'] });
    const reader = await admin('POST', '/api/v1/mcp/roles', { name: 'Reader', permissions: ['tickets:read'] });
    const bot = await admin('POST', '/api/v1/mcp/agents', { name: 'Ticket bot', roleIds: [reader.id] });
    const key = await admin('POST', `/api/v1/mcp/agents/${bot.id}/keys`, { name: 'bot key' });
    const client = await t.connect({ token: key.secret });
    await client.callTool({ name: 'tickets.read', arguments: { id: 'T-1' } });
    await client.callTool({ name: 'tickets.close', arguments: { id: 'T-1' } });
    await client.close();
  });

  after(async () => {
    await context?.close();
    await browser?.close();
    await t?.close();
  });

  it('reads admin changes and calls as sentences naming who, what and the object', async () => {
    await openAudit();
    const all = await sentences();
    expect(all).to.include('Ana changed role Ticket triage: +tickets:write');
    expect(all).to.include('Ana changed role Ticket triage: −tickets:read');
    expect(all).to.include('Ana created role Ticket triage: +tickets:read');
    expect(all).to.include('Ana created agent Ticket bot: roles +Reader');
    expect(all).to.include('Ana issued key bot key to agent Ticket bot');
    expect(all).to.include('Ticket bot called tickets.read — allowed');
    expect(all).to.include('Ticket bot called tickets.close — denied: missing tickets:write');
    expect(all.join('\n'), 'no bare ids').to.not.match(/[0-9a-f]{8}-[0-9a-f]{4}-/);
  });

  it('tells admin sign-in and sign-out apart', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await signIn(page, t.adminUrl, ana);
    await openAudit();
    const all = await sentences();
    expect(all.filter((text) => text === 'Ana signed in to the admin UI')).to.have.length(2);
    expect(all.filter((text) => text === 'Ana signed out of the admin UI')).to.have.length(1);
  });

  it('shows only the fields an event has, and links to the object concerned', async () => {
    const change = rows().filter({ hasText: 'Ana changed role Ticket triage: +tickets:write' });
    await change.getByRole('button').click();
    const detail = page.getByRole('complementary', { name: 'Audit event' });
    await detail.waitFor();
    const labels = await detail.locator('dt').allTextContents();
    expect(labels).to.include.members(['When', 'Who', 'Action', 'Decision']);
    expect(labels, 'an admin change has no latency, issuer or arguments').to.not.include.members(['Latency']);
    expect(labels).to.not.include('Issuer');
    expect(await detail.getByText('Arguments (redacted)').count()).to.equal(0);
    expect(await detail.locator('dd:empty').count(), 'no empty values').to.equal(0);

    await detail.getByRole('link', { name: 'Open role Ticket triage' }).click();
    await page.getByRole('heading', { level: 1, name: 'Roles' }).waitFor();
    await page.locator(`tr.selected[data-role="Ticket triage"]`).waitFor();

    await goTo(page, 'Audit');
    const denied = rows().filter({ hasText: 'tickets.close — denied' });
    await denied.getByRole('button').click();
    const callDetail = page.getByRole('complementary', { name: 'Audit event' });
    expect(await callDetail.locator('dt').allTextContents()).to.include.members(['Reason', 'Key']);
    await callDetail.getByRole('link', { name: 'Open agent Ticket bot' }).click();
    await page.getByRole('heading', { level: 1, name: 'Agents' }).waitFor();
    await page.locator('tr.selected td.agent-name', { hasText: 'Ticket bot' }).waitFor();
  });
});
