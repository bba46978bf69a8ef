// Chinwag JavaScript SDK: ES modules, no runtime dependencies, no build step. Browsers and Node 20
// (pass the `ws` package's WebSocket as `options.WebSocket`). Speaks protocol version 1
// (docs/protocol.md). This is the entry module: it exports the SDK, and holds `ChinwagClient`.
//
// Layout (lib/, one concept each; the parts are exported here for tests and reuse)
// - errors.js: `ChinwagError`. close-codes.js: `CloseCode` and what the link does after each.
// - reconnect.js: `backoffDelay` (exponential, full jitter), `CircuitBreaker`, the close advice.
// - quality.js: `LatencyMeter` (ping EWMA → quality). history-cache.js: `HistoryCache`.
// - storage.js: `MemoryStorage` / `IndexedDBStorage` (the persisted outbox). outbox.js: sending
//   it until acknowledged. receipts.js: watermarks and message states. typing.js: indicators.
// - socket-link.js: `SocketLink`, one WebSocket to the server: auth, resume, requests by id,
//   pings, reconnects that honour close codes. event-stream.js: `EventStreamSocket`, the
//   server-sent events fallback (events down, REST up) behind the same surface as a WebSocket;
//   `transport: 'auto'` switches to it when WebSocket is blocked.
// - tabs.js: tabs of one origin elect a leader with the Web Locks API; only the leader holds a
//   WebSocket, the others (`TabLink`) talk through it over a BroadcastChannel.
// - http.js: REST calls and login. emitter.js: the event emitter.
// - `ChinwagClient` (here): the state every app needs (conversations, messages, outbox and
//   message states, receipts, typing, quality) over either link.

import { CloseCode } from './lib/close-codes.js';
import { Emitter } from './lib/emitter.js';
import { ChinwagError } from './lib/errors.js';
import { EventStreamSocket } from './lib/event-stream.js';
import { HistoryCache } from './lib/history-cache.js';
import { restCall, login } from './lib/http.js';
import { Outbox, newId } from './lib/outbox.js';
import { LatencyMeter } from './lib/quality.js';
import { Receipts } from './lib/receipts.js';
import { backoffDelay, CircuitBreaker, retryAfterFromReason } from './lib/reconnect.js';
import { SocketLink } from './lib/socket-link.js';
import { IndexedDBStorage, MemoryStorage } from './lib/storage.js';
import { TabGroup, TabLink } from './lib/tabs.js';
import { Typing } from './lib/typing.js';

// Imported, then exported (not `export … from`): the declarations then name them in this file.
export {
  backoffDelay, ChinwagError, CircuitBreaker, CloseCode, EventStreamSocket, HistoryCache,
  IndexedDBStorage, LatencyMeter, MemoryStorage, retryAfterFromReason, SocketLink,
};

/** Protocol version this SDK speaks. */
export const PROTOCOL = 1;

/** @typedef {import('./lib/quality.js').Quality} Quality */
/** @typedef {import('./lib/history-cache.js').Message} Message */
/** @typedef {import('./lib/storage.js').OutboxItem} OutboxItem */
/** @typedef {import('./lib/storage.js').Storage} Storage */
/** @typedef {import('./lib/socket-link.js').Transport} Transport */
/** @typedef {import('./lib/socket-link.js').LinkState} LinkState */
/** @typedef {import('./lib/socket-link.js').ResumeRequest} ResumeRequest */
/** @typedef {import('./lib/receipts.js').MessageState} MessageState */

/**
 * @typedef {{id: string, kind: string, subject?: string, title?: string, created_by: string,
 *   created_at: number, last_seq: number, last_activity: number, last_message?: Message,
 *   members: {user_id: string, role: string, joined_at: number, delivered_seq?: number,
 *   read_seq?: number}[], read_seq: number, unread: number}} Conversation
 */

