// The SDK against the real `chinwag` binary (ephemeral port, temporary data, `--demo`), in Node
// with the `ws` package.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { ChinwagClient, EventStreamSocket, MemoryStorage } from '../sdk/chinwag.js';
import { startServer, login, until } from './server.js';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
/** @type {ChinwagClient[]} */
const clients = [];

before(async () => { server = await startServer(); });
after(async () => {
  for (const c of clients) c.stop();
  await server.dispose();
});

/**
 * A started client for a demo user, with its events recorded.
 * @param {string} user @param {{storage?: MemoryStorage, url?: string, extra?: any}} [opts]
 */
async function connect(user, opts = {}) {
  const { token } = await login(opts.url ?? server.url, user);
  const client = new ChinwagClient({
    url: opts.url ?? server.url, token, WebSocket, storage: opts.storage ?? new MemoryStorage(),
    shareAcrossTabs: false, backoff: { baseMs: 50, maxMs: 500 }, pingIntervalMs: 500,
    ...opts.extra,
  });
  clients.push(client);
  /** @type {Record<string, any[]>} */
  const seen = { message: [], messageState: [], typing: [], resumed: [], state: [] };
  for (const type of Object.keys(seen)) client.on(type, (e) => seen[type].push(e));
  await client.start();
  await until(() => client.state === 'connected', `${user} connected`);
  await client.loadConversations();
  return { client, seen };
}

/** The demo's direct conversation between alice and bob. @param {ChinwagClient} c */
const direct = (c) => {
  const conv = c.conversationList().find((x) => x.kind === 'direct');
  assert.ok(conv, 'the demo has a direct conversation');
  return conv.id;
};

test('a message goes sending → sent → delivered → read, and arrives once', async () => {
  const alice = await connect('alice');
  const bob = await connect('bob');
  const conv = direct(alice.client);
  const unreadBefore = bob.client.conversations.get(conv)?.unread ?? 0;

  const id = await alice.client.send(conv, 'Is the bike still for sale?');
  const states = () => alice.seen.messageState.filter((s) => s.client_msg_id === id).map((s) => s.state);
  await until(() => states().includes('sent'), 'ack');
  const got = await until(() => bob.seen.message.find((e) => e.message.client_msg_id === id), 'bob receives it');
  assert.equal(got.message.body, 'Is the bike still for sale?');
  assert.equal(bob.client.conversations.get(conv)?.unread, unreadBefore + 1, 'unread counts up');

  const acked = alice.client.thread(conv).find((m) => m.client_msg_id === id);
  assert.ok(acked);
  // Bob's SDK confirms delivery by itself; alice sees ✓✓.
  await until(() => alice.client.statusOf(acked) === 'delivered', 'delivered');
  await bob.client.markRead(conv);
  await until(() => alice.client.statusOf(acked) === 'read', 'read');
  assert.equal(bob.client.conversations.get(conv)?.unread, 0);
  assert.deepEqual(states(), ['sending', 'sent']);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(bob.seen.message.filter((e) => e.message.client_msg_id === id).length, 1, 'exactly once');
});

test('an outbox written before a reload is replayed with the same client_msg_id, once', async () => {
  const storage = new MemoryStorage();
  const bob = await connect('bob');
  const { token } = await login(server.url, 'alice');
  // A client that never connects (its page was closed while offline): the message stays queued.
  const offline = new ChinwagClient({ url: server.url, token, WebSocket, storage, shareAcrossTabs: false });
  const conv = direct(bob.client);
  const id = await offline.send(conv, 'written offline');
  assert.equal((await storage.load()).length, 1);

  // The "reload": a new client on the same storage sends it.
  const alice = await connect('alice', { storage });
  await until(() => alice.seen.messageState.some((s) => s.client_msg_id === id && s.state === 'sent'), 'replayed and acked');
  assert.equal((await storage.load()).length, 0, 'the outbox is empty once acked');
  await until(() => bob.seen.message.some((e) => e.message.client_msg_id === id), 'bob receives it');

  // The ack was lost (crash after sending): the same item is replayed again; the server answers
  // with the original message and bob gets nothing new.
  await storage.put({ client_msg_id: id, conversation_id: conv, body: 'written offline', created_at: Date.now(), state: 'sending' });
  const again = await connect('alice', { storage });
  await until(() => again.seen.messageState.some((s) => s.client_msg_id === id && ['sent', 'delivered', 'read'].includes(s.state)), 'duplicate acked');
  assert.equal((await storage.load()).length, 0);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(bob.seen.message.filter((e) => e.message.client_msg_id === id).length, 1, 'no duplicate');
  const page = await bob.client.loadHistory(conv);
  assert.equal(page.messages.filter((m) => m.client_msg_id === id).length, 1, 'stored once');
});

