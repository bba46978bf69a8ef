// The web app on a network that blocks WebSocket: the SDK falls back to server-sent events for
// events and REST for requests, and two users still chat with receipts and typing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useServerAndBrowser } from './harness.js';

const WAIT = 15_000;
/** @type {import('./harness.js').Server} */
let server;
/** @type {import('./harness.js').Browser} */
let browser;

useServerAndBrowser((s, b) => {
  server = s;
  browser = b;
});

/** @param {string} user @param {boolean} blockWebSocket */
async function open(user, blockWebSocket) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  context.setDefaultTimeout(WAIT);
  /** @type {string[]} */
  const upgrades = [];
  /** @type {string[]} */
  const streams = [];
  if (blockWebSocket) {
    // What a proxy that refuses upgrades looks like to a page: the socket never opens.
    await context.addInitScript(() => {
      /** @type {any} */ (window).WebSocket = class {
        constructor() {
          /** @type {any} */ this.onclose = null;
          this.readyState = 0;
          setTimeout(() => { this.readyState = 3; this.onclose?.({ code: 1006, reason: '' }); }, 20);
        }
        send() { throw new Error('not open'); }
        close() {}
      };
    });
  }
  context.on('request', (r) => {
    if (r.url().includes('/v1/ws')) upgrades.push(r.url());
    if (r.url().includes('/v1/events')) streams.push(r.url());
  });
  const page = await context.newPage();
  await page.goto(server.url + '/');
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Password').fill('chinwag-demo');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('.conversation').first().waitFor();
  await page.waitForFunction(() => document.getElementById('offline-banner')?.hidden === true);
  return { context, page, upgrades, streams };
}

test('with WebSocket blocked, the app chats over server-sent events and REST', async () => {
  const alice = await open('alice', false);
  const bob = await open('bob', true);
  try {
    await bob.page.getByRole('button', { name: /^Alice/ }).click();
    await alice.page.getByRole('button', { name: /^Bob/ }).click();

    await alice.page.getByLabel('Message', { exact: true }).fill('can you hear me?');
    await alice.page.getByLabel('Message', { exact: true }).press('Enter');
    await bob.page.locator('.bubble.other', { hasText: 'can you hear me?' }).waitFor();
    // Bob's app marks it read through REST; alice sees it.
    await alice.page.waitForFunction(() => [...document.querySelectorAll('.bubble.own')].some(
      (b) => b.textContent?.includes('can you hear me?') && b.getAttribute('data-state') === 'read'));

    await bob.page.getByLabel('Message', { exact: true }).pressSequentially('loud and clear', { delay: 30 });
    await alice.page.locator('#typing', { hasText: 'Bob is typing…' }).waitFor();
    await bob.page.getByLabel('Message', { exact: true }).press('Enter');
    await alice.page.locator('.bubble.other', { hasText: 'loud and clear' }).waitFor();
    await bob.page.locator('.bubble.own[data-state="read"], .bubble.own[data-state="delivered"]', { hasText: 'loud and clear' }).waitFor();
    const quality = await bob.page.locator('#quality').getAttribute('data-quality');
    assert.ok(['excellent', 'good', 'poor'].includes(quality ?? ''), `${quality}`);
    assert.deepEqual(bob.upgrades, [], 'no WebSocket ever reached the server from bob');
    assert.ok(bob.streams.length >= 1, 'bob reads the event stream');
    assert.deepEqual(alice.streams, [], 'alice, with WebSocket, never needed it');
  } finally {
    await alice.context.close();
    await bob.context.close();
  }
});
