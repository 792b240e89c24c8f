import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { adminRequest, goTo, launchChromium, openPage, signIn, skipWithoutChromium, startUiEngine, type UiEngine } from './support.js';

describe('EE admin UI: rate limits and quotas on the agent and role pages', function () {
  before(function () {
    skipWithoutChromium(this);
  });
  this.timeout(120_000);
  let t: UiEngine;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let errors: string[];

  const admin = (method: string, path: string, body?: unknown): Promise<any> => adminRequest(t.url, t.adminKey, method, path, body);
  /** The HTTP status of one `tools/call` of `tickets.read` by `token`. */
  const call = async (token: string): Promise<number> => {
    const response = await fetch(t.engine.mcpUrl(t.tenant), {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'tickets.read', arguments: { id: '1' } } }),
    });
    await response.body?.cancel();
    return response.status;
  };

  before(async function () {
    this.timeout(180_000);
    [t, browser] = await Promise.all([startUiEngine(), launchChromium()]);
    ({ context, page, errors } = await openPage(browser));
    await signIn(page, t.adminUrl, t.adminKey);
    // What the sign-in page logged before there was a session is not this page's doing.
    errors.length = 0;
  });

  after(async () => {
    await context?.close();
    await browser?.close();
    await t?.close();
  });

  it('sets a limit on an agent, shows its use grow as the agent calls, and the limit refuses the call over it', async () => {
    const role = await admin('POST', '/api/v1/mcp/roles', { name: 'Limited reader', permissions: ['tickets:read'] });
    const agent = await admin('POST', '/api/v1/mcp/agents', { name: 'Metered bot', roleIds: [role.id] });
    const key = (await admin('POST', `/api/v1/mcp/agents/${agent.id}/keys`, { name: 'bot key' })).secret as string;

    await goTo(page, 'Agents');
    await page.locator(`tr[data-agent-id="${agent.id}"]`).getByRole('button', { name: 'Limits' }).click();
    const panel = page.getByLabel('Limits of Metered bot', { exact: true }).first();
    await panel.getByText('No limits: calls are not counted.').waitFor();

    // A mistake is said next to its field, and nothing is sent.
    await panel.getByRole('button', { name: 'Add limit' }).click();
    await panel.locator('[data-field="max"]').getByText('Enter how many calls').waitFor();

    await panel.getByLabel('Calls').fill('3');
    await panel.getByLabel('Window').selectOption('day');
    await panel.getByLabel('Tool (optional)').fill('tickets.read');
    await panel.getByRole('button', { name: 'Add limit' }).click();
    const usage = panel.locator('tr[data-limit="tickets.read day"] [data-usage]');
    await usage.getByText('0 of 3 this day').waitFor();

    expect(await call(key)).to.equal(200);
    expect(await call(key)).to.equal(200);
    // Instances report calls about once a second and the panel reads them again on its own.
    await usage.getByText(/^2 of 3 this day/).waitFor({ timeout: 30_000 });
    expect(await call(key)).to.equal(200);
    expect(await call(key)).to.equal(429);
    await panel.getByRole('button', { name: 'Refresh use' }).click();
    await usage.getByText(/^3 of 3 this day/).waitFor({ timeout: 30_000 });

    // Raised from the page: the next call goes through.
    await panel.locator('tr[data-limit="tickets.read day"]').getByRole('button', { name: 'Change' }).click();
    await panel.getByLabel('Calls').first().fill('4');
    await panel.getByRole('button', { name: 'Save' }).click();
    await panel.locator('tr[data-limit="tickets.read day"]').getByText('4 per day').waitFor();
    expect(await call(key)).to.equal(200);

    // Cleared from the page: no longer counted.
    await panel.locator('tr[data-limit="tickets.read day"]').getByRole('button', { name: 'Remove' }).click();
    await panel.getByRole('button', { name: 'Confirm remove' }).click();
    await panel.getByText('No limits: calls are not counted.').waitFor();
    expect(await call(key)).to.equal(200);
    expect(errors).to.deep.equal([]);
  });

  it('sets a limit on a role that each holder gets, shown on the holder\'s agent page too', async () => {
    const role = await admin('POST', '/api/v1/mcp/roles', { name: 'Hourly reader', permissions: ['tickets:read'] });
    const agent = await admin('POST', '/api/v1/mcp/agents', { name: 'Hourly bot', roleIds: [role.id] });
    const key = (await admin('POST', `/api/v1/mcp/agents/${agent.id}/keys`, { name: 'bot key' })).secret as string;

    await goTo(page, 'Roles');
    await page.locator('tr[data-role="Hourly reader"]').getByRole('button', { name: 'Limits' }).click();
    const panel = page.getByLabel('Limits of Hourly reader', { exact: true }).first();
    await panel.getByLabel('Calls').fill('1');
    await panel.getByLabel('Window').selectOption('day');
    await panel.getByRole('button', { name: 'Add limit' }).click();
    await panel.getByRole('cell', { name: 'each agent holding this role' }).waitFor();

    expect(await call(key)).to.equal(200);
    expect(await call(key)).to.equal(429);
    await panel.locator('[data-usage]').getByText(/^1 of 1 this day \(busiest: Hourly bot, 1 agent counted\)/).waitFor({ timeout: 30_000 });

    await goTo(page, 'Agents');
    await page.locator(`tr[data-agent-id="${agent.id}"]`).getByRole('button', { name: 'Limits' }).click();
    const agentPanel = page.getByLabel('Limits of Hourly bot', { exact: true }).first();
    await agentPanel.getByRole('cell', { name: 'role Hourly reader (counted for this agent)' }).waitFor();
    await agentPanel.getByText('set on the Roles page').waitFor();
    await agentPanel.locator('[data-usage]').getByText(/^1 of 1 this day/).waitFor();
  });
});