test('a dropped connection resumes with every missed message once, in order, recovered', async () => {
  const alice = await connect('alice');
  // Bob comes back after ~1.5 s (jitter pinned high), so alice's messages are surely missed.
  const bob = await connect('bob', { extra: { backoff: { baseMs: 1_500, maxMs: 1_500 }, random: () => 0.99 } });
  const conv = direct(alice.client);
  const link = /** @type {any} */ (bob.client.link);
  // Bob's socket dies; alice keeps sending while bob is away.
  link.ws.terminate();
  await until(() => bob.client.state !== 'connected', 'bob notices');
  const resumedBefore = bob.seen.resumed.length;
  /** @type {string[]} */
  const ids = [];
  for (let i = 0; i < 5; i++) ids.push(await alice.client.send(conv, `missed ${i}`));
  await until(() => bob.seen.resumed.length > resumedBefore, 'bob resumed');
  await until(() => ids.every((id) => bob.seen.message.some((e) => e.message.client_msg_id === id)), 'all missed arrive');
  const seqs = bob.seen.message.filter((e) => ids.includes(e.message.client_msg_id)).map((e) => e.message.seq);
  assert.equal(seqs.length, 5, 'each once');
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'in order');
  const last = bob.seen.resumed[bob.seen.resumed.length - 1];
  assert.equal(last.recovered, true);
  assert.equal(last.resynced, false);
});

test('typing is throttled and stops by itself', async () => {
  const alice = await connect('alice');
  const bob = await connect('bob');
  const conv = direct(alice.client);
  const opts = /** @type {any} */ (alice.client.options);
  opts.typingIdleMs = 600;
  const before = bob.seen.typing.length;
  for (let i = 0; i < 20; i++) {
    alice.client.typing(conv);
    await new Promise((r) => setTimeout(r, 10));
  }
  await until(() => bob.client.typingUsers(conv).includes('alice'), 'bob sees alice typing');
  await until(() => !bob.client.typingUsers(conv).includes('alice'), 'and stop after idling', 5_000);
  const changes = bob.seen.typing.slice(before).filter((t) => t.conversation_id === conv);
  assert.equal(changes.length, 2, `one start and one stop, not one per keystroke: ${JSON.stringify(changes)}`);
});

test('quality comes from ping latency', async () => {
  const alice = await connect('alice');
  const s = await until(() => alice.seen.state.find((e) => e.state === 'connected' && e.latencyMs !== null), 'a measured ping');
  assert.ok(s.latencyMs >= 0 && s.latencyMs < 1_000, `${s.latencyMs}`);
  assert.ok(['excellent', 'good', 'poor'].includes(s.quality));
});

test('older history loads page by page into the cache', async () => {
  const alice = await connect('alice');
  const conv = alice.client.conversationList().find((c) => c.kind === 'group')?.id;
  assert.ok(conv);
  for (let i = 0; i < 6; i++) await alice.client.send(conv, `page ${i}`);
  await until(() => alice.client.outbox.size === 0, 'all acked');
  const fresh = await connect('alice');
  const first = await fresh.client.loadHistory(conv, { limit: 3 });
  assert.equal(first.messages.length, 3);
  assert.equal(first.hasMore, true);
  const older = await fresh.client.loadHistory(conv, { older: true, limit: 3 });
  assert.equal(older.messages.length, 3);
  const held = fresh.client.cache.messages(conv).map((m) => m.seq);
  assert.deepEqual(held, [...held].sort((a, b) => a - b));
  assert.equal(held.length, 6);
  assert.equal(held[5] - held[0], 5, 'contiguous');
  const exported = JSON.parse(JSON.stringify(fresh.client.cache.export()));
  const other = await connect('alice');
  other.client.cache.import(exported);
  assert.deepEqual(other.client.cache.messages(conv).map((m) => m.seq), held);
});

