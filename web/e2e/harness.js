// What every browser test file needs: the real `chinwag` binary (with `--demo`) and the
// distribution's headless Chromium, started before the file's tests and stopped after them.
import { before, after } from 'node:test';
import { chromium } from 'playwright-core';
import { startServer } from '../test/server.js';

/** @typedef {Awaited<ReturnType<typeof startServer>>} Server */
/** @typedef {import('playwright-core').Browser} Browser */

/**
 * Registers the file's `before` and `after` hooks; `ready` receives the server and the browser
 * once both run.
 * @param {(server: Server, browser: Browser) => void} ready
 */
export function useServerAndBrowser(ready) {
  /** @type {Server | undefined} */
  let server;
  /** @type {Browser | undefined} */
  let browser;
  before(async () => {
    server = await startServer();
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      timeout: 30_000,
    });
    ready(server, browser);
  });
  after(async () => {
    await browser?.close();
    await server?.dispose();
  });
}
