// The SDK's close codes against the server's: the named constants of crates/proto/src/close.rs
// (code, name, `Reconnect`) are read from the Rust source and compared, code by code, with
// `CloseCode` and `CLOSE_RULES`; then a link is closed with every code to show that the rules
// are what it does. A code added, dropped or changed on one side only fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CloseCode } from '../sdk/chinwag.js';
import { CLOSE_RULES } from '../sdk/lib/close-codes.js';
import { FakeSocket, fakeLink, tick, authenticate } from './fake-link.js';

const closeRs = join(dirname(fileURLToPath(import.meta.url)), '../../crates/proto/src/close.rs');

/** `WithNewToken` → `with_new_token`. @param {string} variant */
const snake = (variant) => variant.replace(/(?<!^)([A-Z])/g, '_$1').toLowerCase();

/**
 * The server's table: every `pub const NAME: CloseCode = CloseCode::new(code, "name",
 * Reconnect::Variant);`, the order of `ALL`, and the variants of `enum Reconnect`.
 */
function serverTable() {
  const src = readFileSync(closeRs, 'utf8');
  const re = /pub const ([A-Z_]+): CloseCode =\s*CloseCode::new\(\s*(\d+),\s*"([a-z_]+)",\s*Reconnect::([A-Za-z]+),?\s*\);/g;
  const codes = [...src.matchAll(re)].map((m) => ({
    constant: m[1], code: Number(m[2]), name: m[3], reconnect: snake(m[4]),
  }));
  const declared = [...src.matchAll(/pub const ([A-Z_]+): CloseCode\b/g)].map((m) => m[1]);
  assert.deepEqual(codes.map((c) => c.constant), declared, 'every CloseCode constant of close.rs is parsed');
  const all = /pub const ALL: &\[CloseCode\] = &\[([^\]]*)\]/.exec(src);
  assert.ok(all, 'close.rs has ALL');
  const listed = all[1].split(',').map((s) => s.trim()).filter(Boolean);
  const enumBody = /pub enum Reconnect \{([^}]*)\}/.exec(src);
  assert.ok(enumBody, 'close.rs has enum Reconnect');
  const variants = [...enumBody[1].matchAll(/^\s*([A-Z][A-Za-z]*),/gm)].map((m) => snake(m[1]));
  return { codes, listed, variants };
}

test('the SDK has the server\'s close codes, each with its name and reconnect semantics', () => {
  const server = serverTable();
  assert.ok(server.codes.length >= 10, `close.rs parsed: ${server.codes.length} codes`);
  assert.deepEqual([...server.listed].sort(), server.codes.map((c) => c.constant).sort(), 'ALL lists every constant');

  /** @param {{constant: string, code: number}[]} list */
  const byCode = (list) => list.map(({ constant, code }) => ({ constant, code })).sort((a, b) => a.code - b.code);
  const sdkCodes = Object.entries(CloseCode).map(([constant, code]) => ({ constant, code }));
  assert.deepEqual(byCode(sdkCodes), byCode(server.codes), 'CloseCode: the same constants with the same numbers');
  assert.deepEqual(Object.keys(CLOSE_RULES).sort(), Object.keys(CloseCode).sort(), 'a rule for every code');

  const vocabulary = new Set(Object.values(CLOSE_RULES).map((r) => r.reconnect));
  for (const r of vocabulary) assert.ok(server.variants.includes(r), `\`${r}\` is a Reconnect variant of close.rs`);

  /** @type {{constant: string, server: string, sdk: string}[]} */
  const differs = [];
  for (const c of server.codes) {
    const rule = CLOSE_RULES[/** @type {keyof typeof CloseCode} */ (c.constant)];
    assert.equal(rule.name, c.name, `${c.constant} (${c.code}) is named the same`);
    if (rule.reconnect !== c.reconnect) differs.push({ constant: c.constant, server: c.reconnect, sdk: rule.reconnect });
  }
  assert.deepEqual(differs, [], 'reconnect semantics agree for every code');
});

test('a link closed with each code does what its rule says', async () => {
  for (const [constant, code] of Object.entries(CloseCode)) {
    const rule = CLOSE_RULES[/** @type {keyof typeof CloseCode} */ (constant)];
    const { link, states } = fakeLink();
    link.start();
    await tick();
    authenticate(FakeSocket.all[0]);
    FakeSocket.all[0].serverClose(code, 'retry_after_ms=3000');
    const last = states[states.length - 1];
    const what = `${constant} (${code}): ${JSON.stringify(rule)}`;
    if (rule.reconnect === 'never') {
      assert.equal(link.state, 'closed', what);
      assert.equal(last.error?.code, 'protocol', what);
    } else {
      assert.equal(last.state, 'offline', what);
      // Backoff: attempt 0 of a 1 s base with random() = 0.5; advised: 3 s + 0.5 · 1 s.
      const expected = { none: 0, backoff: 500, advised: 3_500 }[rule.wait];
      assert.equal(last.retryInMs, expected, what);
      assert.equal(link.refreshToken, rule.reconnect === 'with_new_token', `${what}: token refresh`);
    }
    link.stop();
  }
});
