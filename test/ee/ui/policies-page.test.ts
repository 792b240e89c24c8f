import { expect } from 'chai';
import type { Browser, Page } from 'playwright-core';
import { defineTool, definePlugin, z } from '@gatehouse-mcp/engine';
import { adminRequest, goTo, launchChromium, openPage, signIn, skipWithoutChromium, startUiEngine, type UiEngine } from './support.js';

/** A tool whose input has every kind of field the simulator's argument editor generates. */
const invoiceTools = definePlugin({
  id: 'invoice-tools',
  tools: [
    defineTool({
      name: 'invoices.update',
      description: 'Update an invoice.',
      permission: 'invoices:write',
      input: z.object({
        id: z.string().describe('The invoice number.'),
        amount: z.number(),
        currency: z.enum(['EUR', 'USD']),
        urgent: z.boolean().optional(),
        customer: z.object({ name: z.string(), tier: z.number().int() }),
        tags: z.array(z.string()).optional(),
        lines: z.array(z.object({ sku: z.string(), quantity: z.number().int() })).optional(),
      }),
      handler: ({ id }) => `updated ${id}`,
    }),
  ],
});

/** Replaces the policy editor's text the way a person does: select everything, delete it, type. */
async function typePolicy(page: Page, text: string): Promise<void> {
  await page.getByRole('textbox', { name: 'Policy (Cedar)' }).click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Backspace');
  await page.keyboard.insertText(text);
}

/** Every HTTP answer of 400 or more the page received, as "METHOD /path status". */
function recordFailures(page: Page): string[] {
  const failures: string[] = [];
  page.on('response', (response) => {
    if (response.status() >= 400) failures.push(`${response.request().method()} ${new URL(response.url()).pathname} ${response.status()}`);
  });
  return failures;
}

/** Every CSP violation the page reports, recorded from its first script on. */
async function recordCspViolations(page: Page): Promise<() => Promise<string[]>> {
  await page.addInitScript(() => {
    const found: string[] = [];
    (globalThis as unknown as { cspViolations: string[] }).cspViolations = found;
    const target = globalThis as unknown as { addEventListener(type: string, listener: (event: { violatedDirective: string; blockedURI: string }) => void): void };
    target.addEventListener('securitypolicyviolation', (event) => found.push(`${event.violatedDirective} ${event.blockedURI}`));
  });
  return () => page.evaluate(() => (globalThis as unknown as { cspViolations: string[] }).cspViolations);
}

const BROKEN = `// VIP tickets are closed by people, not agents.
forbid (principal, action == Action::"tickets.close", resource)
when { context.arguments.ticket like "VIP-*" };`;

const FIXED = BROKEN.replace('context.arguments.ticket', 'context.arguments.id');

