// Unit tests of the SDK's parts: backoff, breaker, latency quality, history cache, and how a
// link reacts to each close code (with a scripted WebSocket).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  backoffDelay, CircuitBreaker, LatencyMeter, HistoryCache, retryAfterFromReason,
  ChinwagError, MemoryStorage, ChinwagClient, EventStreamSocket,
} from '../sdk/chinwag.js';
import { FakeSocket, fakeLink, tick, authenticate } from './fake-link.js';

test('backoff is exponential with full jitter and a cap', () => {
  const opts = { baseMs: 100, maxMs: 5_000 };
  assert.equal(backoffDelay(0, opts, () => 0), 0);
  assert.equal(backoffDelay(0, opts, () => 0.999999), 99);
  assert.equal(backoffDelay(3, opts, () => 0.5), 400);
  assert.equal(backoffDelay(10, opts, () => 0.999999), 4_999);
  assert.equal(backoffDelay(1_000, opts, () => 0.5), 2_500);
  const seen = new Set();
  for (let i = 0; i < 200; i++) {
    const d = backoffDelay(4, opts);
    assert.ok(d >= 0 && d < 1_600, `${d}`);
    seen.add(d);
  }
  assert.ok(seen.size > 50, 'jittered, not fixed');
});

test('the circuit breaker opens after the threshold and half-opens after the cooldown', () => {
  let now = 1_000;
  const b = new CircuitBreaker({ threshold: 3, cooldownMs: 10_000, now: () => now });
  b.failure();
  b.failure();
  assert.equal(b.state, 'closed');
  assert.equal(b.waitMs(), 0);
  b.failure();
  assert.equal(b.state, 'open');
  assert.equal(b.waitMs(), 10_000);
  now += 4_000;
  assert.equal(b.waitMs(), 6_000);
  now += 6_000;
  assert.equal(b.state, 'half-open');
  b.success();
  assert.equal(b.state, 'closed');
  assert.equal(b.failures, 0);
});

test('latency EWMA gives the quality', () => {
  const m = new LatencyMeter(0.5);
  assert.equal(m.quality(false), 'offline');
  m.sample(50);
  assert.equal(m.quality(true), 'excellent');
  m.sample(250); // 150
  assert.equal(m.ewma, 150);
  assert.equal(m.quality(true), 'good');
  m.sample(650); // 400
  assert.equal(m.quality(true), 'poor');
  assert.equal(m.quality(false), 'offline');
});

test('close reasons carry retry advice', () => {
  assert.equal(retryAfterFromReason('retry_after_ms=2500'), 2500);
  assert.equal(retryAfterFromReason('service_restart'), undefined);
  assert.equal(retryAfterFromReason(''), undefined);
});

/** @param {string} c @param {number} seq @returns {any} */
const msg = (c, seq) => ({ id: `m${seq}`, conversation_id: c, seq, sender: 'a', client_msg_id: `x${seq}`, kind: 'text', body: `#${seq}`, created_at: seq });

test('the history cache keeps order and its three bounds', () => {
  let now = 0;
  const cache = new HistoryCache({ maxConversations: 2, maxMessages: 3, ttlMs: 1_000, now: () => now });
  cache.put('a', [msg('a', 3), msg('a', 1), msg('a', 2)]);
  assert.deepEqual(cache.messages('a').map((m) => m.seq), [1, 2, 3]);
  const added = cache.put('a', [msg('a', 3), msg('a', 4)]);
  assert.deepEqual(added.map((m) => m.seq), [4], 'a message held already is replaced, not added');
  assert.deepEqual(cache.messages('a').map((m) => m.seq), [2, 3, 4], 'the oldest is dropped');
  assert.equal(cache.top('a'), 4);
  cache.put('b', [msg('b', 1)]);
  cache.put('a', [msg('a', 5)]); // a is now the most recently used
  cache.put('c', [msg('c', 1)]);
  assert.deepEqual([...cache.entries.keys()].sort(), ['a', 'c'], 'least recently used evicted');
  now = 2_000;
  assert.deepEqual(cache.messages('a'), [], 'expired after the TTL');
});

test('the history cache exports and imports, and refuses junk', () => {
  const cache = new HistoryCache();
  cache.put('a', [msg('a', 1), msg('a', 2)], { hasMoreBefore: false });
  const data = JSON.parse(JSON.stringify(cache.export()));
  const copy = new HistoryCache();
  copy.import(data);
  assert.deepEqual(copy.messages('a').map((m) => m.seq), [1, 2]);
  assert.equal(copy.entries.get('a')?.hasMoreBefore, false);
  assert.throws(() => copy.import({ version: 2 }), (e) => e instanceof ChinwagError && e.code === 'invalid');
  copy.import({ version: 1, conversations: [{ id: 'z', messages: [{ seq: 'x' }, msg('other', 1)] }] });
  assert.deepEqual(copy.messages('z'), [], 'messages of the wrong shape or conversation are skipped');
});

