import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { AuditSink } from '@gatehouse-mcp/engine';
import { IdpProviderStore } from '@gatehouse-mcp/engine/ee';
import { goTo, launchChromium, openPage, signIn, startUiEngine, type UiEngine, skipWithoutChromium, adminRequest, mcpListStatus } from './support.js';

/** Runs in the page (as a function: the page's CSP forbids evaluating strings): the audit table shows exactly `count` rows. */
const auditRowsShown = (count: number): boolean =>
  (globalThis as unknown as { document: { querySelectorAll(selector: string): { length: number } } }).document.querySelectorAll('table[aria-label="Audit events"] tbody tr').length === count;

describe('EE admin UI: the pages in Chromium', function () {
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

  before(async () => {
    [t, browser] = await Promise.all([startUiEngine(), launchChromium()]);
    ({ context, page } = await openPage(browser));
    await signIn(page, t.adminUrl, t.adminKey);
  });

  after(async () => {
    await context?.close();
    await browser?.close();
    await t?.close();
  });

  it('tells the admin what to do next on every empty list', async () => {
    await goTo(page, 'Identity providers');
    await page.getByText('No identity providers yet').waitFor();
    await goTo(page, 'Agents');
    await page.getByText('No agents yet').waitFor();
    expect(await page.locator('.empty').textContent()).to.include('Identity providers page');
    await goTo(page, 'Roles');
    await page.getByText('No roles yet').waitFor();
    await goTo(page, 'Access check');
    await page.getByText('No agents to check').waitFor();
  });

  it('edits, deactivates and deletes an identity provider, deletion only after confirmation', async () => {
    await admin('POST', '/api/v1/mcp/idp-providers', { kind: 'keycloak', name: 'Staff SSO', realmUrl: 'https://127.0.0.1:1/realms/staff' });
    await goTo(page, 'Identity providers');
    const row = page.locator('tr[data-idp="Staff SSO"]');
    await row.getByRole('button', { name: 'Edit' }).click();
    const form = page.getByRole('form', { name: 'Edit identity provider' });
    expect(await form.getByLabel('Realm URL').inputValue()).to.equal('https://127.0.0.1:1/realms/staff');
    await form.getByText('Advanced settings').click();
    await form.getByLabel('Allowed algorithms').fill('HS256');
    await form.getByRole('button', { name: 'Save' }).click();
    await form.locator('.field-error[data-field="allowedAlgorithms"]').waitFor();
    await form.getByLabel('Allowed algorithms').fill('RS256, ES256');
    await form.getByLabel('Name', { exact: true }).fill('Staff SSO (EU)');
    await form.getByRole('button', { name: 'Save' }).click();
    const renamed = page.locator('tr[data-idp="Staff SSO (EU)"]');
    await renamed.waitFor();
    await renamed.getByRole('button', { name: 'Test' }).click();
    await renamed.locator('.test-result.failed').waitFor();

    await renamed.getByRole('button', { name: 'Deactivate' }).click();
    await renamed.locator('.badge', { hasText: 'inactive' }).waitFor();
    const [stored] = await t.engine.resolve(IdpProviderStore).list(t.tenant);
    expect(stored).to.include({ name: 'Staff SSO (EU)', active: false });
    expect(stored!.allowedAlgorithms).to.deep.equal(['RS256', 'ES256']);

    await renamed.getByRole('button', { name: 'Delete' }).click();
    await renamed.getByRole('button', { name: 'Cancel' }).click();
    expect(await admin('GET', '/api/v1/mcp/idp-providers')).to.have.length(1);
    await renamed.getByRole('button', { name: 'Delete' }).click();
    await renamed.getByRole('button', { name: 'Confirm delete' }).click();
    await page.getByText('No identity providers yet').waitFor();
    expect(await admin('GET', '/api/v1/mcp/idp-providers')).to.have.length(0);
  });

  it('shows a role’s invalid wildcard next to its field and saves a valid one', async () => {
    await goTo(page, 'Roles');
    await page.getByRole('button', { name: 'Create role' }).click();
    const form = page.getByRole('form', { name: 'Create role' });
    await form.getByLabel('Name', { exact: true }).fill('operators');
    await form.getByLabel('Wildcard patterns').fill('tickets:**');
    await form.getByRole('button', { name: 'Create role' }).click();
    const error = form.locator('.field-error[data-field="patterns"]');
    await error.waitFor();
    expect(await error.textContent()).to.include('resource:action');
    await form.getByLabel('Wildcard patterns').fill('tickets:*');
    await form.getByRole('button', { name: 'Create role' }).click();
    await page.locator('tr[data-role="operators"]', { hasText: 'tickets:*' }).waitFor();
  });

  it('issues an agent key shown once with a copy button, and revokes it', async () => {
    const agent = await admin('POST', '/api/v1/mcp/agents', { name: 'Key bot' });
    await goTo(page, 'Agents');
    const row = page.locator(`tr[data-agent-id="${agent.id}"]`);
    await row.getByRole('button', { name: 'Keys' }).click();
    const keys = page.locator('.keys');
    await keys.getByText('No API keys').waitFor();
    await keys.getByLabel('New key name').fill('ci runner');
    await keys.getByRole('button', { name: 'Issue key' }).click();
    const secret = keys.locator('[data-secret]');
    await secret.waitFor();
    const value = (await secret.textContent())!.trim();
    expect(await keys.getByRole('button', { name: 'Copy' }).count()).to.equal(1);
    expect(await mcpStatus(value)).to.equal(200);
    await keys.getByRole('button', { name: 'Done' }).click();
    expect(await keys.locator('[data-secret]').count(), 'the secret is gone once dismissed').to.equal(0);
    expect(await page.content()).to.not.include(value);

    await keys.getByRole('button', { name: 'Revoke' }).click();
    await keys.getByRole('button', { name: 'Confirm revoke' }).click();
    await keys.locator('.badge', { hasText: 'revoked' }).waitFor();
    expect(await mcpStatus(value)).to.equal(401);
  });

  it('explains in the access check why an agent may not call a tool', async () => {
    const role = await admin('POST', '/api/v1/mcp/roles', { name: 'readers', permissions: ['tickets:read'] });
    const agent = await admin('POST', '/api/v1/mcp/agents', { name: 'Reader bot', roleIds: [role.id] });
    await admin('POST', `/api/v1/mcp/agents/${agent.id}/keys`, { name: 'reader key' });
    await goTo(page, 'Access check');
    await page.getByLabel('Agent').selectOption({ label: 'Reader bot' });
    const table = page.getByRole('table', { name: 'Tool access' });
    await table.waitFor();
    expect(await table.locator('tr[data-tool="tickets.read"]').textContent()).to.include('yes');
    const denied = table.locator('tr[data-tool="tickets.close"]');
    expect(await denied.textContent()).to.include('no');
    expect(await denied.locator('.reason').textContent()).to.include('Missing permission tickets:write');

    await admin('POST', `/api/v1/mcp/agents/${agent.id}/deactivate`);
    await page.getByLabel('Agent').selectOption({ label: 'Key bot' });
    await page.getByLabel('Agent').selectOption({ label: 'Reader bot' });
    await table.locator('tr[data-tool="tickets.read"] .reason', { hasText: 'inactive' }).waitFor();
    expect(await table.locator('tr[data-tool="tickets.close"] .reason').textContent()).to.include('The agent is inactive');
  });

  it('pages through the audit trail with the API cursor and opens one event', async () => {
    const role = await admin('POST', '/api/v1/mcp/roles', { name: 'everything', permissions: ['*'] });
    const agent = await admin('POST', '/api/v1/mcp/agents', { name: 'Busy bot', roleIds: [role.id] });
    const key = await admin('POST', `/api/v1/mcp/agents/${agent.id}/keys`, { name: 'busy key' });
    const client = await t.connect({ token: key.secret });
    for (let i = 0; i < 30; i++) await client.callTool({ name: 'tickets.read', arguments: { id: `P-${i}`, password: 'hunter2' } });
    await t.engine.resolve<AuditSink>(AuditSink).flush();

    await goTo(page, 'Audit');
    await page.getByLabel('Agent').selectOption({ label: 'Busy bot' });
    await page.getByLabel('Tool').fill('tickets.read');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    const rows = page.getByRole('table', { name: 'Audit events' }).locator('tbody tr');
    await page.waitForFunction(auditRowsShown, 25);
    expect(await page.getByRole('button', { name: 'Previous page' }).isDisabled()).to.equal(true);
    await page.getByRole('button', { name: 'Next page' }).click();
    await page.waitForFunction(auditRowsShown, 5);
    expect(await page.getByRole('button', { name: 'Next page' }).isDisabled()).to.equal(true);
    expect(await rows.last().textContent()).to.include('tickets.read').and.include('Busy bot');
    await rows.first().getByRole('button').click();
    const detail = page.getByRole('complementary', { name: 'Audit event' });
    await detail.waitFor();
    const text = (await detail.textContent())!;
    expect(text).to.match(/P-[0-4]\b/);
    expect(text, 'arguments are shown redacted').to.not.include('hunter2');
    await page.getByRole('button', { name: 'Previous page' }).click();
    await page.waitForFunction(auditRowsShown, 25);
  });

  it('fits a narrow window: navigation wraps and nothing scrolls sideways but the tables', async () => {
    const narrow = await openPage(browser, { width: 390, height: 800 });
    try {
      await signIn(narrow.page, t.adminUrl, t.adminKey);
      for (const title of ['Identity providers', 'Agents', 'Roles', 'Approvals', 'Audit', 'Access check']) {
        await goTo(narrow.page, title);
        expect(await narrow.page.evaluate('document.documentElement.scrollWidth <= window.innerWidth'), title).to.equal(true);
      }
    } finally {
      await narrow.context.close();
    }
  });
});