test('a server restart closes with 1012 and the client comes back by itself', async () => {
  const own = await startServer();
  try {
    const alice = await connect('alice', { url: own.url });
    await own.stop();
    const advised = await until(() => alice.seen.state.find((s) => s.state === 'offline' && s.retryInMs >= 1_000), 'advice honoured');
    assert.ok(advised.retryInMs < 7_000, `${advised.retryInMs}`);
    const restarted = await startServer({ port: own.port, dataDir: own.dataDir });
    try {
      const n = alice.seen.resumed.length;
      await until(() => alice.seen.resumed.length > n, 'resumed after the restart', 20_000);
      assert.equal(alice.client.state, 'connected');
    } finally {
      await restarted.stop();
    }
  } finally {
    await own.dispose();
  }
});

test('over server-sent events: messages both ways, resume after a cut, states', async () => {
  const alice = await connect('alice');
  const bob = await connect('bob', { extra: { transport: 'sse', backoff: { baseMs: 1_500, maxMs: 1_500 }, random: () => 0.99 } });
  const link = /** @type {any} */ (bob.client.link);
  assert.equal(link.sse, true);
  assert.ok(link.ws instanceof EventStreamSocket);
  const conv = direct(alice.client);

  // Down: alice's message arrives on bob's stream; up: bob's reply goes through REST.
  const a1 = await alice.client.send(conv, 'over the stream?');
  await until(() => bob.seen.message.some((e) => e.message.client_msg_id === a1), 'bob receives over SSE');
  // Bob's SDK confirms delivery (POST …/received), so alice sees ✓✓.
  const mine = await until(() => alice.client.thread(conv).find((m) => m.client_msg_id === a1 && !('pending' in m)), 'acked');
  await until(() => alice.client.statusOf(mine) === 'delivered', 'delivered through the REST receipt');
  const b1 = await bob.client.send(conv, 'yes, over REST');
  await until(() => bob.seen.messageState.some((s) => s.client_msg_id === b1 && s.state !== 'sending'), 'acked through REST');
  await until(() => alice.seen.message.some((e) => e.message.client_msg_id === b1), 'alice receives it');
  // Replying moved bob's read position past alice's message.
  assert.equal(alice.client.statusOf(mine), 'read');
  const s = await until(() => bob.seen.state.find((e) => e.state === 'connected' && e.latencyMs !== null), 'latency over REST');
  assert.ok(s.latencyMs >= 0);

  // The stream is cut; what alice sends meanwhile is replayed once, in order.
  const resumedBefore = bob.seen.resumed.length;
  link.ws.end(1006, 'cut by the test');
  /** @type {string[]} */
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push(await alice.client.send(conv, `while cut ${i}`));
  await until(() => bob.seen.resumed.length > resumedBefore, 'resumed over SSE');
  await until(() => ids.every((id) => bob.seen.message.some((e) => e.message.client_msg_id === id)), 'missed ones arrive');
  const seqs = bob.seen.message.filter((e) => ids.includes(e.message.client_msg_id)).map((e) => e.message.seq);
  assert.equal(seqs.length, 3);
  assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y));
  assert.equal(bob.seen.resumed[bob.seen.resumed.length - 1].recovered, true);
});

test('auto transport falls back to server-sent events when WebSocket is blocked', async () => {
  /** A WebSocket that a proxy refuses: it never opens. */
  class Blocked {
    constructor() {
      /** @type {any} */ this.onclose = null;
      /** @type {any} */ this.onopen = null;
      /** @type {any} */ this.onmessage = null;
      /** @type {any} */ this.onerror = null;
      this.readyState = 0;
      setTimeout(() => this.onclose?.({ code: 1006, reason: '' }), 5);
    }
    send() {}
    close() {}
  }
  const { token } = await login(server.url, 'carol');
  const carol = new ChinwagClient({
    url: server.url, token, WebSocket: Blocked, storage: new MemoryStorage(), shareAcrossTabs: false,
    backoff: { baseMs: 20, maxMs: 50 },
  });
  clients.push(carol);
  await carol.start();
  await until(() => carol.state === 'connected', 'connected over SSE');
  assert.equal(/** @type {any} */ (carol.link).sse, true);
  await carol.loadConversations();
  const group = carol.conversationList().find((c) => c.kind === 'group');
  assert.ok(group);
  const id = await carol.send(group.id, 'hello from behind a proxy');
  await until(() => carol.outbox.size === 0, 'acked');
  const page = await carol.loadHistory(group.id);
  assert.ok(page.messages.some((m) => m.client_msg_id === id));
});