/**
 * @typedef {{url: string, token?: string | null | ((opts: {refresh: boolean}) => Promise<string | null>),
 *   WebSocket?: any, fetch?: typeof fetch, storage?: Storage, shareAcrossTabs?: boolean,
 *   name?: string, backoff?: {baseMs?: number, maxMs?: number},
 *   breaker?: {threshold?: number, cooldownMs?: number}, pingIntervalMs?: number,
 *   pingTimeoutMs?: number, requestTimeoutMs?: number, sendDeadlineMs?: number,
 *   typingThrottleMs?: number, typingIdleMs?: number, transport?: Transport,
 *   cache?: {maxConversations?: number, maxMessages?: number, ttlMs?: number},
 *   random?: () => number}} ClientOptions
 */

/**
 * A Chinwag client: connect, send with an outbox, follow conversations.
 *
 * Events (`client.on(type, fn)`): `state` {state, quality, latencyMs, retryInMs?},
 * `conversations` (the list changed), `message` {message}, `messageState` {conversation_id,
 * client_msg_id, state, message?, error?}, `receipt` (a member's watermarks moved), `typing`
 * {conversation_id, users}, `resumed` {recovered, resynced, conversations, unavailable},
 * `outbox` {pending}, `leader` {leader}, `event` (every other server event, as received).
 */
export class ChinwagClient extends Emitter {
  /** @param {ClientOptions} options */
  constructor(options) {
    super();
    if (!options || typeof options.url !== 'string') {
      throw new ChinwagError('invalid', 'options.url (the server, e.g. https://chat.example) is required');
    }
    this.options = options;
    this.url = options.url.replace(/\/$/, '');
    const token = options.token;
    /** @type {(opts: {refresh: boolean}) => Promise<string | null>} */
    this.tokenProvider = typeof token === 'function' ? token : async () => token ?? null;
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.name = options.name ?? 'chinwag';
    /** @type {Storage} */
    this.storage = options.storage ?? (typeof indexedDB !== 'undefined'
      ? new IndexedDBStorage(this.name) : new MemoryStorage());
    this.cache = new HistoryCache(options.cache);
    /** @type {Map<string, Conversation>} */
    this.conversations = new Map();
    /** Highest seq known per conversation: the resume positions. @type {Map<string, number>} */
    this.positions = new Map();
    /** @type {number | undefined} the cursor of the last `resumed` */
    this.cursor = undefined;
    const request = (/** @type {any} */ frame) => this.request(frame);
    this.queue = new Outbox(this.storage, options, {
      emit: (type, data) => this.emit(type, data), request,
      connected: () => this.state === 'connected',
      apply: (m) => this.applyMessage(m), stateOf: (m) => this.statusOf(m),
    });
    /** Queued and failed messages by `client_msg_id` (the outbox's items). */
    this.outbox = this.queue.items;
    this.receipts = new Receipts(request);
    this.typingIndicators = new Typing(options, request,
      (conversation_id, users) => this.emit('typing', { conversation_id, users }));
    /** @type {any} */
    this.user = null;
    /** @type {SocketLink | TabLink | null} */
    this.link = null;
    this.leader = false;
    this.tabId = Math.random().toString(36).slice(2);
    /** @type {TabGroup | null} the tabs sharing one connection */
    this.tabs = null;
    this.started = false;
    /** @type {Array<() => void>} */
    this.cleanups = [];
  }

  /** Log in with a built-in account; the browser also receives the session cookie. */
  static async login(/** @type {string} */ url, /** @type {string} */ username,
    /** @type {string} */ password, /** @type {{fetch?: typeof fetch}} */ opts = {}) {
    return login(url, username, password, opts);
  }

  /** Load the outbox, then connect (or join the tab that holds the connection). */
  async start() {
    if (this.started) return;
    this.started = true;
    await this.queue.load();
    const cursor = await this.storage.getMeta('cursor').catch(() => undefined);
    if (typeof cursor === 'number') this.cursor = cursor;
    this.queue.emitCount();
    const share = this.options.shareAcrossTabs ?? (typeof BroadcastChannel !== 'undefined'
      && typeof navigator !== 'undefined' && !!navigator.locks);
    if (share) {
      this.startShared();
    } else {
      this.becomeLeader();
    }
    if (typeof window !== 'undefined' && typeof window.addEventListener === 'function') {
      const online = () => { if (this.link instanceof SocketLink) this.link.reconnectNow(); };
      const offline = () => { if (this.link instanceof SocketLink) this.link.dropNow(); };
      window.addEventListener('online', online);
      window.addEventListener('offline', offline);
      this.cleanups.push(() => {
        window.removeEventListener('online', online);
        window.removeEventListener('offline', offline);
      });
    }
  }

