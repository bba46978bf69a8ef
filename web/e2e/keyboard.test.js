// The web app with the keyboard only: sign in, pick a conversation, write, send, go back.
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

/** The element that has focus, described. @param {import('playwright-core').Page} page */
const focused = (page) => page.evaluate(() => {
  const el = document.activeElement;
  return el ? `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.getAttribute('aria-label') ? `[${el.getAttribute('aria-label')}]` : ''}` : '';
});

test('everything works from the keyboard', async () => {
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  context.setDefaultTimeout(15_000);
  try {
    const page = await context.newPage();
    await page.goto(server.url + '/');
    await page.getByLabel('Username').waitFor();
    assert.equal(await focused(page), 'input', 'the username field has focus');
    await page.keyboard.type('bob');
    await page.keyboard.press('Tab');
    await page.keyboard.type('chinwag-demo');
    await page.keyboard.press('Enter');
    await page.locator('.conversation').first().waitFor();

    // Tab until the conversation with Alice has focus, then open it.
    let reached = '';
    for (let i = 0; i < 10 && !reached.includes('Alice'); i++) {
      await page.keyboard.press('Tab');
      reached = await focused(page);
    }
    assert.match(reached, /^button\[Alice/);
    await page.keyboard.press('Enter');
    assert.equal(await focused(page), 'textarea#input[Message]', 'the composer takes focus');
    await page.keyboard.type('typed without a mouse');
    await page.keyboard.press('Enter');
    await page.locator('.bubble.own', { hasText: 'typed without a mouse' }).waitFor();
    // Shift+Enter is a new line, not a send.
    await page.keyboard.type('line one');
    await page.keyboard.press('Shift+Enter');
    await page.keyboard.type('line two');
    assert.equal(await page.locator('#input').inputValue(), 'line one\nline two');
    assert.equal(await page.locator('.bubble', { hasText: 'line one' }).count(), 0);
  } finally {
    await context.close();
  }
});
