import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { expect } from 'chai';
import type { Browser, Page } from 'playwright-core';
import { AuditSink } from '@gatehouse-mcp/engine';
import { goTo, launchChromium, openPage, signIn, startUiEngine, type UiEngine, skipWithoutChromium, adminRequest } from './support.js';

/** axe-core's browser build, injected into each page as it is. */
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface Violation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: unknown[] }[];
}

/** Serious and critical axe-core violations on the page as it is now. */
async function seriousViolations(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in globalThis))) await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(context: unknown, options: unknown): Promise<{ violations: Violation[]; passes: unknown[] }> } }).axe;
    const found = await axe.run((globalThis as unknown as { document: unknown }).document, {});
    if (found.passes.length < 10) throw new Error(`axe-core checked too little (${found.passes.length} rules passed)`);
    return found.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((node) => ({ target: node.target })) }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')}`);
}

describe('EE admin UI: accessibility (axe-core) and keyboard use', function () {
  before(function () {
    skipWithoutChromium(this);
  });
  this.timeout(120_000);
  let t: UiEngine;
  let browser: Browser;

  const admin = (method: string, path: string, body?: unknown): Promise<any> => adminRequest(t.url, t.adminKey, method, path, body);

  before(async () => {
    [t, browser] = await Promise.all([startUiEngine(), launchChromium()]);
    const idp = await admin('POST', '/api/v1/mcp/idp-providers', { kind: 'keycloak', name: 'Staff SSO', realmUrl: 'https://sso.example.com/realms/staff' });
    const role = await admin('POST', '/api/v1/mcp/roles', { name: 'Ticket reader', permissions: ['tickets:read'] });
    await admin('POST', '/api/v1/mcp/agents', { name: 'SSO bot', idpId: idp.id, subject: 'sso-bot', roleIds: [role.id], contact: 'Ops team' });
    const bot = await admin('POST', '/api/v1/mcp/agents', { name: 'Ticket bot', roleIds: [role.id] });
    const key = await admin('POST', `/api/v1/mcp/agents/${bot.id}/keys`, { name: 'bot key', expiresAt: new Date(Date.now() + 3 * 86_400_000).toISOString() });
    await admin('POST', `/api/v1/mcp/idp-providers/${idp.id}/deactivate`);
    const client = await t.connect({ token: key.secret });
    await client.callTool({ name: 'tickets.read', arguments: { id: 'T-1' } });
    await client.callTool({ name: 'tickets.close', arguments: { id: 'T-1' } });
    await client.close();
    await t.engine.resolve<AuditSink>(AuditSink).flush();
    await admin('POST', '/api/v1/mcp/policies', {
      name: 'Business hours',
      text: 'forbid (principal, action == Action::"tickets.close", resource)\nunless { context.time.hour >= 8 && context.time.hour < 18 };',
    });
    await admin('PATCH', `/api/v1/mcp/policies/${(await admin('GET', '/api/v1/mcp/policies')).policies[0].id}`, {
      text: 'forbid (principal, action == Action::"tickets.close", resource)\nunless { context.time.hour >= 7 && context.time.hour < 19 };',
    });
  });

  after(async () => {
    await browser?.close();
    await t?.close();
  });

  for (const viewport of [
    { width: 1280, height: 900 },
    { width: 800, height: 900 },
    { width: 390, height: 844 },
  ]) {
    it(`has no serious or critical violation on any page at ${viewport.width} px`, async () => {
      const { context, page } = await openPage(browser, viewport);
      const problems: string[] = [];
      const check = async (where: string) => problems.push(...(await seriousViolations(page)).map((problem) => `${where}: ${problem}`));
      try {
        await page.goto(t.adminUrl);
        await page.getByLabel('Admin API key').waitFor();
        await check('sign-in');
        await page.getByLabel('Admin API key').fill('ghk_not_a_key');
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.locator('.field-error').waitFor();
        await check('sign-in with an error');
        await signIn(page, t.adminUrl, t.adminKey);

        await goTo(page, 'Onboard an agent');
        await check('onboarding');
        await goTo(page, 'Identity providers');
        await page.getByRole('button', { name: 'Add identity provider' }).click();
        await page.getByRole('button', { name: 'Add provider' }).click();
        await page.locator('.field-error').first().waitFor();
        await check('identity providers with an invalid form');
        await goTo(page, 'Agents');
        await page.locator('td.agent-name', { hasText: 'SSO bot' }).waitFor();
        await page.locator('tr', { hasText: 'Ticket bot' }).getByRole('button', { name: 'Keys' }).click();
        await page.locator('.key-list').waitFor();
        await check('agents with keys open');
        await page.getByRole('button', { name: 'Create agent' }).click();
        await check('agents with the form open');
        await goTo(page, 'Roles');
        await page.getByRole('button', { name: 'Create role' }).click();
        await check('roles with the form open');
        await goTo(page, 'Policies');
        await page.locator('tr[data-policy="Business hours"]').getByRole('button', { name: 'History of Business hours' }).click();
        await page.getByRole('region', { name: 'History of Business hours' }).locator('.diff').first().waitFor();
        await page.locator('tr[data-policy="Business hours"]').getByRole('button', { name: 'Edit' }).click();
        await page.locator('.policy-editor[data-state="ready"]').waitFor();
        await page.getByRole('textbox', { name: 'Policy (Cedar)' }).click();
        await page.keyboard.press('Control+End');
        await page.keyboard.insertText(' nonsense');
        await page.locator('.problems li').first().waitFor();
        await check('policies with the editor showing a problem and the history open');
        await goTo(page, 'Approvals');
        await check('approvals');
        await goTo(page, 'Audit');
        await page.getByRole('table', { name: 'Audit events' }).locator('tbody tr').first().getByRole('button').click();
        await page.getByRole('complementary', { name: 'Audit event' }).waitFor();
        await check('audit with an event open');
        await goTo(page, 'Access check');
        await page.getByLabel('Agent').selectOption({ label: 'Ticket bot' });
        await page.getByRole('table', { name: 'Tool access' }).waitFor();
        const simulator = page.getByRole('form', { name: 'Simulate a call' });
        await simulator.getByLabel('Tool', { exact: true }).selectOption('tickets.close');
        await simulator.getByLabel('id (required)').fill('T-1');
        await simulator.getByRole('button', { name: 'Simulate', exact: true }).click();
        await simulator.locator('[data-decision]').waitFor();
        await check('access check with a simulated call');
        expect(await page.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } }; innerWidth: number }).document.documentElement.scrollWidth <= (globalThis as unknown as { innerWidth: number }).innerWidth + 1)).to.equal(true);
      } finally {
        await context.close();
      }
      expect(problems, problems.join('\n')).to.deep.equal([]);
    });
  }

  it('is operable by keyboard: sign in, move between pages, open an audit event', async () => {
    const { context, page } = await openPage(browser);
    try {
      await page.goto(t.adminUrl);
      await page.getByLabel('Admin API key').waitFor();
      await page.keyboard.press('Tab');
      await page.keyboard.type(t.adminKey);
      await page.keyboard.press('Enter');
      const nav = page.getByRole('navigation', { name: 'Admin pages' });
      await nav.waitFor();
      await nav.getByRole('link', { name: 'Audit', exact: true }).focus();
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { level: 1, name: 'Audit' }).waitFor();
      const first = page.getByRole('table', { name: 'Audit events' }).locator('tbody tr').first().getByRole('button');
      await first.focus();
      await page.keyboard.press('Enter');
      const detail = page.getByRole('complementary', { name: 'Audit event' });
      await detail.waitFor();
      await detail.getByRole('button', { name: 'Close' }).focus();
      await page.keyboard.press('Enter');
      await detail.waitFor({ state: 'detached' });
      const focusVisible = await first.evaluate((element) => {
        (element as unknown as { focus(): void }).focus();
        const style = (globalThis as unknown as { getComputedStyle(e: unknown): { outlineStyle: string; boxShadow: string } }).getComputedStyle(element);
        return style.outlineStyle !== 'none' || style.boxShadow !== 'none';
      });
      expect(focusVisible, 'a focused control shows it').to.equal(true);
    } finally {
      await context.close();
    }
  });
});