  /** Close the connection (or leave the tab group) and stop every timer. */
  stop() {
    this.started = false;
    if (this.link instanceof SocketLink) this.link.stop();
    this.tabs?.leave();
    this.queue.stop();
    this.receipts.stop();
    this.typingIndicators.clear();
    for (const c of this.cleanups.splice(0)) c();
  }

  // ---- links and tabs ----

  /** Join the tabs of this origin: follow the leader's link until this tab is elected. */
  startShared() {
    const tabs = new TabGroup(this.name, this.tabId);
    this.tabs = tabs;
    this.attach(new TabLink(tabs.channel, this.tabId, this.options.requestTimeoutMs ?? 15_000));
    tabs.join((msg) => {
      if (this.leader) {
        if (this.link instanceof SocketLink) tabs.serve(msg, this.link, this.user);
      } else if (this.link instanceof TabLink) {
        this.link.onChannel(msg);
      }
    }, () => {
      if (!this.started) return false;
      if (this.link instanceof TabLink) this.link.fail();
      this.becomeLeader();
      return true;
    });
  }

  becomeLeader() {
    this.leader = true;
    const link = new SocketLink({
      url: this.url,
      WebSocket: this.options.WebSocket,
      token: this.tokenProvider,
      resume: () => this.resumeRequest(),
      backoff: this.options.backoff,
      breaker: this.options.breaker,
      pingIntervalMs: this.options.pingIntervalMs,
      pingTimeoutMs: this.options.pingTimeoutMs,
      requestTimeoutMs: this.options.requestTimeoutMs,
      random: this.options.random,
      transport: this.options.transport ?? 'auto',
      fetch: this.options.fetch,
      sessionAlive: async () => {
        const res = await this.fetch(`${this.url}/v1/me`, { credentials: 'same-origin' });
        return res.status !== 401;
      },
    });
    this.attach(link);
    this.emit('leader', { leader: true });
    link.start();
  }

  /** @param {SocketLink | TabLink} link */
  attach(link) {
    this.link = link;
    link.on('frame', (f) => {
      if (this.link !== link) return;
      this.share({ t: 'frame', frame: f });
      this.onEvent(f);
    });
    link.on('authed', (f) => {
      if (this.link !== link) return;
      this.user = f.user;
      this.share({ t: 'frame', frame: f });
    });
    link.on('resumed', (f) => {
      if (this.link !== link) return;
      this.share({ t: 'frame', frame: f });
      this.onResumed(f);
    });
    link.on('state', (s) => {
      if (this.link !== link) return;
      if (link.user) this.user = link.user;
      this.share({ t: 'state', state: s, user: this.user });
      this.emit('state', s);
      if (s.state === 'connected') this.queue.flush();
      if (s.state === 'unauthenticated') this.emit('unauthenticated', s);
    });
  }

  /** Leader: forward to follower tabs. @param {any} msg */
  share(msg) {
    if (this.leader && this.tabs) this.tabs.share(msg);
  }

  /** Whether this tab holds the WebSocket. */
  get isLeader() {
    return this.leader;
  }

  /** @returns {LinkState} */
  get state() {
    return this.link?.state ?? 'offline';
  }

  /**
   * One request over the link (WebSocket, or the leader tab's).
   * @param {any} frame @returns {Promise<any>}
   */
  request(frame) {
    if (!this.link) return Promise.reject(new ChinwagError('offline', 'not started'));
    return this.link.request(frame);
  }

  resumeRequest() {
    const positions = [...this.positions].map(([conversation_id, seq]) => ({ conversation_id, seq }));
    return { positions, since: this.cursor ?? Date.now() };
  }

  // ---- REST ----

