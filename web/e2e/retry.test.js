// A message the server refuses shows as failed with a Retry button; retrying after the cause is
// gone sends it (with the same client_msg_id).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useServerAndBrowser } from './harness.js';
import { login } from '../test/server.js';

/** @type {import('./harness.js').Server} */
let server;
/** @type {import('./harness.js').Browser} */
let browser;

useServerAndBrowser((s, b) => {
  server = s;
  browser = b;
});

test('a refused message fails, and Retry sends it once the cause is gone', async () => {
  const { token } = await login(server.url, 'alice');
  /** @param {string} method @param {string} path @param {any} [body] */
  const asAlice = (method, path, body) => fetch(server.url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const list = await (await asAlice('GET', '/v1/conversations')).json();
  const group = list.conversations.find((/** @type {any} */ c) => c.kind === 'group');

  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  context.setDefaultTimeout(15_000);
  try {
    const page = await context.newPage();
    await page.goto(server.url + '/');
    await page.getByLabel('Username').fill('carol');
    await page.getByLabel('Password').fill('chinwag-demo');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: /^Welcome to Chinwag/ }).click();
    await page.locator('.bubble').first().waitFor();

    // Alice removes carol while carol's thread is open: her next message is refused.
    assert.equal((await asAlice('DELETE', `/v1/conversations/${group.id}/members/carol`)).status, 204);
    await page.getByRole('button', { name: /^Welcome to Chinwag/ }).waitFor({ state: 'detached' });
    await page.getByLabel('Message', { exact: true }).fill('am I still here?');
    await page.getByLabel('Message', { exact: true }).press('Enter');
    const bubble = page.locator('.bubble.own', { hasText: 'am I still here?' });
    await page.locator('.bubble.own[data-state="failed"]', { hasText: 'am I still here?' }).waitFor();
    const retry = bubble.getByRole('button', { name: 'Retry' });
    await retry.waitFor();

    // Added back, carol retries: the message goes out and is stored once.
    const added = await asAlice('POST', `/v1/conversations/${group.id}/members`, { user_id: 'carol' });
    assert.equal(added.status, 201);
    await page.getByRole('button', { name: /^Welcome to Chinwag/ }).waitFor();
    await retry.click();
    await page.locator('.bubble.own[data-state="sent"], .bubble.own[data-state="delivered"], .bubble.own[data-state="read"]', { hasText: 'am I still here?' }).waitFor();
    const history = await (await asAlice('GET', `/v1/conversations/${group.id}/messages?limit=50`)).json();
    assert.equal(history.messages.filter((/** @type {any} */ m) => m.body === 'am I still here?').length, 1);
  } finally {
    await context.close();
  }
});