test('a link authenticates with the token and resume in the first frame', async () => {
  const { link, states } = fakeLink();
  link.start();
  await tick();
  const ws = FakeSocket.all[0];
  assert.equal(ws.url, 'ws://chinwag.test/v1/ws');
  ws.open();
  assert.deepEqual(ws.sent[0], { type: 'auth', id: 1, token: 'tok', resume: { positions: [], since: 0 } });
  let resumed = null;
  link.on('resumed', (f) => { resumed = f; });
  ws.reply({ type: 'authed', id: 1, user: { id: 'alice' } });
  ws.reply({ type: 'resumed', id: 1, cursor: 5, conversations: [], unavailable: [] });
  assert.equal(link.state, 'connected');
  assert.equal(/** @type {any} */ (resumed)?.cursor, 5, 'the second reply to auth is the resume');
  assert.ok(states.some((s) => s.state === 'connecting'));
  link.stop();
});

test('1012 waits for the advised delay plus jitter, then reconnects', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const { link, states } = fakeLink();
  link.start();
  await Promise.resolve(); await Promise.resolve();
  authenticate(FakeSocket.all[0]);
  FakeSocket.all[0].serverClose(1012, 'retry_after_ms=3000');
  const last = states[states.length - 1];
  assert.equal(last.state, 'offline');
  assert.ok(last.retryInMs >= 3_000 && last.retryInMs < 4_000, `${last.retryInMs}`);
  t.mock.timers.tick(last.retryInMs - 1);
  await Promise.resolve();
  assert.equal(FakeSocket.all.length, 1, 'not before the advice');
  t.mock.timers.tick(1);
  for (let i = 0; i < 5; i++) await Promise.resolve();
  assert.equal(FakeSocket.all.length, 2, 'reconnected after it');
  link.stop();
});

test('4003 fetches a fresh token and reconnects at once', async () => {
  const { link, refreshes, states } = fakeLink();
  link.start();
  await tick();
  authenticate(FakeSocket.all[0]);
  FakeSocket.all[0].serverClose(4003, 'token_expired');
  assert.equal(states[states.length - 1].retryInMs, 0);
  await tick();
  assert.deepEqual(refreshes, [false, true], 'the provider was asked to refresh');
  assert.equal(FakeSocket.all.length, 2);
  link.stop();
});

test('protocol errors do not reconnect; other drops back off with jitter', async () => {
  const { link, states } = fakeLink();
  link.start();
  await tick();
  authenticate(FakeSocket.all[0]);
  FakeSocket.all[0].serverClose(1006);
  const wait = states[states.length - 1].retryInMs;
  assert.equal(wait, 500, 'attempt 0: half of the 1 s base with random() = 0.5');
  link.stop();

  const second = fakeLink();
  second.link.start();
  await tick();
  authenticate(FakeSocket.all[0]);
  FakeSocket.all[0].serverClose(1002, 'bad frame');
  assert.equal(second.link.state, 'closed');
  await tick();
  assert.equal(FakeSocket.all.length, 1, 'no reconnect after a protocol error');
});

test('refused connections open the breaker', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'] });
  const { link, states } = fakeLink({ breaker: { threshold: 3, cooldownMs: 60_000 } });
  link.start();
  for (let i = 0; i < 3; i++) {
    for (let k = 0; k < 5; k++) await Promise.resolve();
    const ws = FakeSocket.all[FakeSocket.all.length - 1];
    ws.serverClose(1006);
    if (i < 2) t.mock.timers.tick(states[states.length - 1].retryInMs);
  }
  assert.equal(link.breaker.state, 'open');
  assert.ok(states[states.length - 1].retryInMs >= 59_000, 'waits out the cooldown');
  t.mock.timers.tick(30_000);
  for (let k = 0; k < 5; k++) await Promise.resolve();
  assert.equal(FakeSocket.all.length, 3, 'no attempt while open');
  t.mock.timers.tick(30_000);
  for (let k = 0; k < 5; k++) await Promise.resolve();
  assert.equal(link.breaker.state, 'half-open');
  assert.equal(FakeSocket.all.length, 4, 'one trial after the cooldown');
  link.stop();
});

test('the outbox persists across clients and a send without connection stays queued', async () => {
  const storage = new MemoryStorage();
  const a = new ChinwagClient({ url: 'http://chinwag.test', storage, WebSocket: FakeSocket });
  /** @type {string[]} */
  const states = [];
  a.on('messageState', (s) => states.push(s.state));
  const id = await a.send('conv', 'hello');
  assert.deepEqual(states, ['sending']);
  assert.equal(a.pendingCount(), 1);
  const b = new ChinwagClient({ url: 'http://chinwag.test', storage, WebSocket: FakeSocket, shareAcrossTabs: false });
  await b.start();
  assert.equal(b.pendingCount(), 1);
  assert.equal(b.thread('conv')[0].client_msg_id, id);
  b.stop();
});

