import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { defineTool, definePlugin, z } from '@gatehouse-mcp/engine';
import { enterpriseEdition } from '@gatehouse-mcp/engine/ee';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { buildUi } from '../../../src/plugins/ee/admin-ui/build-ui.js';
import { goTo, launchChromium, openPage, signIn, skipWithoutChromium, adminRequest } from './support.js';

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** Serious and critical axe-core violations on the page as it is now, as `impact id: help`. */
async function seriousViolations(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in globalThis))) await page.evaluate(AXE_SOURCE);
  return page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(context: unknown): Promise<{ violations: { id: string; impact: string | null; help: string }[] }> } }).axe;
    const found = await axe.run((globalThis as unknown as { document: unknown }).document);
    return found.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.impact} ${v.id}: ${v.help}`);
  });
}

const text = (result: unknown): string => ((result as { content: { text: string }[] }).content[0]?.text ?? '');

describe('EE admin UI: the Approvals page in Chromium', function () {
  before(function () {
    skipWithoutChromium(this);
  });
  this.timeout(90_000);
  let t: TestEngine;
  let adminKey: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let agent: Client;
  const refunds: unknown[] = [];

  const admin = (method: string, path: string, body?: unknown): Promise<any> => adminRequest(t.url, adminKey, method, path, body);

  before(async () => {
    const refund = defineTool({
      name: 'payments.refund',
      description: 'Refund a payment.',
      permission: 'payments:refund',
      approval: 'required',
      input: z.object({ payment: z.string(), cents: z.number().int(), apiToken: z.string().optional() }),
      handler: (args) => {
        refunds.push(args);
        return `refunded ${args.cents} on ${args.payment}`;
      },
    });
    await buildUi();
    [t, browser] = await Promise.all([
      createTestEngine({ connect: false, plugins: [enterpriseEdition(), definePlugin({ id: 'payments', tools: [refund] })] }),
      launchChromium(),
    ]);
    adminKey = (await t.createKey({ name: 'ui admin', scopes: ['admin'] })).secret;
    const role = await admin('POST', '/api/v1/mcp/roles', { name: 'refunds', permissions: ['payments:refund'] });
    const bot = await admin('POST', '/api/v1/mcp/agents', { name: 'Billing bot', roleIds: [role.id] });
    const key = await admin('POST', `/api/v1/mcp/agents/${bot.id}/keys`, { name: 'bot key' });
    agent = await t.connect({ token: key.secret });
    ({ context, page } = await openPage(browser, { width: 1280, height: 900 }));
    await signIn(page, `${t.url}/admin`, adminKey);
  });

  after(async () => {
    await context?.close();
    await browser?.close();
    await t?.close();
  });

  it('shows a new request live with its redacted arguments, approves it with a reason, and the retry runs once', async () => {
    await goTo(page, 'Approvals');
    await page.getByText('Nothing waits for approval').waitFor();

    // Made while the page is open: it appears without a reload.
    const args = { payment: 'P-2024-118', cents: 4200, apiToken: 'sk_live_abcdefghijklmnop' };
    const held = await agent.callTool({ name: 'payments.refund', arguments: args });
    expect(text(held)).to.match(/^Approval required, request /);
    const card = page.getByRole('article', { name: 'payments.refund requested by Billing bot' });
    await card.waitFor({ timeout: 10_000 });
    const shown = await card.getByLabel('Arguments').textContent();
    expect(shown).to.contain('P-2024-118').and.to.contain('4200').and.to.contain('[REDACTED]').and.not.contain('sk_live');
    expect(await card.textContent()).to.contain('payments.refund requires approval');

    expect(await seriousViolations(page)).to.deep.equal([]);
    if (process.env.UPDATE_SCREENSHOTS) await page.screenshot({ path: join(process.cwd(), 'docs', 'images', 'admin-approvals.png') });

    await card.getByLabel('Reason').fill('refund agreed with the customer');
    await card.getByRole('button', { name: 'Approve' }).click();
    await page.getByRole('status').getByText('Approved payments.refund.').waitFor();
    await page.getByText('Nothing waits for approval').waitFor();
    expect(await page.locator('article[data-state="approved"]').textContent()).to.contain('refund agreed with the customer');

    expect(text(await agent.callTool({ name: 'payments.refund', arguments: args }))).to.equal('refunded 4200 on P-2024-118');
    expect(refunds).to.have.length(1);
    await page.locator('article[data-state="executed"]').waitFor({ timeout: 10_000 });
  });

  it('asks for a reason before denying, and shows the denial', async () => {
    await agent.callTool({ name: 'payments.refund', arguments: { payment: 'P-9', cents: 1 } });
    const card = page.locator('article[data-state="pending"]');
    await card.waitFor({ timeout: 10_000 });
    await card.getByRole('button', { name: 'Deny' }).click();
    await page.getByRole('alert').getByText('Give a reason to deny: the caller sees it.').waitFor();
    await card.getByLabel('Reason').fill('duplicate refund');
    await card.getByRole('button', { name: 'Deny' }).click();
    await page.locator('article[data-state="denied"]', { hasText: 'duplicate refund' }).waitFor();
    const retry = await agent.callTool({ name: 'payments.refund', arguments: { payment: 'P-9', cents: 1 } });
    expect(text(retry)).to.contain('was denied: duplicate refund');
    expect(refunds).to.have.length(1);
  });

  it('sets the webhook and sends a test event from the page', async () => {
    const bodies: string[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        bodies.push(body);
        res.statusCode = 204;
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const panel = page.getByRole('region', { name: 'Approval webhook' });
      await panel.getByLabel('Webhook URL').fill(`http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`);
      await panel.getByRole('button', { name: 'Save' }).click();
      await panel.getByText(/Signing secret \(shown once, keep it with the receiver\): whsec_/).waitFor();
      await panel.getByRole('button', { name: 'Send test event' }).click();
      await panel.getByText('Test event delivered (HTTP 204).').waitFor();
      expect(JSON.parse(bodies[0]!).type).to.equal('approval.test');
    } finally {
      server.close();
    }
  });
});
