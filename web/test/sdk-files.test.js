// The SDK's files: every module the entry imports (directly or not) is a file of web/sdk, none is
// left over, and each is kept by the app's service worker (offline starts), shipped in the npm
// package with its declarations, and served by the real server under /sdk/ as it is on disk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from './server.js';

const web = join(dirname(fileURLToPath(import.meta.url)), '..');
const sdk = join(web, 'sdk');

/** Modules reachable from the entry by static `import`/`export … from`, relative to web/sdk. */
function moduleGraph() {
  const seen = new Set(['chinwag.js']);
  const queue = ['chinwag.js'];
  while (queue.length) {
    const file = /** @type {string} */ (queue.shift());
    const text = readFileSync(join(sdk, file), 'utf8');
    for (const m of text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+'(\.[^']+)'/gm)) {
      const target = posix.normalize(posix.join(posix.dirname(file), m[1]));
      if (!seen.has(target)) {
        seen.add(target);
        queue.push(target);
      }
    }
  }
  return [...seen].sort();
}

/** @param {string} pattern a `files` entry of package.json (`*` within one path segment) */
function globRegex(pattern) {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*');
  return new RegExp(`^${escaped}$`);
}

test('the SDK modules are all imported, kept offline by the app and shipped in the npm package', () => {
  const modules = moduleGraph();
  const onDisk = ['chinwag.js', ...readdirSync(join(sdk, 'lib')).filter((f) => f.endsWith('.js')).map((f) => `lib/${f}`)].sort();
  assert.deepEqual(modules, onDisk, 'every module file is part of the SDK, and every import is a file');
  assert.ok(modules.length > 1, 'the entry imports its parts');

  const sw = readFileSync(join(web, 'app', 'sw.js'), 'utf8');
  const list = /const FILES = \[([^\]]*)\]/.exec(sw);
  assert.ok(list, 'sw.js lists its FILES');
  const cached = [...list[1].matchAll(/'([^']+)'/g)].map((m) => m[1]).filter((p) => p.startsWith('/sdk/')).sort();
  assert.deepEqual(cached, modules.map((m) => `/sdk/${m}`), 'the service worker keeps every SDK module');

  const pkg = JSON.parse(readFileSync(join(sdk, 'package.json'), 'utf8'));
  const shipped = /** @type {string[]} */ (pkg.files).map(globRegex);
  for (const m of modules) {
    for (const f of [m, m.replace(/\.js$/, '.d.ts')]) {
      assert.ok(shipped.some((r) => r.test(f)), `${f} is in package.json "files"`);
      assert.ok(readFileSync(join(sdk, f)).length > 0, `${f} exists`);
    }
  }
});

test('the server serves every SDK module and declaration at its path, as the files are', async () => {
  const server = await startServer();
  try {
    for (const m of moduleGraph()) {
      /** @type {[string, RegExp][]} */
      const files = [[m, /^text\/javascript/], [m.replace(/\.js$/, '.d.ts'), /^text\/plain/]];
      for (const [file, type] of files) {
        const res = await fetch(`${server.url}/sdk/${file}`);
        assert.equal(res.status, 200, `/sdk/${file}`);
        assert.match(res.headers.get('content-type') ?? '', type, `/sdk/${file}`);
        assert.equal(res.headers.get('access-control-allow-origin'), '*', `/sdk/${file}: other origins may import it`);
        assert.equal(await res.text(), readFileSync(join(sdk, file), 'utf8'), `/sdk/${file} is the file (rebuild the server?)`);
      }
    }
  } finally {
    await server.dispose();
  }
});
