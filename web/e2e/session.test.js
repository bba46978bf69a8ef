// A session that ends (the cookie is gone) brings the app back to sign-in within seconds, and
// signing in again in the same tab connects again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useServerAndBrowser } from './harness.js';

/** @type {import('./harness.js').Server} */
let server;
/** @type {import('./harness.js').Browser} */
let browser;

useServerAndBrowser((s, b) => {
  server = s;
  browser = b;
});

/** @param {import('playwright-core').Page} page */
async function signIn(page) {
  await page.getByLabel('Username').fill('bob');
  await page.getByLabel('Password').fill('chinwag-demo');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('.conversation').first().waitFor();
  await page.waitForFunction(() => document.getElementById('offline-banner')?.hidden === true);
}

test('an ended session returns to sign-in, and signing in again reconnects', async () => {
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  context.setDefaultTimeout(15_000);
  try {
    const page = await context.newPage();
    await page.goto(server.url + '/');
    await signIn(page);

    // The cookie goes (expired, or cleared); the next connection finds no session.
    await context.clearCookies();
    await context.setOffline(true);
    await page.locator('#offline-banner').waitFor({ state: 'visible' });
    await context.setOffline(false);
    const back = Date.now();
    await page.locator('#login-error', { hasText: 'Your session ended' }).waitFor();
    const took = Date.now() - back;
    // Without the check the server would wait `auth_timeout_ms` (10 s) for an `auth` frame.
    assert.ok(took < 9_000, `noticed after ${took} ms`);
    assert.equal(await page.locator('#app').isVisible(), false);

    await signIn(page);
    await page.getByRole('button', { name: /^Alice/ }).click();
    await page.getByLabel('Message', { exact: true }).fill('back again');
    await page.getByLabel('Message', { exact: true }).press('Enter');
    await page.locator('.bubble.own[data-state="sent"], .bubble.own[data-state="delivered"], .bubble.own[data-state="read"]', { hasText: 'back again' }).waitFor();
  } finally {
    await context.close();
  }
});
