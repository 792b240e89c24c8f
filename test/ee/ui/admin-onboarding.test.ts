import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startOidcProvider, type OidcFixture } from '../support/oidc.js';
import { goTo, launchChromium, openPage, signIn, startUiEngine, type UiEngine, skipWithoutChromium, adminRequest } from './support.js';

const run = promisify(execFile);

describe('EE admin UI: onboarding an agent end to end', function () {
  before(function () {
    skipWithoutChromium(this);
  });
  this.timeout(90_000);
  let t: UiEngine;
  let idp: OidcFixture;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  const admin = (method: string, path: string, body?: unknown): Promise<any> => adminRequest(t.url, t.adminKey, method, path, body);
  const handover = async (id: string) => (await page.locator(`[data-handover="${id}"]`).textContent())!.trim();

  before(async () => {
    [t, idp, browser] = await Promise.all([startUiEngine(), startOidcProvider(), launchChromium()]);
    ({ context, page } = await openPage(browser));
    await signIn(page, t.adminUrl, t.adminKey);
    await admin('POST', '/api/v1/mcp/roles', { name: 'Ticket reader', permissions: ['tickets:read'] });
  });

  after(async () => {
    await context?.close();
    await browser?.close();
    await t?.close();
    await idp?.close();
  });

  it('adds the IdP, creates the agent, hands over URL, token request and connector command, and turns green on the first call', async () => {
    const client = await idp.registerClient('ticket-bot');
    await goTo(page, 'Onboard an agent');

    // 1. No provider yet: the flow offers to add one, in place.
    const idpForm = page.getByRole('form', { name: 'Add identity provider' });
    await idpForm.getByLabel('Custom OpenID provider').check();
    await idpForm.getByLabel('Name', { exact: true }).fill('Corporate IdP');
    await idpForm.getByLabel('Issuer', { exact: true }).fill(idp.issuer);
    await idpForm.getByRole('button', { name: 'Add provider' }).click();
    expect(await page.getByLabel('Corporate IdP').isChecked()).to.equal(true);

    // 2. and 3. The agent, its client id and its role.
    const form = page.getByRole('form', { name: 'Onboard an agent' });
    await form.getByRole('button', { name: 'Create the agent' }).click();
    await form.locator('.field-error[data-field="name"]').waitFor();
    expect(await form.locator('.field-error[data-field="subject"]').count(), 'both missing fields at once').to.equal(1);
    await form.getByLabel('Name', { exact: true }).fill('Ticket bot');
    await form.getByLabel('Client id').fill(client.clientId);
    await form.getByLabel('Ticket reader').check();
    await form.getByRole('button', { name: 'Create the agent' }).click();

    // What the operator gets.
    await page.getByRole('heading', { name: 'Give this to Ticket bot’s operator' }).waitFor();
    const mcpUrl = t.engine.mcpUrl(t.tenant);
    expect(await handover('mcp-url')).to.equal(mcpUrl);
    const tokenRequest = await handover('token-request');
    expect(tokenRequest).to.include(`resource=${mcpUrl}`).and.include(`${idp.issuer}/.well-known/openid-configuration`);
    const connector = await handover('connector');
    expect(connector).to.include(`--url ${mcpUrl}`).and.include(`--issuer ${idp.issuer}`).and.include(`--client-id ${client.clientId}`);
    const indicator = page.locator('.first-call');
    expect(await indicator.getAttribute('data-state')).to.equal('waiting');
    expect(await indicator.textContent()).to.include('Waiting for the first call');

    // The token request works as shown (the operator's shell, with the secret in the environment)…
    const { stdout } = await run('bash', ['-c', tokenRequest], { env: { ...process.env, GATEHOUSE_CLIENT_SECRET: client.clientSecret } });
    const token = (JSON.parse(stdout) as { access_token: string }).access_token;
    expect(token, stdout).to.be.a('string');
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(await indicator.getAttribute('data-state'), 'a token alone is not a call').to.equal('waiting');

    // …and the agent's first authenticated call turns the indicator green.
    const response = await fetch(mcpUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'ticket-bot', version: '1.0.0' } } }),
    });
    expect(response.status).to.equal(200);
    await page.locator('.first-call[data-state="done"]').waitFor({ timeout: 10_000 });
    expect(await indicator.textContent()).to.include('First call received');
    expect(await indicator.evaluate((element) => (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(element).backgroundColor)).to.equal(
      'rgb(231, 244, 236)',
    );
  });

  it('for an agent without an identity provider, hands over a connector command with its new API key that works', async () => {
    await goTo(page, 'Agents');
    await goTo(page, 'Onboard an agent');
    await page.getByLabel('No identity provider: an API key issued here').check();
    const form = page.getByRole('form', { name: 'Onboard an agent' });
    await form.getByLabel('Name', { exact: true }).fill('Nightly report');
    await form.getByRole('button', { name: 'Create the agent' }).click();
    await page.getByRole('heading', { name: 'Give this to Nightly report’s operator' }).waitFor();
    expect(await page.locator('[data-handover="token-request"]').count()).to.equal(0);
    const connector = await handover('connector');
    const key = connector.match(/^GATEHOUSE_API_KEY=(\S+) /)?.[1];
    expect(key, connector).to.be.a('string');
    expect(connector).to.include(`--url ${t.engine.mcpUrl(t.tenant)}`);
    const response = await fetch(t.engine.mcpUrl(t.tenant), {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
    });
    expect(response.status).to.equal(200);
    await page.locator('.first-call[data-state="done"]').waitFor({ timeout: 10_000 });
  });
});