test('a refused send fails, a retry sends it again with the same id, a silent server fails it at the deadline', async () => {
  FakeSocket.all = [];
  const client = new ChinwagClient({
    url: 'http://chinwag.test', token: 'tok', WebSocket: FakeSocket, storage: new MemoryStorage(),
    shareAcrossTabs: false, sendDeadlineMs: 100, pingIntervalMs: 60_000,
  });
  /** @type {string[]} */
  const states = [];
  client.on('messageState', (s) => states.push(s.state));
  await client.start();
  await tick();
  const ws = FakeSocket.all[0];
  authenticate(ws);
  assert.equal(client.state, 'connected');

  const id = await client.send('conv', 'x'.repeat(10));
  const first = ws.sent.find((f) => f.type === 'send');
  assert.equal(first.client_msg_id, id);
  ws.reply({ type: 'error', id: first.id, error: { code: 'too_large', message: 'body too large' } });
  await tick();
  assert.deepEqual(states, ['sending', 'failed']);
  assert.equal(client.pendingCount(), 1, 'a failed message stays for retry or discard');
  assert.equal(client.statusOf(client.thread('conv')[0]), 'failed');

  await client.retry(id);
  const again = ws.sent.filter((f) => f.type === 'send');
  assert.equal(again.length, 2);
  assert.equal(again[1].client_msg_id, id, 'the same idempotency key');
  // No answer at all: failed after the deadline.
  await new Promise((r) => setTimeout(r, 150));
  assert.deepEqual(states, ['sending', 'failed', 'sending', 'failed']);
  await client.discard(id);
  assert.equal(client.pendingCount(), 0);
  client.stop();
});

test('resumed says recovered when the replay was whole, resynced when state had to be dropped', async () => {
  const client = new ChinwagClient({ url: 'http://chinwag.test', token: 'tok', WebSocket: FakeSocket, storage: new MemoryStorage(), shareAcrossTabs: false });
  /** @type {any[]} */
  const signals = [];
  client.on('resumed', (r) => signals.push(r));
  client.cache.put('far', [msg('far', 1), msg('far', 2)]);
  client.positions.set('far', 2);
  client.positions.set('gone', 7);
  await client.onResumed({ cursor: 5, conversations: [{ conversation_id: 'a', from_seq: 3, to_seq: 9, last_seq: 9, complete: true }], unavailable: [] });
  assert.deepEqual([signals[0].recovered, signals[0].resynced], [true, false]);
  assert.equal(client.cursor, 5);

  // Far behind (more missed than the cache holds) and a conversation no longer available.
  await client.onResumed({
    cursor: 6,
    conversations: [{ conversation_id: 'far', from_seq: 2, to_seq: 1002, last_seq: 50_000, complete: false }],
    unavailable: ['gone'],
  });
  assert.deepEqual([signals[1].recovered, signals[1].resynced], [false, true]);
  assert.deepEqual(client.cache.messages('far'), [], 'the stale window is dropped');
  assert.equal(client.positions.get('far'), 50_000, 'and the device starts again from the newest');
  assert.equal(client.positions.has('gone'), false);
  assert.deepEqual(signals[1].unavailable, ['gone']);
});

test('over server-sent events, requests go up one at a time, in the order they were sent', async () => {
  /** @type {string[]} */
  const started = [];
  /** @type {(() => void)[]} */
  const release = [];
  /** @type {typeof fetch} */
  const fakeFetch = async (url, init) => {
    // The event stream itself never opens here: only the requests matter.
    if (String(url).includes('/v1/events')) return new Promise(() => {});
    started.push(JSON.parse(String(init?.body)).client_msg_id);
    await new Promise((resolve) => release.push(() => resolve(undefined)));
    const seq = started.length;
    return new Response(JSON.stringify({ message: { seq }, duplicate: false }),
      { status: 201, headers: { 'content-type': 'application/json' } });
  };
  const socket = new EventStreamSocket({ url: 'http://127.0.0.1:9', token: 't', resume: { positions: [] }, fetch: fakeFetch });
  /** @type {any[]} */
  const replies = [];
  socket.onmessage = (ev) => replies.push(JSON.parse(ev.data));
  for (const [id, key] of [[1, 'first'], [2, 'second'], [3, 'third']]) {
    socket.send(JSON.stringify({ type: 'send', id, conversation_id: 'c', client_msg_id: key, body: key }));
  }
  for (let i = 0; i < 20; i++) await tick();
  assert.deepEqual(started, ['first'], 'the second send waits for the first to be answered');
  for (let n = 1; n <= 3; n++) {
    release[n - 1]();
    for (let i = 0; i < 400 && (started.length < Math.min(n + 1, 3) || replies.length < n); i++) await tick();
    assert.equal(replies.length, n, `reply ${n} arrived`);
  }
  assert.deepEqual(started, ['first', 'second', 'third'], 'requests went up in send order');
  assert.deepEqual(replies.map((r) => [r.type, r.id, r.message.seq]), [['ack', 1, 1], ['ack', 2, 2], ['ack', 3, 3]]);
  socket.close();
});
