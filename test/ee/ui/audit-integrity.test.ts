import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { AuditSink } from '@gatehouse-mcp/engine';
import { goTo, launchChromium, openPage, signIn, startUiEngine, type UiEngine, skipWithoutChromium } from './support.js';

describe('EE admin UI: the Audit page shows whether the trail verifies', function () {
  before(function () {
    skipWithoutChromium(this);
  });
  this.timeout(60_000);
  let t: UiEngine;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  before(async () => {
    [t, browser] = await Promise.all([startUiEngine(), launchChromium()]);
    ({ context, page } = await openPage(browser));
    await signIn(page, t.adminUrl, t.adminKey);
    const role = await fetch(`${t.url}/api/v1/mcp/roles`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Reader', permissions: ['tickets:read'] }),
    });
    expect(role.status).to.equal(201);
    await t.engine.resolve<AuditSink>(AuditSink).flush();
  });
  after(async () => {
    await context?.close();
    await browser?.close();
    await t?.close();
  });

  it('says the chain verifies, and names the first broken link after a row is changed in the database', async () => {
    await goTo(page, 'Audit');
    const status = page.getByRole('status', { name: 'Audit integrity' });
    await status.getByText('Verified').waitFor();
    expect(await status.textContent()).to.match(/Verified \d+ event\(s\), #1–#\d+, unchanged since they were written/);
    expect(await status.textContent()).to.match(/Checkpoints are not signed on this server/);

    await t.engine.database.knex('mcp_agent_audit').where({ tenant: t.tenant, seq: 1 }).update({ principal_label: 'someone else' });
    await status.getByRole('button', { name: 'Check again' }).click();
    await status.getByText('Tampering detected').waitFor();
    expect(await status.textContent()).to.match(/Tampering detected at event #1: a changed event\. row 1 does not match its hash/);
  });
});
