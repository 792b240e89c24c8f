import { existsSync } from 'node:fs';
import { expect } from 'chai';
/**
 * The admin UI under test: an Enterprise engine with two tools on 127.0.0.1, an admin API key,
 * and real Chromium (Debian's) driven by playwright-core.
 */
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { defineTool, definePlugin, z } from '@gatehouse-mcp/engine';
import { enterpriseEdition } from '@gatehouse-mcp/engine/ee';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { buildUi } from '../../../src/plugins/ee/admin-ui/build-ui.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Browser tests drive Debian's Chromium. Where it is not installed they are skipped, saying why —
 * except in CI (which installs it), where a missing browser must fail rather than hide the tests.
 */
export function skipWithoutChromium(context: Mocha.Context): void {
  if (existsSync(CHROMIUM) || process.env.CI) return;
  console.warn(`      browser tests skipped: no Chromium at ${CHROMIUM} (install Debian's chromium, or set CHROMIUM_PATH)`);
  context.skip();
}

export const ticketTools = definePlugin({
  id: 'ticket-tools',
  tools: [
    defineTool({
      name: 'tickets.read',
      description: 'Read a ticket.',
      permission: 'tickets:read',
      input: z.object({ id: z.string() }),
      handler: ({ id }) => `ticket ${id}`,
    }),
    defineTool({
      name: 'tickets.close',
      description: 'Close a ticket.',
      permission: 'tickets:write',
      input: z.object({ id: z.string() }),
      handler: ({ id }) => `closed ${id}`,
    }),
  ],
});

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'],
  });
}

export interface UiEngine extends TestEngine {
  /** An API key of the tenant with scope `admin`. */
  readonly adminKey: string;
  /** The admin UI's URL. */
  readonly adminUrl: string;
}

let built: Promise<unknown> | undefined;

/** The engine with the Enterprise Edition, the ticket tools and any `extraPlugins`. */
export async function startUiEngine(extraPlugins: ReturnType<typeof definePlugin>[] = []): Promise<UiEngine> {
  built ??= buildUi();
  await built;
  const t = await createTestEngine({ connect: false, plugins: [enterpriseEdition(), ticketTools, ...extraPlugins] });
  const adminKey = (await t.createKey({ name: 'ui admin', scopes: ['admin'] })).secret;
  return Object.assign(Object.create(t) as TestEngine, { adminKey, adminUrl: `${t.url}/admin` }) as UiEngine;
}

/** A fresh browser context whose page records every dialog and console error. */
export async function openPage(browser: Browser, viewport = { width: 1280, height: 860 }): Promise<{ context: BrowserContext; page: Page; dialogs: string[]; errors: string[] }> {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  const dialogs: string[] = [];
  const errors: string[] = [];
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  return { context, page, dialogs, errors };
}

export async function signIn(page: Page, url: string, key: string): Promise<void> {
  await page.goto(url);
  await page.getByLabel('Admin API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Admin pages' }).waitFor();
}

export async function goTo(page: Page, title: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Admin pages' }).getByRole('link', { name: title, exact: true }).click();
  await page.getByRole('heading', { level: 1, name: title }).waitFor();
}

/** One admin API request with an admin key: asserts a 2xx answer and returns its `data`. */
export async function adminRequest(baseUrl: string, key: string, method: string, path: string, body?: unknown): Promise<any> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(response.status, `${method} ${path}`).to.be.within(200, 299);
  return ((await response.json()) as { data: unknown }).data;
}

/** The HTTP status of a `tools/list` on the engine's tenant with `token`: 200 while it is accepted. */
export async function mcpListStatus(t: UiEngine, token: string): Promise<number> {
  const response = await fetch(t.engine.mcpUrl(t.tenant), {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
  });
  await response.body?.cancel();
  return response.status;
}
