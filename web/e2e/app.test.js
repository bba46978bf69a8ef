// The web app in headless Chromium against the real `chinwag` binary: two users chat, typing,
// receipts and unread badges; offline queueing that survives a reload; one WebSocket shared by
// two tabs. Saves screenshots of the main views to docs/screenshots/.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useServerAndBrowser } from './harness.js';
import { until } from '../test/server.js';

const shots = resolve(dirname(fileURLToPath(import.meta.url)), '../../docs/screenshots');
const WAIT = 15_000;

/** @type {import('./harness.js').Server} */
let server;
/** @type {import('./harness.js').Browser} */
let browser;

before(() => mkdirSync(shots, { recursive: true }));
useServerAndBrowser((s, b) => {
  server = s;
  browser = b;
});

/** @param {import('playwright-core').BrowserContextOptions} [opts] */
async function newContext(opts = {}) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 720 }, ...opts });
  context.setDefaultTimeout(WAIT);
  /** @type {string[]} */
  const problems = [];
  context.on('weberror', (e) => problems.push(String(e.error())));
  // Everything must come from the server itself.
  await context.route((url) => new URL(url).host !== new URL(server.url).host, (route) => {
    problems.push(`external request: ${route.request().url()}`);
    return route.abort();
  });
  return { context, problems };
}

/** @param {import('playwright-core').BrowserContext} context @param {string} user */
async function signIn(context, user) {
  const page = await context.newPage();
  await page.goto(server.url + '/');
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Password').fill('chinwag-demo');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('.conversation').first().waitFor();
  await connected(page);
  return page;
}

/** @param {import('playwright-core').Page} page */
async function connected(page) {
  await page.waitForFunction(() => document.getElementById('offline-banner')?.hidden === true);
}

/** The WebSocket connections the server holds (its `/metrics`). */
async function serverConnections() {
  const text = await (await fetch(server.url + '/metrics')).text();
  const m = /^chinwag_connections (\d+)/m.exec(text);
  assert.ok(m, 'the connections gauge is exported');
  return Number(m[1]);
}

/** The unread badge of a conversation in the list ('' when none). */
async function badge(/** @type {import('playwright-core').Page} */ page, /** @type {string} */ name) {
  const item = page.locator('.conversation', { has: page.locator('.conversation-name', { hasText: new RegExp(`^${name}$`) }) });
  await item.waitFor();
  const b = item.locator('.badge');
  return (await b.count()) ? (await b.textContent()) ?? '' : '';
}

test('the app is served with a strict CSP, and the SDK at a stable path', async () => {
  const res = await fetch(server.url + '/');
  assert.equal(res.status, 200);
  const csp = res.headers.get('content-security-policy') ?? '';
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  const sdk = await fetch(server.url + '/sdk/chinwag.js');
  assert.equal(sdk.status, 200);
  assert.match(sdk.headers.get('content-type') ?? '', /javascript/);
  assert.match(await sdk.text(), /export class ChinwagClient/);
  const missing = await fetch(server.url + '/no-such-file.js');
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).error.code, 'not_found');
});

