// The real `chinwag` binary on an ephemeral port with a temporary data directory and `--demo`,
// for the SDK and browser tests. Build it first (`cargo build -p chinwag`); `TEST_CHINWAG_BINARY`
// overrides where it is looked for (not a `CHINWAG_*` name: the server reads those as settings).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export function binaryPath() {
  if (process.env.TEST_CHINWAG_BINARY) return process.env.TEST_CHINWAG_BINARY;
  const target = process.env.CARGO_TARGET_DIR ?? join(root, 'target');
  return join(target, 'debug', 'chinwag');
}

/**
 * Start `chinwag serve --demo`; resolves once it prints its address.
 * @param {{port?: number, dataDir?: string}} [opts] reuse a port and data directory (restarts)
 */
export async function startServer(opts = {}) {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'chinwag-web-'));
  const listen = `127.0.0.1:${opts.port ?? 0}`;
  const child = spawn(binaryPath(),
    ['serve', '--demo', '--listen', listen, '--data-dir', dataDir, '--log', 'warn'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`chinwag did not start in 20 s: ${stderr}`)), 20_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/[\d.:]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`chinwag exited with ${code}: ${stderr}`));
    });
  });
  const port = Number(new URL(url).port);
  let exited = false;
  const done = new Promise((r) => child.on('exit', () => { exited = true; r(undefined); }));
  return {
    url,
    port,
    dataDir,
    /** Graceful stop (SIGTERM: sessions are closed with 1012), bounded to 10 s. */
    async stop() {
      if (!exited) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await done;
      clearTimeout(t);
    },
    /** Stop and remove the data directory. */
    async dispose() {
      await this.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Log in a demo user; returns `{token, expires_at, user}`. @param {string} url @param {string} user */
export async function login(url, user) {
  const res = await fetch(`${url}/v1/accounts/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: user, password: 'chinwag-demo' }),
  });
  if (!res.ok) throw new Error(`login ${user}: ${res.status} ${await res.text()}`);
  return res.json();
}

/**
 * Wait until `check()` (or the promise it returns) is truthy, polling; fails after `ms`.
 * @template T @param {() => T | Promise<T>} check @param {string} what @param {number} [ms]
 * @returns {Promise<T>}
 */
export async function until(check, what, ms = 10_000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