  /**
   * A REST call with the token (or the session cookie).
   * @param {string} method @param {string} path @param {any} [body]
   */
  async rest(method, path, body) {
    return restCall({ url: this.url, fetch: this.fetch, token: this.tokenProvider }, method, path, body);
  }

  /** Fetch the conversation list (most recent first) and learn the positions to resume from. */
  async loadConversations() {
    /** @type {Conversation[]} */
    const all = [];
    let cursor = '';
    for (let page = 0; page < 20; page++) {
      const r = await this.rest('GET', `/v1/conversations?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      all.push(...r.conversations);
      if (!r.next_cursor) break;
      cursor = r.next_cursor;
    }
    for (const c of all) this.learnConversation(c);
    this.emit('conversations', this.conversationList());
    return this.conversationList();
  }

  /**
   * @param {Conversation} c
   * @param {boolean} [listed] from a list or fetch: its `last_seq` becomes the resume position
   */
  learnConversation(c, listed = true) {
    const known = this.conversations.get(c.id);
    this.conversations.set(c.id, { ...known, ...c });
    if (listed && (this.positions.get(c.id) ?? 0) < c.last_seq) {
      this.positions.set(c.id, Math.max(c.last_seq, this.cache.top(c.id)));
    }
    for (const m of c.members ?? []) {
      if (m.delivered_seq !== undefined) {
        this.receipts.setWatermark(c.id, m.user_id, m.delivered_seq, m.read_seq ?? 0);
      }
    }
  }

  /** Conversations, most recent activity first. */
  conversationList() {
    return [...this.conversations.values()].sort((a, b) => b.last_activity - a.last_activity);
  }

  /** Fetch one conversation with every member's watermarks. @param {string} id */
  async loadConversation(id) {
    const c = await this.rest('GET', `/v1/conversations/${encodeURIComponent(id)}`);
    this.learnConversation(c);
    this.emit('conversations', this.conversationList());
    this.emit('receipt', { conversation_id: id });
    return c;
  }

  // ---- messages ----

  /**
   * Messages of a conversation to show: the cached ones, then what is still in the outbox.
   * @param {string} conversationId
   * @returns {(Message | (OutboxItem & {pending: true, sender: string}))[]}
   */
  thread(conversationId) {
    const held = this.cache.messages(conversationId).filter((m) => !m.target);
    const pending = [...this.outbox.values()]
      .filter((i) => i.conversation_id === conversationId)
      .sort((a, b) => a.created_at - b.created_at)
      .map((i) => ({ ...i, pending: /** @type {true} */ (true), sender: this.user?.id ?? '' }));
    return [...held, ...pending];
  }

  /**
   * The newest page, or the page before the oldest held message. Returns whether older exist.
   * @param {string} conversationId @param {{older?: boolean, limit?: number}} [opts]
   * @returns {Promise<{messages: Message[], hasMore: boolean}>}
   */
  async loadHistory(conversationId, opts = {}) {
    const held = this.cache.messages(conversationId);
    /** @type {any} */
    const frame = { type: 'history', conversation_id: conversationId, limit: opts.limit ?? 50 };
    if (opts.older && held.length) frame.before = held[0].seq;
    const page = await this.request(frame);
    const top0 = this.cache.top(conversationId);
    if (!frame.before && page.messages.length && page.messages[0].seq > top0 + 1) {
      this.cache.drop(conversationId);
    }
    this.cache.put(conversationId, page.messages, { hasMoreBefore: page.has_more });
    const top = page.messages.length ? page.messages[page.messages.length - 1].seq : 0;
    if (top > (this.positions.get(conversationId) ?? 0)) this.positions.set(conversationId, top);
    this.confirmReceived(conversationId, top);
    return { messages: page.messages, hasMore: page.has_more };
  }

  /** Whether older messages exist before the held ones. @param {string} conversationId */
  hasOlder(conversationId) {
    const e = this.cache.entries.get(conversationId);
    return !e || e.hasMoreBefore;
  }

  /**
   * Queue a message: it is stored in the outbox first, so it survives reloads and is sent (again,
   * with the same `client_msg_id`) until acknowledged. Returns its `client_msg_id`.
   * @param {string} conversationId @param {string} body
   * @param {{kind?: string, payload?: any, replyTo?: number, clientMsgId?: string}} [opts]
   */
  async send(conversationId, body, opts = {}) {
    /** @type {OutboxItem} */
    const item = {
      client_msg_id: opts.clientMsgId ?? newId(),
      conversation_id: conversationId,
      body,
      kind: opts.kind,
      payload: opts.payload,
      reply_to: opts.replyTo,
      created_at: Date.now(),
      state: 'sending',
    };
    await this.queue.add(item);
    this.stopTyping(conversationId);
    this.queue.sending(item);
    return item.client_msg_id;
  }

  /** Send a failed message again (same `client_msg_id`). @param {string} clientMsgId */
  async retry(clientMsgId) {
    await this.queue.retry(clientMsgId);
  }

  /** Give up on a queued or failed message. @param {string} clientMsgId */
  async discard(clientMsgId) {
    await this.queue.discard(clientMsgId);
  }

  /** Messages not yet acknowledged (queued or failed). */
  pendingCount() {
    return this.outbox.size;
  }

  /**
   * The state of a message for its sender: `sending`/`failed` (outbox), `sent` (acked),
   * `delivered` (another member's device has it), `read` (another member read it).
   * @param {any} message a message or thread entry
   * @returns {MessageState}
   */
  statusOf(message) {
    const queued = this.outbox.get(message.client_msg_id);
    if (queued && (message.pending || !message.seq)) return queued.state;
    return this.receipts.stateOf(message);
  }

  /** Mark read up to `seq` (default: the newest held). @param {string} conversationId @param {number} [seq] */
  async markRead(conversationId, seq) {
    const upTo = seq ?? this.positions.get(conversationId) ?? 0;
    const c = this.conversations.get(conversationId);
    if (!upTo || (c && c.read_seq >= upTo && c.unread === 0)) return;
    if (c) {
      c.read_seq = Math.max(c.read_seq, upTo);
      c.unread = Math.max(0, c.last_seq - c.read_seq);
      this.emit('conversations', this.conversationList());
    }
    await this.request({ type: 'read', conversation_id: conversationId, seq: upTo }).catch(() => {});
  }

  /** @param {string} conversationId @param {number} seq */
  confirmReceived(conversationId, seq) {
    this.receipts.confirmReceived(conversationId, seq, this.leader);
  }

  // ---- typing ----

  /**
   * Call on every keystroke: sends `typing: true` at most every `typingThrottleMs`, and `false`
   * after `typingIdleMs` without keystrokes. @param {string} conversationId
   */
  typing(conversationId) {
    this.typingIndicators.keystroke(conversationId);
  }

  /** @param {string} conversationId */
  stopTyping(conversationId) {
    this.typingIndicators.stop(conversationId);
  }

  /** Users typing in a conversation. @param {string} conversationId */
  typingUsers(conversationId) {
    return this.typingIndicators.users(conversationId);
  }

  // ---- events ----

  /** @param {any} f a server event */
  onEvent(f) {
    switch (f.type) {
      case 'message':
        this.onMessage(f.message);
        break;
      case 'conversation':
        // Its messages follow (resume) or come live: no position from `last_seq` here.
        this.learnConversation(f.conversation, false);
        this.emit('conversations', this.conversationList());
        break;
      case 'read_updated': {
        const c = this.conversations.get(f.conversation_id);
        if (c) {
          c.read_seq = f.read_seq;
          c.unread = f.unread;
          this.emit('conversations', this.conversationList());
        }
        break;
      }
      case 'receipt':
        this.receipts.setWatermark(f.conversation_id, f.user_id, f.delivered_seq, f.read_seq);
        this.emit('receipt', f);
        break;
      case 'typing':
        this.typingIndicators.setTypist(f.conversation_id, f.user_id, f.typing);
        break;
      case 'member_removed':
        if (this.user && f.user_id === this.user.id) this.forget(f.conversation_id);
        break;
      default:
        break;
    }
    this.emit('event', f);
  }

  /** @param {string} id */
  forget(id) {
    this.conversations.delete(id);
    this.positions.delete(id);
    this.cache.drop(id);
    this.receipts.forget(id);
    this.emit('conversations', this.conversationList());
  }

  /** A live or replayed message. @param {Message} m */
  onMessage(m) {
    const c = m.conversation_id;
    const top = this.positions.get(c) ?? 0;
    if (m.seq <= top) {
      // Already known (a replay seam, another tab's copy): only refresh the cache.
      if (this.cache.messages(c).some((x) => x.seq === m.seq)) this.cache.put(c, [m]);
      return;
    }
    if (top > 0 && m.seq > top + 1 && this.cache.top(c) === top) {
      // A gap (possible with several nodes): fetch what is missing, then this one.
      this.fillGap(c, top).finally(() => this.onMessage(m));
      return;
    }
    this.applyMessage(m);
  }

  /** @param {string} c @param {number} after */
  async fillGap(c, after) {
    for (let i = 0; i < 20; i++) {
      const page = await this.request({ type: 'history', conversation_id: c, after, limit: 200 }).catch(() => null);
      if (!page) return;
      for (const m of page.messages) this.applyMessage(m);
      if (!page.has_more || !page.messages.length) return;
      after = page.messages[page.messages.length - 1].seq;
    }
  }

  /** @param {Message} m */
  applyMessage(m) {
    const c = m.conversation_id;
    const top = this.positions.get(c) ?? 0;
    const fresh = m.seq > top;
    if (fresh) this.positions.set(c, m.seq);
    if (m.target && m.payload?.message) {
      this.cache.put(c, [m, m.payload.message]);
    } else {
      const held = this.cache.messages(c);
      // Keep the cache a contiguous window: a message after a hole starts it over (older
      // messages are fetched again when scrolled to).
      if (held.length && m.seq > held[held.length - 1].seq + 1) this.cache.drop(c);
      this.cache.put(c, [m]);
    }
    const conv = this.conversations.get(c);
    if (conv && fresh) {
      conv.last_seq = m.seq;
      conv.last_activity = Math.max(conv.last_activity, m.created_at);
      if (!m.target) conv.last_message = m;
      const mine = this.user && m.sender === this.user.id;
      if (mine) {
        conv.read_seq = m.seq;
        conv.unread = 0;
      } else if (!m.target) {
        conv.unread = Math.max(0, m.seq - conv.read_seq);
      }
      this.emit('conversations', this.conversationList());
    }
    if (this.user && m.sender !== this.user.id) {
      // Sending moves the sender's read position to the message (protocol, `read`): everything
      // before it is read by them, even if no receipt says so.
      if (fresh && !m.target) this.receipts.setWatermark(c, m.sender, m.seq, m.seq);
      this.typingIndicators.setTypist(c, m.sender, false);
      this.confirmReceived(c, m.seq);
    }
    if (m.sender === this.user?.id && this.outbox.has(m.client_msg_id)) {
      // Our own message came back as an event before (or without) its ack.
      this.queue.acked(m);
      return;
    }
    if (fresh || m.target) this.emit('message', { message: m });
  }

  /** The reply to a resume: fetch what the cap left out, then say how it went. @param {any} f */
  async onResumed(f) {
    let resynced = false;
    if (typeof f.cursor === 'number') {
      this.cursor = f.cursor;
      if (this.leader) this.storage.setMeta('cursor', f.cursor).catch(() => {});
    }
    for (const id of f.unavailable ?? []) {
      this.forget(id);
      resynced = true;
    }
    for (const r of f.conversations ?? []) {
      if (r.complete) continue;
      if (r.last_seq - r.to_seq > this.cache.maxMessages) {
        // Too far behind to replay into the cache: start over from the newest page.
        this.cache.drop(r.conversation_id);
        this.positions.set(r.conversation_id, r.last_seq);
        resynced = true;
      } else if (this.leader) {
        await this.fillGap(r.conversation_id, r.to_seq);
      }
    }
    this.emit('resumed', {
      recovered: !resynced, resynced,
      conversations: f.conversations ?? [], unavailable: f.unavailable ?? [],
    });
  }
}
