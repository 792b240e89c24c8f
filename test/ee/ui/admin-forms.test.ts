import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { goTo, launchChromium, openPage, signIn, startUiEngine, type UiEngine, skipWithoutChromium } from './support.js';

describe('EE admin UI: forms show every problem at its field', function () {
  before(function () {
    skipWithoutChromium(this);
  });
  this.timeout(60_000);
  let t: UiEngine;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const response = await fetch(`${t.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${t.adminKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: await response.json() };
  };
  const admin = async (method: string, path: string, body?: unknown): Promise<any> => {
    const response = await call(method, path, body);
    expect(response.status, `${method} ${path}`).to.be.within(200, 299);
    return response.body.data;
  };
  const fieldError = (scope: Page | ReturnType<Page['locator']>, field: string) => scope.locator(`.field-error[data-field="${field}"]`);

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

  it('the API reports every field of an invalid provider at once, in words for people', async () => {
    const bad = await call('POST', '/api/v1/mcp/idp-providers', { kind: 'entra', name: '', directoryId: 'common', allowedAlgorithms: ['HS256'] });
    expect(bad.status).to.equal(400);
    const byField = Object.fromEntries((bad.body.error.details as { field: string; message: string }[]).map((d) => [d.field, d.message]));
    expect(Object.keys(byField).sort()).to.deep.equal(['allowedAlgorithms', 'directoryId', 'name']);
    expect(byField.name).to.equal('Enter a name.');
    expect(byField.directoryId).to.include('multi-tenant');
    expect(JSON.stringify(bad.body)).to.not.include('longer than or equal');
  });

  it('shows an empty name and the Entra "common" directory together, before saving', async () => {
    await goTo(page, 'Identity providers');
    await page.getByRole('button', { name: 'Add identity provider' }).click();
    const form = page.getByRole('form', { name: 'Add identity provider' });
    await form.getByLabel('Microsoft Entra ID').check();
    await form.getByLabel('Directory (tenant) ID').fill('common');
    await form.getByRole('button', { name: 'Add provider' }).click();
    await fieldError(form, 'name').waitFor();
    expect(await fieldError(form, 'name').textContent()).to.include('Enter a name');
    expect(await fieldError(form, 'directoryId').textContent()).to.include('multi-tenant');
    expect(await form.getByLabel('Name', { exact: true }).getAttribute('aria-invalid')).to.equal('true');
    expect(await call('GET', '/api/v1/mcp/idp-providers').then((r) => r.body.data), 'nothing was saved').to.have.length(0);
  });

  it('catches a Keycloak URL without /realms/<name> and an issuer with the wrong trailing slash', async () => {
    const form = page.getByRole('form', { name: 'Add identity provider' });
    await form.getByLabel('Keycloak').check();
    await form.getByLabel('Name', { exact: true }).fill('Staff SSO');
    await form.getByLabel('Realm URL').fill('https://sso.example.com');
    await form.getByRole('button', { name: 'Add provider' }).click();
    await fieldError(form, 'realmUrl').waitFor();
    expect(await fieldError(form, 'realmUrl').textContent()).to.include('/realms/');
    expect(await fieldError(form, 'name').count()).to.equal(0);

    await form.getByLabel('Custom OpenID provider').check();
    await form.getByLabel('Issuer', { exact: true }).fill('https://acme.eu.auth0.com');
    await form.getByRole('button', { name: 'Add provider' }).click();
    await fieldError(form, 'issuer').waitFor();
    expect(await fieldError(form, 'issuer').textContent()).to.include('https://acme.eu.auth0.com/');
    const refused = await call('POST', '/api/v1/mcp/idp-providers', { kind: 'custom', name: 'Auth0', issuer: 'https://acme.eu.auth0.com' });
    expect(refused.status, 'the server refuses it too').to.equal(400);
    expect(refused.body.error.details[0].field).to.equal('issuer');
    await form.getByRole('button', { name: 'Cancel' }).click();
  });

  it('shows a duplicate role name at the name field', async () => {
    await admin('POST', '/api/v1/mcp/roles', { name: 'Ticket triage', permissions: ['tickets:read'] });
    await goTo(page, 'Roles');
    await page.getByRole('button', { name: 'Create role' }).click();
    const form = page.getByRole('form', { name: 'Create role' });
    await form.getByLabel('Name', { exact: true }).fill('Ticket triage');
    await form.getByRole('button', { name: 'Create role' }).click();
    await fieldError(form, 'name').waitFor();
    expect(await fieldError(form, 'name').textContent()).to.include('already exists');
    expect(await form.locator('.form-error').count(), 'not in a banner').to.equal(0);
    await form.getByRole('button', { name: 'Cancel' }).click();
  });

  it('shows a second agent with the same binding at the identifier field, naming the agent that has it', async () => {
    const idp = await admin('POST', '/api/v1/mcp/idp-providers', { kind: 'keycloak', name: 'Staff SSO', realmUrl: 'https://sso.example.com/realms/staff' });
    await admin('POST', '/api/v1/mcp/agents', { name: 'Ticket bot', idpId: idp.id, subject: 'ticket-bot' });
    await goTo(page, 'Agents');
    await page.getByRole('button', { name: 'Create agent' }).click();
    const form = page.getByRole('form', { name: 'Create agent' });
    await form.getByRole('button', { name: 'Create agent' }).click();
    await fieldError(form, 'name').waitFor();
    expect(await fieldError(form, 'subject').textContent(), 'both empty fields at once').to.include('identifier');
    await form.getByLabel('Name', { exact: true }).fill('Ticket bot 2');
    await form.getByLabel('Agent identifier in the identity provider').fill('ticket-bot');
    await form.getByRole('button', { name: 'Create agent' }).click();
    await fieldError(form, 'subject').filter({ hasText: 'Ticket bot' }).waitFor();
    expect(await fieldError(form, 'name').count()).to.equal(0);
    await form.getByRole('button', { name: 'Cancel' }).click();
  });
});