test('two users chat: badges, receipts, typing', async () => {
  const a = await newContext();
  const b = await newContext();
  try {
    const login = await a.context.newPage();
    await login.goto(server.url + '/');
    await login.getByLabel('Username').waitFor();
    await login.screenshot({ path: join(shots, 'sign-in.png') });
    await login.close();

    const alice = await signIn(a.context, 'alice');
    const bob = await signIn(b.context, 'bob');
    const before = Number((await badge(bob, 'Alice')) || 0);

    await alice.getByRole('button', { name: /^Bob/ }).click();
    await alice.getByLabel('Message', { exact: true }).fill('Is the bike still for sale?');
    await alice.getByLabel('Message', { exact: true }).press('Enter');
    await alice.locator('.bubble.own', { hasText: 'Is the bike still for sale?' }).waitFor();
    // Bob's app confirms delivery by itself: ✓✓.
    await alice.waitForFunction(() => [...document.querySelectorAll('.bubble.own')].some(
      (b) => b.textContent?.includes('bike') && b.getAttribute('data-state') === 'delivered'));
    // The badge counts the new message, and the preview shows it.
    await bob.waitForFunction((n) => {
      const item = [...document.querySelectorAll('.conversation')].find((c) => c.querySelector('.conversation-name')?.textContent === 'Alice');
      return item?.querySelector('.badge')?.textContent === String(n);
    }, before + 1);
    assert.match(await bob.getByRole('button', { name: /^Alice/ }).locator('.preview').textContent() ?? '', /bike/);
    await bob.screenshot({ path: join(shots, 'conversation-list.png') });

    // Bob opens it: the badge goes, alice sees "read".
    await bob.getByRole('button', { name: /^Alice/ }).click();
    await bob.locator('.bubble.other', { hasText: 'Is the bike still for sale?' }).waitFor();
    assert.equal(await badge(bob, 'Alice'), '');
    await alice.waitForFunction(() => [...document.querySelectorAll('.bubble.own')].some(
      (b) => b.textContent?.includes('bike') && b.getAttribute('data-state') === 'read'));

    // Typing shows on the other side, then goes when the message is sent.
    await alice.getByLabel('Message', { exact: true }).pressSequentially('It is, ', { delay: 30 });
    await bob.locator('#typing', { hasText: 'Alice is typing…' }).waitFor();
    await bob.screenshot({ path: join(shots, 'thread-typing.png') });
    await alice.getByLabel('Message', { exact: true }).pressSequentially('come by tomorrow', { delay: 10 });
    await alice.getByLabel('Message', { exact: true }).press('Enter');
    await bob.locator('.bubble.other', { hasText: 'It is, come by tomorrow' }).waitFor();
    await bob.waitForFunction(() => document.getElementById('typing')?.textContent === '');

    // Bob replies; alice's list reorders with the newest conversation on top.
    await bob.getByLabel('Message', { exact: true }).fill('Great, see you then!');
    await bob.getByRole('button', { name: 'Send' }).click();
    await alice.locator('.bubble.other', { hasText: 'Great, see you then!' }).waitFor();
    const top = await alice.locator('.conversation-name').first().textContent();
    assert.equal(top, 'Bob');
    await alice.screenshot({ path: join(shots, 'thread.png') });

    // The mobile layout: the list, then the thread with a back button.
    const m = await newContext({ viewport: { width: 390, height: 800 }, isMobile: true, hasTouch: true });
    try {
      const phone = await signIn(m.context, 'carol');
      await phone.screenshot({ path: join(shots, 'mobile-list.png') });
      await phone.getByRole('button', { name: /^Welcome to Chinwag/ }).click();
      await phone.getByRole('button', { name: 'Back to conversations' }).waitFor();
      assert.equal(await phone.locator('.sidebar').isVisible(), false);
      await phone.locator('.bubble').first().waitFor();
      await phone.screenshot({ path: join(shots, 'mobile-thread.png') });
      await phone.getByRole('button', { name: 'Back to conversations' }).click();
      await phone.locator('.sidebar').waitFor({ state: 'visible' });
      assert.deepEqual(m.problems, []);
    } finally {
      await m.context.close();
    }
    assert.deepEqual(a.problems, []);
    assert.deepEqual(b.problems, []);
  } finally {
    await a.context.close();
    await b.context.close();
  }
});

