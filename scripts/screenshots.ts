/**
 * Regenerates the admin UI screenshots in docs/images/ (`npm run screenshots`): starts a seeded
 * Enterprise engine and an OpenID provider on 127.0.0.1, signs in with Chromium and captures
 * each page.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { AuditSink } from '@gatehouse-mcp/engine';
import { startOidcProvider } from '../test/ee/support/oidc.js';
import { goTo, launchChromium, openPage, signIn, startUiEngine } from '../test/ee/ui/support.js';

const out = join(process.cwd(), 'docs', 'images');
mkdirSync(out, { recursive: true });

const idp = await startOidcProvider();
const t = await startUiEngine();
const browser = await launchChromium();
try {
  const admin = async (method: string, path: string, body?: unknown): Promise<any> => {
    const response = await fetch(`${t.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${t.adminKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return ((await response.json()) as { data: unknown }).data;
  };

  const corporate = await admin('POST', '/api/v1/mcp/idp-providers', { kind: 'custom', name: 'Corporate IdP', issuer: idp.issuer });
  const staff = await admin('POST', '/api/v1/mcp/idp-providers', { kind: 'keycloak', name: 'Staff SSO', realmUrl: 'https://sso.example.com/realms/staff' });
  await admin('POST', `/api/v1/mcp/idp-providers/${staff.id}/deactivate`);
  const reader = await admin('POST', '/api/v1/mcp/roles', { name: 'ticket reader', description: 'Reads tickets', permissions: ['tickets:read'] });
  const ticketAdmin = await admin('POST', '/api/v1/mcp/roles', { name: 'ticket admin', description: 'Everything on tickets', permissions: ['tickets:*'] });
  const client = await idp.registerClient('ticket-bot');
  await admin('POST', '/api/v1/mcp/agents', { name: 'Ticket bot', idpId: corporate.id, subject: client.clientId, roleIds: [reader.id] });
  const nightly = await admin('POST', '/api/v1/mcp/agents', { name: 'Nightly report', roleIds: [reader.id] });
  await admin('POST', `/api/v1/mcp/agents/${nightly.id}/keys`, { name: 'report runner', expiresAt: new Date(Date.now() + 9 * 86_400_000).toISOString() });
  await admin('POST', '/api/v1/mcp/agents', { name: 'Staff helper', idpId: staff.id, subject: 'staff-helper', roleIds: [reader.id], contact: 'IT operations' });
  await admin('POST', '/api/v1/mcp/agents', { name: 'New intake bot', contact: 'Ana Souza' });

  const authProvider = new ClientCredentialsProvider({ clientId: client.clientId, clientSecret: client.clientSecret, expectedIssuer: idp.issuer });
  const agent = new Client({ name: 'ticket-bot', version: '1.0.0' });
  await agent.connect(new StreamableHTTPClientTransport(new URL(t.engine.mcpUrl(t.tenant)), { authProvider }));
  await agent.callTool({ name: 'tickets.read', arguments: { id: 'T-1042' } });
  await agent.callTool({ name: 'tickets.read', arguments: { id: 'T-1043' } });
  await agent.callTool({ name: 'tickets.close', arguments: { id: 'T-1042' } });
  await agent.close();
  await t.engine.resolve<AuditSink>(AuditSink).flush();

  // A policy with a history: written, then widened by an hour on each side.
  const hours = await admin('POST', '/api/v1/mcp/policies', {
    name: 'Business hours',
    description: 'Tickets are closed during office hours only',
    text: '// Closing a ticket waits for office hours (UTC).\nforbid (principal, action == Action::"tickets.close", resource)\nunless { context.time.hour >= 8 && context.time.hour < 18 };',
  });
  await admin('PATCH', `/api/v1/mcp/policies/${hours.id}`, {
    text: '// Closing a ticket waits for office hours (UTC).\nforbid (principal, action == Action::"tickets.close", resource)\nunless { context.time.hour >= 7 && context.time.hour < 19 };',
  });

  /**
   * One set per width: 1280 px (`admin-<page>.png`) and, for the pages used from a phone,
   * 390 px (`admin-<page>-390.png`).
   */
  const capture = async (width: number, agentName: string) => {
    const phone = width < 600;
    const { page, context } = await openPage(browser, { width, height: phone ? 844 : 800 });
    const shot = async (name: string, fullPage = false, onPhone = true) => {
      if (phone && !onPhone) return;
      await page.screenshot({ path: join(out, `admin-${name}${phone ? `-${width}` : ''}.png`), fullPage });
    };

    await page.goto(t.adminUrl);
    await page.getByLabel('Admin API key').waitFor();
    await shot('sign-in');

    await signIn(page, t.adminUrl, t.adminKey);

    // The onboarding flow, from choosing the provider to the agent's first call.
    const bot = await idp.registerClient(agentName);
    await goTo(page, 'Onboard an agent');
    await page.getByLabel('Corporate IdP').check();
    const form = page.getByRole('form', { name: 'Onboard an agent' });
    await form.getByLabel('Name', { exact: true }).fill(agentName);
    await form.getByLabel('Client id').fill(bot.clientId);
    await form.getByLabel('Owner / contact (optional)').fill('Service desk team');
    await form.getByLabel('ticket reader').check();
    await shot('onboard', true, false);
    await form.getByRole('button', { name: 'Create the agent' }).click();
    await page.locator('.first-call[data-state="waiting"]').waitFor();
    await shot('onboard-waiting', true, false);
    const botAuth = new ClientCredentialsProvider({ clientId: bot.clientId, clientSecret: bot.clientSecret, expectedIssuer: idp.issuer });
    const botClient = new Client({ name: agentName, version: '1.0.0' });
    await botClient.connect(new StreamableHTTPClientTransport(new URL(t.engine.mcpUrl(t.tenant)), { authProvider: botAuth }));
    await page.locator('.first-call[data-state="done"]').waitFor({ timeout: 15_000 });
    await botClient.close();
    await shot('onboard-done', true);

    await goTo(page, 'Identity providers');
    const row = page.locator('tr[data-idp="Corporate IdP"]');
    await row.getByRole('button', { name: 'Test' }).click();
    await row.locator('.test-result').waitFor();
    await shot('idps', false, false);

    await page.getByRole('button', { name: 'Add identity provider' }).click();
    await page.getByLabel('Microsoft Entra ID').check();
    await page.getByLabel('Directory (tenant) ID').fill('common');
    await page.getByRole('button', { name: 'Add provider' }).click();
    await page.locator('.field-error[data-field="directoryId"]').waitFor();
    await shot('idp-add', false, false);

    await goTo(page, 'Agents');
    await page.locator('td.agent-name', { hasText: 'Ticket bot' }).waitFor();
    await shot('agents', phone);

    await goTo(page, 'Roles');
    await page.locator('tr[data-role="ticket admin"]').waitFor();
    await page.getByRole('button', { name: 'Create role' }).click();
    await shot('roles', false, false);

    if (!phone) {
      // The policy editor with the validator's message in the text, then a history with its diff.
      await goTo(page, 'Policies');
      await page.getByRole('button', { name: 'Create policy' }).click();
      const policy = page.getByRole('form', { name: 'Create policy' });
      await policy.getByLabel('Name', { exact: true }).fill('No VIP closures');
      await policy.getByRole('textbox', { name: 'Policy (Cedar)' }).click();
      await page.keyboard.insertText('// VIP tickets are closed by people, not agents.\nforbid (principal, action == Action::"tickets.close", resource)\nwhen { context.arguments.ticket like "VIP-*" };');
      await policy.locator('.cm-lintRange-error').first().waitFor();
      await shot('policies', true, false);
      await policy.getByRole('button', { name: 'Cancel' }).click();
      await page.getByRole('button', { name: 'History of Business hours' }).click();
      await page.getByRole('region', { name: 'History of Business hours' }).locator('.diff').first().waitFor();
      await shot('policy-history', true, false);
    }

    await goTo(page, 'Audit');
    const denied = page.getByRole('table', { name: 'Audit events' }).locator('tbody tr', { hasText: 'tickets.close' });
    await denied.getByRole('button').click();
    await page.getByRole('complementary', { name: 'Audit event' }).waitFor();
    await shot('audit', true);

    await goTo(page, 'Access check');
    await page.getByLabel('Agent').selectOption({ label: 'Ticket bot' });
    await page.getByRole('table', { name: 'Tool access' }).waitFor();
    await shot('access-check', phone);
    if (!phone) {
      // The simulator: an agent that may close tickets closes one at 21:00 UTC, refused by the
      // business-hours policy. The agent exists for this picture only.
      const triage = await admin('POST', '/api/v1/mcp/agents', { name: 'Ticket triage', roleIds: [ticketAdmin.id] });
      await admin('POST', `/api/v1/mcp/agents/${triage.id}/keys`, { name: 'triage runner' });
      await goTo(page, 'Policies');
      await goTo(page, 'Access check');
      await page.getByLabel('Agent').selectOption({ label: 'Ticket triage' });
      await page.getByRole('table', { name: 'Tool access' }).waitFor();
      const simulator = page.getByRole('form', { name: 'Simulate a call' });
      await simulator.getByLabel('Tool', { exact: true }).selectOption('tickets.close');
      await simulator.getByLabel('id (required)').fill('T-1042');
      const late = new Date();
      late.setUTCHours(21, 0, 0, 0);
      const local = new Date(late.getTime() - late.getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
      await simulator.getByLabel('Time of the call (optional)').fill(local);
      await simulator.getByRole('button', { name: 'Simulate', exact: true }).click();
      await simulator.locator('[data-decision]').waitFor();
      await simulator.scrollIntoViewIfNeeded();
      await shot('policy-simulator', true, false);
      await admin('DELETE', `/api/v1/mcp/agents/${triage.id}`);
    }
    await context.close();
  };

  await capture(1280, 'Billing bot');
  await capture(390, 'Billing bot (phone)');
  console.log(`screenshots written to ${out}`);
} finally {
  await browser.close();
  await t.close();
  await idp.close();
}
// The test kit's shared database stays open for the life of the process; this script is done.
process.exit(0);
