import { readFile } from 'node:fs/promises';
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { AuditSink } from '@gatehouse-mcp/engine';
import { AgentStore } from '@gatehouse-mcp/engine/ee';
import { startOidcProvider, type OidcFixture } from '../support/oidc.js';
import { goTo, launchChromium, openPage, signIn, startUiEngine, type UiEngine, skipWithoutChromium } from './support.js';

describe('EE admin UI: an admin provisions an agent and follows it in the audit trail, all in the browser', function () {
  before(function () {
    skipWithoutChromium(this);
  });
  this.timeout(90_000);
  let idp: OidcFixture;
  let t: UiEngine;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let dialogs: string[];

  before(async () => {
    [idp, t, browser] = await Promise.all([startOidcProvider(), startUiEngine(), launchChromium()]);
    ({ context, page, dialogs } = await openPage(browser));
  });

  after(async () => {
    await context?.close();
    await browser?.close();
    await t?.close();
    await idp?.close();
  });

  const flushAudit = () => t.engine.resolve<AuditSink>(AuditSink).flush();

  it('sign in → IdP → role → agent → allowed and denied calls → audit and CSV export → deactivate → refusal audited', async () => {
    const client = await idp.registerClient('ticket-bot');
    await signIn(page, t.adminUrl, t.adminKey);

    // The identity provider, from the custom preset, with a validation error shown at its field first.
    await goTo(page, 'Identity providers');
    await page.getByText('No identity providers yet').waitFor();
    await page.getByRole('button', { name: 'Add identity provider' }).click();
    const idpForm = page.getByRole('form', { name: 'Add identity provider' });
    expect(await idpForm.getByLabel('Directory (tenant) ID').count(), 'the Entra preset comes first').to.equal(1);
    await idpForm.getByLabel('Custom OpenID provider').check();
    expect(await idpForm.getByLabel('Directory (tenant) ID').count(), 'only the preset’s fields').to.equal(0);
    expect(await idpForm.getByLabel('JWKS URL').isVisible(), 'advanced fields are folded').to.equal(false);
    await idpForm.getByLabel('Name', { exact: true }).fill('Corporate IdP');
    await idpForm.getByLabel('Issuer').fill('ftp://idp.example.com');
    await idpForm.getByRole('button', { name: 'Add provider' }).click();
    await idpForm.locator('.field-error[data-field="issuer"]').waitFor();
    await idpForm.getByLabel('Issuer').fill(idp.issuer);
    await idpForm.getByRole('button', { name: 'Add provider' }).click();
    const idpRow = page.locator('tr[data-idp="Corporate IdP"]');
    await idpRow.waitFor();
    await idpRow.getByRole('button', { name: 'Test' }).click();
    const passed = idpRow.locator('.test-result.passed');
    await passed.waitFor();
    expect(await passed.textContent()).to.include(`${idp.issuer}/jwks`);

    // A role granting the allowed tool's permission, picked from the registry's permissions.
    await goTo(page, 'Roles');
    await page.getByRole('button', { name: 'Create role' }).click();
    const roleForm = page.getByRole('form', { name: 'Create role' });
    await roleForm.getByLabel('Name', { exact: true }).fill('ticket reader');
    await roleForm.getByLabel('tickets:read').check();
    await roleForm.getByRole('button', { name: 'Create role' }).click();
    await page.locator('tr[data-role="ticket reader"]').waitFor();

    // The agent, bound to the provider's client.
    await goTo(page, 'Agents');
    await page.getByRole('button', { name: 'Create agent' }).click();
    const agentForm = page.getByRole('form', { name: 'Create agent' });
    await agentForm.getByLabel('Name', { exact: true }).fill('Ticket bot');
    await agentForm.getByLabel('Identity provider', { exact: true }).selectOption({ label: 'Corporate IdP' });
    await agentForm.getByLabel('Agent identifier in the identity provider').fill(client.clientId);
    expect(await agentForm.locator('.help', { hasText: 'sub claim' }).count(), 'help on where to find the identifier').to.equal(1);
    await agentForm.getByLabel('ticket reader').check();
    await agentForm.getByRole('button', { name: 'Create agent' }).click();
    const agentRow = page.locator('tr', { has: page.locator('td.agent-name', { hasText: 'Ticket bot' }) });
    await agentRow.waitFor();
    expect(await agentRow.textContent()).to.include('ticket reader');
    const agentId = await agentRow.getAttribute('data-agent-id');

    // The agent obtains a token by client credentials and calls one allowed and one denied tool.
    const url = t.engine.mcpUrl(t.tenant);
    const authProvider = new ClientCredentialsProvider({ clientId: client.clientId, clientSecret: client.clientSecret, expectedIssuer: idp.issuer });
    const agent = new Client({ name: 'ticket-bot', version: '1.0.0' });
    await agent.connect(new StreamableHTTPClientTransport(new URL(url), { authProvider }));
    try {
      const allowed = await agent.callTool({ name: 'tickets.read', arguments: { id: 'T-7' } });
      expect(allowed.isError).to.not.equal(true);
      const denied = await agent.callTool({ name: 'tickets.close', arguments: { id: 'T-7' } });
      expect(denied.isError).to.equal(true);
    } finally {
      await agent.close();
    }
    const token = authProvider.tokens()!.access_token;
    await flushAudit();

    // Both calls in the audit view, filtered to the agent.
    await goTo(page, 'Audit');
    await page.getByLabel('Agent').selectOption({ label: 'Ticket bot' });
    await page.getByRole('button', { name: 'Apply filters' }).click();
    const audit = page.getByRole('table', { name: 'Audit events' });
    const readRow = audit.locator('tbody tr', { hasText: 'tickets.read' });
    const closeRow = audit.locator('tbody tr', { hasText: 'tickets.close' });
    await readRow.waitFor();
    await closeRow.waitFor();
    expect(await readRow.textContent()).to.include('Ticket bot').and.include('allowed');
    expect(await closeRow.textContent()).to.include('Ticket bot').and.include('denied');
    await closeRow.getByRole('button').click();
    const detail = page.getByRole('complementary', { name: 'Audit event' });
    expect(await detail.textContent()).to.include('tickets:write').and.include('T-7');

    // The CSV export of the current filter, downloaded through the page.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'CSV' }).click()]);
    const csv = await readFile((await download.path())!, 'utf8');
    const lines = csv.trim().split(/\r\n/);
    expect(lines[0]).to.match(/^id,occurred_at,/);
    expect(lines.filter((line) => line.includes(',tickets.read,') && line.includes(',allowed,'))).to.have.length(1);
    expect(lines.filter((line) => line.includes(',tickets.close,') && line.includes(',denied,'))).to.have.length(1);
    expect(lines.slice(1).every((line) => line.includes(agentId!)), 'only this agent’s rows').to.equal(true);

    // Deactivated in the UI, the agent is refused at once, and the refusal is audited.
    await goTo(page, 'Agents');
    await agentRow.getByRole('button', { name: 'Deactivate' }).click();
    await agentRow.locator('.badge', { hasText: 'inactive' }).waitFor();
    expect((await t.engine.resolve(AgentStore).get(t.tenant, agentId!))?.active).to.equal(false);
    const refused = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'tickets.read', arguments: { id: 'T-8' } } }),
    });
    expect(refused.status).to.equal(401);
    await flushAudit();

    await goTo(page, 'Audit');
    await page.getByLabel('Decision').selectOption('auth-failed');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    const refusal = page.getByRole('table', { name: 'Audit events' }).locator('tbody tr', { hasText: 'auth-failed' }).first();
    await refusal.waitFor();
    await refusal.getByRole('button').click();
    expect(await page.getByRole('complementary', { name: 'Audit event' }).textContent()).to.match(/inactive|deactivated/i);
    expect(dialogs).to.deep.equal([]);
  });
});