test('older messages load on scroll up; new ones scroll down only when at the bottom', async () => {
  const { token } = await (await fetch(`${server.url}/v1/accounts/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'alice', password: 'chinwag-demo' }),
  })).json();
  const list = await (await fetch(`${server.url}/v1/conversations`, { headers: { authorization: `Bearer ${token}` } })).json();
  const group = list.conversations.find((/** @type {any} */ c) => c.kind === 'group');
  /** @param {string} body */
  const post = async (body) => {
    const r = await fetch(`${server.url}/v1/conversations/${group.id}/messages`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ client_msg_id: `scroll-${body}`, body }),
    });
    assert.equal(r.status, 201);
  };
  for (let i = 1; i <= 70; i++) await post(`history ${i}`);
  const c = await newContext();
  try {
    const carol = await signIn(c.context, 'carol');
    await carol.getByRole('button', { name: /^Welcome to Chinwag/ }).click();
    await carol.locator('.bubble', { hasText: 'history 70' }).waitFor();
    const count = () => carol.locator('.bubble').count();
    assert.equal(await count(), 50, 'the newest page');
    const box = carol.locator('#messages');
    const atBottom = () => box.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight < 40);
    assert.ok(await atBottom(), 'opens at the newest message');

    await box.evaluate((el) => { el.scrollTop = 0; });
    await carol.waitForFunction(() => document.querySelectorAll('.bubble').length > 50);
    await carol.locator('.bubble .body', { hasText: /^history 1$/ }).waitFor();
    assert.equal(await atBottom(), false);
    // Reading old messages: a new one does not pull the view down.
    const top = await box.evaluate((el) => el.scrollTop);
    await post('while reading');
    await carol.locator('.bubble', { hasText: 'while reading' }).waitFor({ state: 'attached' });
    assert.ok(Math.abs((await box.evaluate((el) => el.scrollTop)) - top) < 400, 'the view stayed where it was');
    assert.equal(await atBottom(), false);
    // At the bottom it follows.
    await box.evaluate((el) => { el.scrollTop = el.scrollHeight; });
    await carol.waitForFunction(() => {
      const el = /** @type {HTMLElement} */ (document.getElementById('messages'));
      return el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    });
    await post('at the bottom');
    await carol.locator('.bubble', { hasText: 'at the bottom' }).waitFor();
    await carol.waitForFunction(() => {
      const el = /** @type {HTMLElement} */ (document.getElementById('messages'));
      return el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    });
    assert.deepEqual(c.problems, []);
  } finally {
    await c.context.close();
  }
});

test('offline: messages queue, survive a reload, and arrive after coming back', async () => {
  const a = await newContext();
  const b = await newContext();
  try {
    const alice = await signIn(a.context, 'alice');
    const bob = await signIn(b.context, 'bob');
    await bob.getByRole('button', { name: /^Alice/ }).click();
    await alice.getByRole('button', { name: /^Bob/ }).click();
    // The app shell is cached by the service worker once it controls the page.
    await alice.waitForFunction(() => navigator.serviceWorker?.controller !== null);

    await a.context.setOffline(true);
    await alice.locator('#offline-banner').waitFor({ state: 'visible' });
    for (const text of ['queued one', 'queued two']) {
      await alice.getByLabel('Message', { exact: true }).fill(text);
      await alice.getByLabel('Message', { exact: true }).press('Enter');
    }
    await alice.locator('#offline-banner', { hasText: '2 messages queued' }).waitFor();
    await alice.waitForFunction(() => document.querySelectorAll('.bubble.own[data-state="sending"]').length === 2);
    await alice.screenshot({ path: join(shots, 'offline-queue.png') });

    // A reload while offline keeps the queue (IndexedDB) and the conversation.
    await alice.reload();
    await alice.locator('#offline-banner', { hasText: '2 messages queued' }).waitFor();
    await alice.locator('.bubble.own[data-state="sending"]', { hasText: 'queued two' }).waitFor();
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await bob.locator('.bubble', { hasText: 'queued' }).count(), 0, 'nothing left while offline');

    await a.context.setOffline(false);
    await bob.locator('.bubble.other', { hasText: 'queued one' }).waitFor();
    await bob.locator('.bubble.other', { hasText: 'queued two' }).waitFor();
    await connected(alice);
    await alice.waitForFunction(() => document.querySelectorAll('.bubble.own[data-state="sending"]').length === 0);
    // Each arrived once, in the order written.
    const texts = await bob.locator('.bubble.other .body').allTextContents();
    assert.deepEqual(texts.filter((t) => t.startsWith('queued')), ['queued one', 'queued two']);
    assert.deepEqual(a.problems.filter((p) => !p.includes('Failed to fetch')), []);
  } finally {
    await a.context.close();
    await b.context.close();
  }
});

test('two tabs of one user share one WebSocket', async () => {
  await until(async () => (await serverConnections()) === 0, 'earlier sessions closed', WAIT);
  const c = await newContext();
  try {
    const first = await signIn(c.context, 'carol');
    const second = await c.context.newPage();
    await second.goto(server.url + '/');
    await second.locator('.conversation').first().waitFor();
    await connected(second);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await serverConnections(), 1, 'one connection for both tabs');

    // The second tab sends through the first one's connection; both tabs show it.
    await second.getByRole('button', { name: /^Welcome to Chinwag/ }).click();
    await first.getByRole('button', { name: /^Welcome to Chinwag/ }).click();
    await second.getByLabel('Message', { exact: true }).fill('from the second tab');
    await second.getByLabel('Message', { exact: true }).press('Enter');
    await second.locator('.bubble.own[data-state="sent"], .bubble.own[data-state="delivered"], .bubble.own[data-state="read"]', { hasText: 'from the second tab' }).waitFor();
    await first.locator('.bubble.own', { hasText: 'from the second tab' }).waitFor();

    // The leading tab closes: the other takes over the connection.
    await first.close();
    await until(async () => (await serverConnections()) === 1, 'the follower reconnected', WAIT);
    await connected(second);
    await second.getByLabel('Message', { exact: true }).fill('after the handover');
    await second.getByLabel('Message', { exact: true }).press('Enter');
    await second.locator('.bubble.own[data-state="sent"], .bubble.own[data-state="delivered"], .bubble.own[data-state="read"]', { hasText: 'after the handover' }).waitFor();
    assert.equal(await serverConnections(), 1);
    assert.deepEqual(c.problems, []);
  } finally {
    await c.context.close();
  }
});