describe('EE admin UI: the Policies page and the call simulator (Chromium)', function () {
  before(function () {
    skipWithoutChromium(this);
  });
  this.timeout(120_000);
  let t: UiEngine;
  let browser: Browser;
  let agentKey: string;

  const admin = (method: string, path: string, body?: unknown): Promise<any> => adminRequest(t.url, t.adminKey, method, path, body);

  before(async () => {
    [t, browser] = await Promise.all([startUiEngine([invoiceTools]), launchChromium()]);
    const role = await admin('POST', '/api/v1/mcp/roles', { name: 'Ticket admin', permissions: ['tickets:*', 'invoices:write'] });
    const bot = await admin('POST', '/api/v1/mcp/agents', { name: 'Ticket bot', roleIds: [role.id] });
    agentKey = (await admin('POST', `/api/v1/mcp/agents/${bot.id}/keys`, { name: 'bot key' })).secret;
  });

  after(async () => {
    await browser?.close();
    await t?.close();
  });

  /** Simulates tickets.close of `id` on the access check page and returns the decision shown. */
  async function simulateClose(page: Page, id: string): Promise<{ decision: string; text: string }> {
    const simulator = page.getByRole('form', { name: 'Simulate a call' });
    await simulator.getByLabel('Tool', { exact: true }).selectOption('tickets.close');
    await simulator.getByLabel('id (required)').fill(id);
    return simulate(page);
  }

  /** Presses Simulate and returns the decision this press brought. */
  async function simulate(page: Page): Promise<{ decision: string; text: string }> {
    const simulator = page.getByRole('form', { name: 'Simulate a call' });
    const result = simulator.getByRole('status', { name: 'Simulated decision' });
    const done = Number((await result.getAttribute('data-simulations')) ?? '0');
    await simulator.getByRole('button', { name: 'Simulate', exact: true }).click();
    // The answer of this click, not the one shown before it.
    await simulator.locator(`[data-simulations="${done + 1}"]`).waitFor();
    const decision = result.locator('[data-decision]');
    return { decision: (await decision.getAttribute('data-decision')) ?? '', text: (await result.textContent()) ?? '' };
  }

  it('writes a policy, sees the validator’s error inline, fixes and saves it, and the simulator shows that policy decide', async () => {
    const { context, page, errors } = await openPage(browser);
    const violations = await recordCspViolations(page);
    const failures = recordFailures(page);
    try {
      await signIn(page, t.adminUrl, t.adminKey);
      await goTo(page, 'Policies');
      await page.getByText('No policies yet').waitFor();
      await page.getByRole('button', { name: 'Create policy' }).click();
      const form = page.getByRole('form', { name: 'Create policy' });
      expect(await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { id: string } } }).document.activeElement.id)).to.equal('field-name');
      await form.getByLabel('Name', { exact: true }).fill('No VIP closures');
      await typePolicy(page, BROKEN);

      // The validator's message, as the admin types: in the list under the editor and marked in the text.
      const problem = form.locator('.problems li').first();
      await problem.waitFor();
      expect(await problem.textContent()).to.include('ticket');
      const marked = form.locator('.cm-lintRange-error');
      await marked.first().waitFor();
      expect(await marked.first().textContent()).to.include('ticket');
      expect(await page.getByRole('textbox', { name: 'Policy (Cedar)' }).getAttribute('aria-invalid')).to.equal('true');
      // Highlighted by the editor: the keyword is coloured apart from the names around it.
      const keyword = form.locator('.cedar-keyword', { hasText: 'forbid' });
      await keyword.waitFor();
      expect(await keyword.evaluate((element) => (globalThis as unknown as { getComputedStyle(e: unknown): { color: string } }).getComputedStyle(element).color)).to.not.equal(
        await form.locator('.cm-line').nth(1).evaluate((element) => (globalThis as unknown as { getComputedStyle(e: unknown): { color: string } }).getComputedStyle(element).color),
      );

      // Saving it anyway is refused with the same message, and nothing is stored.
      await form.getByRole('button', { name: 'Create policy' }).click();
      await form.getByText('Not saved: the policy has the problems marked in its text.').waitFor();
      expect((await admin('GET', '/api/v1/mcp/policies')).policies).to.deep.equal([]);

      await typePolicy(page, FIXED);
      await form.getByText('No problems found.').waitFor();
      expect(await form.locator('.cm-lintRange-error').count()).to.equal(0);
      await form.getByRole('button', { name: 'Create policy' }).click();
      const row = page.locator('tr[data-policy="No VIP closures"]');
      await row.waitFor();
      await page.getByRole('status').filter({ hasText: 'Saved No VIP closures' }).waitFor();
      expect(await row.getByRole('switch', { name: 'No VIP closures enabled' }).isChecked()).to.equal(true);
      const stored = (await admin('GET', '/api/v1/mcp/policies')) as { version: number; policies: { name: string; text: string; enabled: boolean }[] };
      expect(stored.policies.map(({ name, text, enabled }) => ({ name, text, enabled }))).to.deep.equal([{ name: 'No VIP closures', text: FIXED, enabled: true }]);
      expect(await page.locator('.policy-set-version [data-version]').textContent()).to.equal(String(stored.version));

      await goTo(page, 'Access check');
      await page.getByLabel('Agent').selectOption({ label: 'Ticket bot' });
      const vip = await simulateClose(page, 'VIP-7');
      expect(vip.decision).to.equal('deny');
      expect(vip.text).to.include('decided by the tenant’s policies');
      const decidedBy = page.getByRole('form', { name: 'Simulate a call' }).getByRole('link', { name: 'No VIP closures' });
      expect(await decidedBy.getAttribute('href')).to.match(/^#\/policies\/[0-9a-f-]{36}$/);
      const plain = await simulateClose(page, 'T-1');
      expect(plain.decision).to.equal('allow');

      // The simulator said what a real call meets.
      const client = await t.connect({ token: agentKey });
      try {
        expect((await client.callTool({ name: 'tickets.close', arguments: { id: 'VIP-7' } })).isError).to.equal(true);
        expect((await client.callTool({ name: 'tickets.close', arguments: { id: 'T-1' } })).isError).to.not.equal(true);
      } finally {
        await client.close();
      }

      expect(await violations()).to.deep.equal([]);
      // Only the two refusals the page expects: no session before signing in, and the broken policy.
      expect(failures).to.deep.equal(['GET /admin/session 401', 'POST /api/v1/mcp/policies 400']);
      expect(errors.filter((error) => !error.startsWith('Failed to load resource'))).to.deep.equal([]);
    } finally {
      await context.close();
    }
  });

  it('disables and re-enables a policy from the list (the simulator follows), and shows each change in the history with its diff', async () => {
    const { context, page, errors } = await openPage(browser);
    const violations = await recordCspViolations(page);
    const failures = recordFailures(page);
    try {
      await signIn(page, t.adminUrl, t.adminKey);
      await goTo(page, 'Policies');
      const row = page.locator('tr[data-policy="No VIP closures"]');
      const toggle = row.getByRole('switch', { name: 'No VIP closures enabled' });
      const version = async () => Number(await page.locator('.policy-set-version [data-version]').textContent());
      const before = await version();

      await toggle.click();
      await page.getByRole('status').filter({ hasText: 'Disabled No VIP closures' }).waitFor();
      expect(await toggle.isChecked()).to.equal(false);
      expect(await version()).to.equal(before + 1);
      expect((await admin('GET', '/api/v1/mcp/policies')).policies[0].enabled).to.equal(false);

      await goTo(page, 'Access check');
      await page.getByLabel('Agent').selectOption({ label: 'Ticket bot' });
      expect((await simulateClose(page, 'VIP-7')).decision).to.equal('allow');

      await goTo(page, 'Policies');
      await row.getByRole('switch', { name: 'No VIP closures enabled' }).click();
      await page.getByRole('status').filter({ hasText: 'Enabled No VIP closures' }).waitFor();
      expect(await version()).to.equal(before + 2);

      // An edit of the text: the history shows the removed line and the added one.
      await row.getByRole('button', { name: 'Edit' }).click();
      const form = page.getByRole('form', { name: 'Edit policy' });
      await form.locator('.cm-line', { hasText: 'VIP-*' }).waitFor();
      await typePolicy(page, FIXED.replace('"VIP-*"', '"VIP-*" || context.arguments.id like "BOARD-*"'));
      await form.getByText('No problems found.').waitFor();
      await form.getByRole('button', { name: 'Save' }).click();
      await page.getByRole('status').filter({ hasText: 'Saved No VIP closures' }).waitFor();

      await row.getByRole('button', { name: 'History of No VIP closures' }).click();
      const history = page.getByRole('region', { name: 'History of No VIP closures' });
      await history.locator('li').nth(3).waitFor();
      const entries = await history.locator('.history-entry').allTextContents();
      expect(entries.map((entry) => /Version \d+ · ([a-z ]+)/.exec(entry)?.[1]?.trim())).to.deep.equal(['text changed', 'enabled', 'disabled', 'created']);
      const latest = history.locator('li').first();
      expect(await latest.locator('del.diff-del').allTextContents()).to.deep.equal(['-when { context.arguments.id like "VIP-*" };']);
      expect(await latest.locator('ins.diff-add').allTextContents()).to.deep.equal(['+when { context.arguments.id like "VIP-*" || context.arguments.id like "BOARD-*" };']);
      // Focus moves to the history and back to its button when it closes.
      expect(await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { id: string } } }).document.activeElement.id)).to.equal('policy-history-title');
      await history.getByRole('button', { name: 'Close history' }).click();
      await history.waitFor({ state: 'detached' });
      // Focus goes back once the history is gone (a task after the render that removes it).
      await page
        .waitForFunction(() => (globalThis as unknown as { document: { activeElement: { getAttribute(n: string): string | null } | null } }).document.activeElement?.getAttribute('aria-label') === 'History of No VIP closures', undefined, { timeout: 5000 })
        .catch(() => undefined);
      expect(await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { getAttribute(n: string): string | null } } }).document.activeElement.getAttribute('aria-label'))).to.equal(
        'History of No VIP closures',
      );

      expect(await violations()).to.deep.equal([]);
      expect(failures).to.deep.equal(['GET /admin/session 401']);
      expect(errors.filter((error) => !error.startsWith('Failed to load resource'))).to.deep.equal([]);
    } finally {
      await context.close();
    }
  });

  it('generates the argument editor from the tool’s input schema (text, number, choice, yes/no, nested object, list, JSON) and simulates exactly those arguments', async () => {
    await admin('POST', '/api/v1/mcp/policies', {
      name: 'Big invoices of top customers',
      text: `forbid (principal, action == Action::"invoices.update", resource)
when { context.arguments.amount.greaterThan(decimal("5000.0")) && context.arguments.currency == "EUR" && context.arguments.customer.tier == 1 };`,
    });
    const { context, page, errors } = await openPage(browser);
    const violations = await recordCspViolations(page);
    const failures = recordFailures(page);
    try {
      await signIn(page, t.adminUrl, t.adminKey);
      await goTo(page, 'Access check');
      await page.getByLabel('Agent').selectOption({ label: 'Ticket bot' });
      // The table's button picks the tool in the simulator and moves focus there.
      await page.getByRole('button', { name: 'Simulate a call of invoices.update' }).click();
      const simulator = page.getByRole('form', { name: 'Simulate a call' });
      // The pick reaches the simulator after the next paint: wait for it rather than read at once.
      await page.waitForFunction(() => (globalThis as unknown as { document: { getElementById(id: string): { value: string } | null } }).document.getElementById('simulate-tool')?.value === 'invoices.update');
      expect(await simulator.getByLabel('Tool', { exact: true }).inputValue()).to.equal('invoices.update');
      expect(await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { id: string } } }).document.activeElement.id)).to.equal('simulate-tool');

      await simulator.getByLabel('id (required)').fill('INV-7');
      // Typed key by key: the half-typed "7000." and "audit, " stay as typed.
      await simulator.getByLabel('amount (required)').pressSequentially('7000.5');
      await simulator.getByLabel('currency (required)').selectOption('EUR');
      await simulator.getByLabel('urgent').selectOption('true');
      const customer = simulator.getByRole('group', { name: 'customer (required)' });
      await customer.getByLabel('name (required)').fill('ACME');
      await customer.getByLabel('tier (required)').fill('1');
      await simulator.getByLabel('tags').pressSequentially('audit, q3');
      await simulator.getByLabel('lines').fill('[{"sku": "A-1", "quantity": 2}]');

      await simulator.getByRole('button', { name: 'Edit as JSON' }).click();
      const raw = simulator.getByLabel('Arguments as JSON');
      expect(JSON.parse(await raw.inputValue())).to.deep.equal({
        id: 'INV-7',
        amount: 7000.5,
        currency: 'EUR',
        urgent: true,
        customer: { name: 'ACME', tier: 1 },
        tags: ['audit', 'q3'],
        lines: [{ sku: 'A-1', quantity: 2 }],
      });
      const refused = await simulate(page);
      expect(refused.decision).to.equal('deny');
      expect(refused.text).to.include('Big invoices of top customers');

      // A change in the JSON shows in the form when switching back, and the policy no longer applies.
      const json = JSON.parse(await raw.inputValue()) as { customer: { tier: number } };
      json.customer.tier = 2;
      await raw.fill(JSON.stringify(json));
      await simulator.getByRole('button', { name: 'Edit as a form' }).click();
      expect(await simulator.getByRole('group', { name: 'customer (required)' }).getByLabel('tier (required)').inputValue()).to.equal('2');
      expect((await simulate(page)).decision).to.equal('allow');

      // JSON that is not an object is stopped in the page, saying why.
      await simulator.getByRole('button', { name: 'Edit as JSON' }).click();
      await raw.fill('{"id": ');
      await simulator.locator('#arguments-json-error').waitFor();
      await simulator.getByRole('button', { name: 'Simulate', exact: true }).click();
      await simulator.getByText('The arguments are not a JSON object yet').waitFor();

      expect(await violations()).to.deep.equal([]);
      expect(failures).to.deep.equal(['GET /admin/session 401']);
      expect(errors.filter((error) => !error.startsWith('Failed to load resource'))).to.deep.equal([]);
    } finally {
      await context.close();
    }
  });

  it('shows a policy that fails at run time: the simulator lists the error, the Policies page shows it on top and on the policy', async () => {
    // Valid against the schema, but the multiplication overflows for tiers above 4: evaluating it errs.
    const broken = await admin('POST', '/api/v1/mcp/policies', {
      name: 'Tier arithmetic',
      text: 'forbid (principal, action == Action::"invoices.update", resource)\nwhen { context.arguments.customer.tier * 2000000000000000000 < 0 };',
    });
    const { context, page } = await openPage(browser);
    const violations = await recordCspViolations(page);
    try {
      await signIn(page, t.adminUrl, t.adminKey);
      await goTo(page, 'Access check');
      await page.getByLabel('Agent').selectOption({ label: 'Ticket bot' });
      const simulator = page.getByRole('form', { name: 'Simulate a call' });
      await simulator.getByLabel('Tool', { exact: true }).selectOption('invoices.update');
      await simulator.getByRole('button', { name: 'Edit as JSON' }).click();
      await simulator.getByLabel('Arguments as JSON').fill(JSON.stringify({ id: 'INV-9', amount: 10, currency: 'USD', customer: { name: 'ACME', tier: 7 } }));
      const answer = await simulate(page);
      expect(answer.decision).to.equal('deny');
      const listed = simulator.locator('.simulation li');
      expect(await listed.count()).to.equal(1);
      expect(await listed.textContent()).to.include('Tier arithmetic').and.to.include('overflow');
      expect(await listed.getByRole('link', { name: 'Tier arithmetic' }).getAttribute('href')).to.equal(`#/policies/${broken.id}`);

      // A real call meets the same failure, and the policy keeps the error for the admin to see.
      const client = await t.connect({ token: agentKey });
      try {
        const refused = await client.callTool({ name: 'invoices.update', arguments: { id: 'INV-9', amount: 10, currency: 'USD', customer: { name: 'ACME', tier: 7 } } });
        expect(refused.isError).to.equal(true);
      } finally {
        await client.close();
      }
      let stored: string | null = null;
      for (let attempt = 0; attempt < 100 && !stored; attempt++) {
        stored = (await admin('GET', `/api/v1/mcp/policies/${broken.id}`)).lastError;
        if (!stored) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(stored).to.include('overflow');

      // Followed from the simulator's link: the page names the failing policy on top and marks its row.
      await listed.getByRole('link', { name: 'Tier arithmetic' }).click();
      await page.getByRole('heading', { level: 1, name: 'Policies' }).waitFor();
      const banner = page.locator('.policy-failures');
      await banner.waitFor();
      expect(await banner.getAttribute('role')).to.equal('alert');
      expect(await banner.textContent()).to.include('Tier arithmetic').and.to.include(stored!);
      const row = page.locator('tr[data-policy="Tier arithmetic"]');
      expect(await row.getAttribute('class')).to.include('selected').and.to.include('failing');
      expect(await row.locator('.policy-error').textContent()).to.include(stored!);
      expect(await page.locator('.policy-error').count()).to.equal(1);

      expect(await violations()).to.deep.equal([]);
    } finally {
      await context.close();
    }
  });
});
