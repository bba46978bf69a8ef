// Chinwag JavaScript SDK: one ES module, no runtime dependencies. Browsers and Node 20 (pass the
// `ws` package's WebSocket as `options.WebSocket`). Speaks protocol version 1 (docs/protocol.md).
//
// Layout
// - Small parts, exported for tests and reuse: `backoffDelay` (exponential, full jitter),
//   `CircuitBreaker`, `LatencyMeter` (ping EWMA → quality), `HistoryCache` (bounded, exportable),
//   `MemoryStorage` / `IndexedDBStorage` (the persisted outbox).
// - `SocketLink`: one WebSocket to the server: auth, resume, requests by id, pings, reconnects
//   that honour close codes.
// - `EventStreamSocket`: the server-sent events fallback (events down, REST up) behind the
//   same surface as a WebSocket; `transport: 'auto'` switches to it when WebSocket is blocked.
// - `TabLink`: a follower tab's view of the leader's link over a BroadcastChannel.
// - `ChinwagClient`: the state every app needs (conversations, messages, outbox and message
//   states, receipts, typing, quality) over either link. In a browser, tabs of one origin elect a
//   leader with the Web Locks API; only the leader holds a WebSocket, the others talk through it.

/** Protocol version this SDK speaks. */
export const PROTOCOL = 1;

/** Close codes with meaning for reconnection (docs/protocol.md, "Close codes"). */
export const CloseCode = Object.freeze({
  NORMAL: 1000,
  PROTOCOL_ERROR: 1002,
  INVALID_PAYLOAD: 1007,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
  AUTH_FAILED: 4001,
  AUTH_TIMEOUT: 4002,
  TOKEN_EXPIRED: 4003,
  TOO_MANY_CONNECTIONS: 4005,
  SLOW_CONSUMER: 4008,
  RATE_LIMITED: 4009,
  HEARTBEAT_TIMEOUT: 4010,
});

/** Error codes that will not succeed when retried as is. */
const FINAL_ERRORS = new Set([
  'malformed', 'unknown_type', 'invalid', 'too_large', 'forbidden', 'not_found', 'conflict',
]);

/** An error in the server's one error shape, or a client-side condition (`timeout`, `offline`). */
export class ChinwagError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {{retryAfterMs?: number, current?: unknown, status?: number}} [extra]
   */
  constructor(code, message, extra = {}) {
    super(message);
    this.name = 'ChinwagError';
    /** @type {string} */
    this.code = code;
    /** @type {number | undefined} */
    this.retryAfterMs = extra.retryAfterMs;
    /** @type {unknown} */
    this.current = extra.current;
    /** @type {number | undefined} */
    this.status = extra.status;
  }

  /**
   * @param {any} body the `error` object of a frame or REST body
   * @param {number} [status] the HTTP status, for REST
   */
  static from(body, status) {
    const e = body || {};
    return new ChinwagError(String(e.code || 'internal'), String(e.message || 'error'), {
      retryAfterMs: e.retry_after_ms, current: e.current, status,
    });
  }

  /** Whether sending the same request again later can succeed. */
  get retryable() {
    return !FINAL_ERRORS.has(this.code);
  }
}

/**
 * Exponential backoff with full jitter: a uniform delay in [0, min(max, base·2^attempt)).
 * @param {number} attempt 0 for the first retry
 * @param {{baseMs?: number, maxMs?: number}} [opts]
 * @param {() => number} [random]
 */
export function backoffDelay(attempt, opts = {}, random = Math.random) {
  const base = opts.baseMs ?? 500;
  const max = opts.maxMs ?? 30_000;
  const cap = Math.min(max, base * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * cap);
}

/**
 * `retry_after_ms=N` from a close reason, if present.
 * @param {string} reason @returns {number | undefined}
 */
export function retryAfterFromReason(reason) {
  const m = /retry_after_ms=(\d+)/.exec(reason || '');
  return m ? Number(m[1]) : undefined;
}

/**
 * Stops reconnect storms against a server that keeps refusing: after `threshold` failed attempts
 * in a row the breaker opens and no attempt is made for `cooldownMs`; then one trial is allowed
 * (half-open). A success closes it.
 */
export class CircuitBreaker {
  /** @param {{threshold?: number, cooldownMs?: number, now?: () => number}} [opts] */
  constructor(opts = {}) {
    this.threshold = opts.threshold ?? 8;
    this.cooldownMs = opts.cooldownMs ?? 60_000;
    this.now = opts.now ?? Date.now;
    this.failures = 0;
    /** @type {number | null} when the breaker opened */
    this.openedAt = null;
  }

  /** Milliseconds to wait before the next attempt is allowed (0: now). */
  waitMs() {
    if (this.openedAt === null) return 0;
    return Math.max(0, this.openedAt + this.cooldownMs - this.now());
  }

  get state() {
    if (this.openedAt === null) return 'closed';
    return this.waitMs() > 0 ? 'open' : 'half-open';
  }

  failure() {
    this.failures += 1;
    if (this.failures >= this.threshold) this.openedAt = this.now();
  }

  success() {
    this.failures = 0;
    this.openedAt = null;
  }
}

/** @typedef {'excellent' | 'good' | 'poor' | 'offline'} Quality */

/**
 * Round-trip latency of app-level pings as an exponentially weighted moving average, and the
 * quality it means: excellent < 100 ms, good < 300 ms, poor above, offline when not connected.
 */
export class LatencyMeter {
  /** @param {number} [alpha] weight of the newest sample */
  constructor(alpha = 0.3) {
    this.alpha = alpha;
    /** @type {number | null} */
    this.ewma = null;
  }

  /** @param {number} ms */
  sample(ms) {
    this.ewma = this.ewma === null ? ms : this.alpha * ms + (1 - this.alpha) * this.ewma;
    return this.ewma;
  }

  reset() {
    this.ewma = null;
  }

  /** @param {boolean} connected @returns {Quality} */
  quality(connected) {
    if (!connected) return 'offline';
    if (this.ewma === null || this.ewma < 100) return 'excellent';
    if (this.ewma < 300) return 'good';
    return 'poor';
  }
}

/**
 * @typedef {{id: string, conversation_id: string, seq: number, sender: string,
 *   client_msg_id: string, kind: string, body: string, payload?: any, created_at: number,
 *   reply_to?: number, target?: number, edited_at?: number, deleted?: boolean,
 *   reactions?: Record<string, string[]>}} Message
 */

/**
 * The newest messages of recent conversations, in memory, bounded three ways: messages per
 * conversation (the oldest are dropped), conversations (the least recently used are dropped) and
 * age (`ttlMs` since a conversation was last touched). `export()` and `import()` move it to and
 * from storage the app chooses.
 */
export class HistoryCache {
  /** @param {{maxConversations?: number, maxMessages?: number, ttlMs?: number, now?: () => number}} [opts] */
  constructor(opts = {}) {
    this.maxConversations = opts.maxConversations ?? 50;
    this.maxMessages = opts.maxMessages ?? 500;
    this.ttlMs = opts.ttlMs ?? 7 * 86_400_000;
    this.now = opts.now ?? Date.now;
    /** @type {Map<string, {messages: Message[], hasMoreBefore: boolean, touched: number}>} */
    this.entries = new Map();
  }

  /** @param {string} conversationId */
  entry(conversationId) {
    let e = this.entries.get(conversationId);
    if (e && this.now() - e.touched > this.ttlMs) {
      this.entries.delete(conversationId);
      e = undefined;
    }
    if (!e) {
      e = { messages: [], hasMoreBefore: true, touched: this.now() };
      this.entries.set(conversationId, e);
      this.evict();
    }
    return e;
  }

  /** Messages held for a conversation, ascending by seq. @param {string} conversationId */
  messages(conversationId) {
    const e = this.entries.get(conversationId);
    if (!e || this.now() - e.touched > this.ttlMs) return [];
    return e.messages;
  }

  /** Highest seq held, 0 if none. @param {string} conversationId */
  top(conversationId) {
    const m = this.messages(conversationId);
    return m.length ? m[m.length - 1].seq : 0;
  }

  /**
   * Insert or replace messages (by seq). Returns the ones that were new.
   * @param {string} conversationId @param {Message[]} messages
   * @param {{hasMoreBefore?: boolean}} [page] when the messages are a history page going back
   */
  put(conversationId, messages, page) {
    const e = this.entry(conversationId);
    e.touched = this.now();
    /** @type {Message[]} */
    const added = [];
    for (const m of messages) {
      const i = lowerBound(e.messages, m.seq);
      if (e.messages[i]?.seq === m.seq) {
        e.messages[i] = m;
      } else {
        e.messages.splice(i, 0, m);
        added.push(m);
      }
    }
    if (page && page.hasMoreBefore !== undefined && messages.length
      && e.messages[0].seq === messages[0].seq) {
      e.hasMoreBefore = page.hasMoreBefore;
    }
    if (e.messages.length > this.maxMessages) {
      e.messages.splice(0, e.messages.length - this.maxMessages);
      e.hasMoreBefore = true;
    }
    // Move to the end: the Map's order is the LRU order.
    this.entries.delete(conversationId);
    this.entries.set(conversationId, e);
    return added;
  }

  /** @param {string} conversationId */
  drop(conversationId) {
    this.entries.delete(conversationId);
  }

  evict() {
    while (this.entries.size > this.maxConversations) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  /** A JSON-serialisable copy. */
  export() {
    const now = this.now();
    const conversations = [];
    for (const [id, e] of this.entries) {
      if (now - e.touched <= this.ttlMs) {
        conversations.push({ id, messages: e.messages, hasMoreBefore: e.hasMoreBefore, touched: e.touched });
      }
    }
    return { version: 1, conversations };
  }

  /**
   * Load what `export()` produced (bounds apply; malformed entries are skipped).
   * @param {any} data
   */
  import(data) {
    if (!data || data.version !== 1 || !Array.isArray(data.conversations)) {
      throw new ChinwagError('invalid', 'not a Chinwag history export (version 1)');
    }
    for (const c of data.conversations) {
      if (typeof c?.id !== 'string' || !Array.isArray(c.messages)) continue;
      const messages = c.messages.filter(
        (/** @type {any} */ m) => m && typeof m.seq === 'number' && m.conversation_id === c.id);
      if (typeof c.touched === 'number' && this.now() - c.touched > this.ttlMs) continue;
      this.put(c.id, messages);
      const e = this.entries.get(c.id);
      if (e) {
        e.hasMoreBefore = c.hasMoreBefore !== false;
        if (typeof c.touched === 'number') e.touched = c.touched;
      }
    }
  }
}

/** @param {Message[]} list @param {number} seq */
function lowerBound(list, seq) {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid].seq < seq) lo = mid + 1; else hi = mid;
  }
  return lo;
}

/**
 * @typedef {{client_msg_id: string, conversation_id: string, body: string, kind?: string,
 *   payload?: any, reply_to?: number, created_at: number, state: 'sending' | 'failed',
 *   error?: string}} OutboxItem
 */

/**
 * @typedef {{load(): Promise<OutboxItem[]>, put(item: OutboxItem): Promise<void>,
 *   delete(clientMsgId: string): Promise<void>, getMeta(key: string): Promise<any>,
 *   setMeta(key: string, value: any): Promise<void>}} Storage
 */

/** Outbox storage in memory (Node, tests). Implements `Storage`. */
export class MemoryStorage {
  constructor() {
    /** @type {Map<string, OutboxItem>} */
    this.items = new Map();
    /** @type {Map<string, any>} */
    this.meta = new Map();
  }

  async load() {
    return [...this.items.values()].map((i) => ({ ...i }));
  }

  /** @param {OutboxItem} item */
  async put(item) {
    this.items.set(item.client_msg_id, { ...item });
  }

  /** @param {string} id */
  async delete(id) {
    this.items.delete(id);
  }

  /** @param {string} key */
  async getMeta(key) {
    return this.meta.get(key);
  }

  /** @param {string} key @param {any} value */
  async setMeta(key, value) {
    this.meta.set(key, value);
  }
}

/** Outbox storage in IndexedDB: survives reloads and is shared by the tabs of an origin. */
export class IndexedDBStorage {
  /** @param {string} [name] database name */
  constructor(name = 'chinwag') {
    this.name = name;
    /** @type {Promise<IDBDatabase> | null} */
    this.db = null;
  }

  /** @returns {Promise<IDBDatabase>} */
  open() {
    if (!this.db) {
      this.db = new Promise((resolve, reject) => {
        const req = indexedDB.open(this.name, 1);
        req.onupgradeneeded = () => {
          req.result.createObjectStore('outbox', { keyPath: 'client_msg_id' });
          req.result.createObjectStore('meta');
        };
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
    }
    return this.db;
  }

  /**
   * @template T
   * @param {string} store @param {IDBTransactionMode} mode
   * @param {(s: IDBObjectStore) => IDBRequest<T>} op
   * @returns {Promise<T>}
   */
  async run(store, mode, op) {
    const db = await this.open();
    return new Promise((resolve, reject) => {
      const tx = db.transaction(store, mode);
      const req = op(tx.objectStore(store));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  }

  async load() {
    /** @type {OutboxItem[]} */
    const all = await this.run('outbox', 'readonly', (s) => s.getAll());
    return all.sort((a, b) => a.created_at - b.created_at);
  }

  /** @param {OutboxItem} item */
  async put(item) {
    await this.run('outbox', 'readwrite', (s) => s.put(item));
  }

  /** @param {string} id */
  async delete(id) {
    await this.run('outbox', 'readwrite', (s) => s.delete(id));
  }

  /** @param {string} key */
  async getMeta(key) {
    return this.run('meta', 'readonly', (s) => s.get(key));
  }

  /** @param {string} key @param {any} value */
  async setMeta(key, value) {
    await this.run('meta', 'readwrite', (s) => s.put(value, key));
  }
}

/** A minimal event emitter (the same in browsers and Node). */
class Emitter {
  constructor() {
    /** @type {Map<string, Set<(data: any) => void>>} */
    this.listeners = new Map();
  }

  /**
   * Listen; returns the function that stops listening.
   * @param {string} type @param {(data: any) => void} fn
   */
  on(type, fn) {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  /** @param {string} type @param {any} [data] */
  emit(type, data) {
    for (const fn of this.listeners.get(type) ?? []) {
      try {
        fn(data);
      } catch (e) {
        // A listener's bug must not stop the SDK.
        setTimeout(() => { throw e; });
      }
    }
  }
}

/**
 * The server-sent events fallback behind a WebSocket's surface (`send`, `close`, `onmessage`,
 * `onclose`, `readyState`), so `SocketLink` drives both the same way. Events come down
 * `GET /v1/events` (read with `fetch`, so the token can go in a header, in browsers and Node);
 * requests go up as the equivalent REST calls and their answers come back as the reply frames a
 * WebSocket would send. The stream's `event: close` becomes `onclose` with its code and reason.
 */
export class EventStreamSocket {
  /**
   * @param {{url: string, token: string | null, resume: ResumeRequest, fetch: typeof fetch}} opts
   * `url` is the server's HTTP base
   */
  constructor(opts) {
    this.opts = opts;
    this.readyState = 1;
    /** @type {((ev: {data: string}) => void) | null} */
    this.onmessage = null;
    /** @type {((ev: {code: number, reason: string}) => void) | null} */
    this.onclose = null;
    /** @type {(() => void) | null} */
    this.onopen = null;
    /** @type {(() => void) | null} */
    this.onerror = null;
    this.abort = new AbortController();
    this.closed = false;
    setTimeout(() => this.run(), 0);
  }

  /** @returns {Record<string, string>} */
  headers() {
    return this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : {};
  }

  async run() {
    const r = this.opts.resume;
    const params = new URLSearchParams();
    if (r.since !== undefined) params.set('since', String(r.since));
    if (r.positions.length) params.set('positions', r.positions.map((p) => `${p.conversation_id}:${p.seq}`).join(','));
    let res;
    try {
      res = await this.opts.fetch(`${this.opts.url}/v1/events?${params}`, {
        headers: { accept: 'text/event-stream', ...this.headers() },
        credentials: 'same-origin', signal: this.abort.signal,
      });
    } catch (e) {
      this.end(1006, String(e));
      return;
    }
    if (!res.ok || !res.body) {
      const body = await res.json().catch(() => ({}));
      const code = body?.error?.code;
      const retry = body?.error?.retry_after_ms;
      if (res.status === 401) this.end(code === 'token_expired' ? CloseCode.TOKEN_EXPIRED : CloseCode.AUTH_FAILED, '');
      else if (res.status === 503) this.end(CloseCode.SERVICE_RESTART, `retry_after_ms=${retry ?? 1000}`);
      else if (res.status === 429) this.end(CloseCode.TOO_MANY_CONNECTIONS, `retry_after_ms=${retry ?? 5000}`);
      else this.end(1006, `HTTP ${res.status}`);
      return;
    }
    this.onopen?.();
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let end;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          let name = 'message';
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) name = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (!data) continue;
          if (name === 'close') {
            const c = JSON.parse(data);
            this.end(Number(c.code), String(c.reason ?? ''));
            return;
          }
          this.onmessage?.({ data });
        }
      }
    } catch {
      // Aborted or cut: ends below.
    }
    this.end(1006, 'stream ended');
  }

  /** @param {number} code @param {string} reason */
  end(code, reason) {
    if (this.closed) return;
    this.closed = true;
    this.readyState = 3;
    this.abort.abort();
    this.onclose?.({ code, reason });
  }

  close() {
    this.closed = true;
    this.readyState = 3;
    this.abort.abort();
  }

  /** A client frame, answered through REST. @param {string} text */
  send(text) {
    const frame = JSON.parse(text);
    this.rest(frame).then(
      (reply) => this.reply({ ...reply, id: frame.id }),
      (/** @type {ChinwagError} */ e) => this.reply({
        type: 'error', id: frame.id,
        error: { code: e.code, message: e.message, retry_after_ms: e.retryAfterMs, current: e.current },
      }));
  }

  /** @param {any} frame */
  reply(frame) {
    if (!this.closed) this.onmessage?.({ data: JSON.stringify(frame) });
  }

  /** @param {any} f a client frame @returns {Promise<any>} the reply frame without `id` */
  async rest(f) {
    const c = `/v1/conversations/${encodeURIComponent(f.conversation_id ?? '')}`;
    /** @param {string} method @param {string} path @param {any} [body] */
    const call = async (method, path, body) => {
      /** @type {Record<string, string>} */
      const headers = this.headers();
      if (body !== undefined) headers['content-type'] = 'application/json';
      let res;
      try {
        res = await this.opts.fetch(this.opts.url + path, {
          method, headers, credentials: 'same-origin',
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (e) {
        throw new ChinwagError('offline', `request failed: ${e}`);
      }
      const text = await res.text();
      const json = text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : {};
      if (!res.ok) throw ChinwagError.from(json.error, res.status);
      return json;
    };
    switch (f.type) {
      case 'send': {
        /** @type {any} */
        const body = { client_msg_id: f.client_msg_id, body: f.body };
        for (const k of ['kind', 'payload', 'reply_to']) if (f[k] !== undefined) body[k] = f[k];
        const r = await call('POST', `${c}/messages`, body);
        return { type: 'ack', message: r.message, duplicate: r.duplicate };
      }
      case 'history': {
        const q = new URLSearchParams();
        for (const k of ['before', 'after', 'limit']) if (f[k] !== undefined) q.set(k, String(f[k]));
        const r = await call('GET', `${c}/messages?${q}`);
        return { type: 'history', ...r };
      }
      case 'read':
        await call('POST', `${c}/read`, { seq: f.seq });
        return { type: 'ok' };
      case 'received':
        await call('POST', `${c}/received`, { seq: f.seq });
        return { type: 'ok' };
      case 'typing':
        await call('POST', `${c}/typing`, { typing: f.typing });
        return { type: 'ok' };
      case 'ping':
        await call('GET', '/healthz');
        return { type: 'pong', ts: f.ts, server_ts: Date.now() };
      default:
        throw new ChinwagError('unknown_type', `\`${f.type}\` is not available over server-sent events`);
    }
  }
}

/** @typedef {'websocket' | 'sse' | 'auto'} Transport */

/** @typedef {'connecting' | 'connected' | 'offline' | 'unauthenticated' | 'closed'} LinkState */

/**
 * @typedef {{positions: {conversation_id: string, seq: number}[], since?: number}} ResumeRequest
 */

/**
 * One WebSocket to the server, kept open: authenticates (token in the first frame, or the
 * browser's session cookie when the token provider gives `null`), resumes, answers requests by
 * id, measures latency, and reconnects as the close code says.
 *
 * Emits `frame` (every server frame that is not a reply), `state` ({state, quality, latencyMs,
 * retryInMs?, error?}), `authed` (the authed frame, before resume), `resumed` (the reply).
 */
export class SocketLink extends Emitter {
  /**
   * @param {{url: string, WebSocket?: any, token: (opts: {refresh: boolean}) => Promise<string | null>,
   *   resume: () => ResumeRequest, backoff?: {baseMs?: number, maxMs?: number},
   *   breaker?: {threshold?: number, cooldownMs?: number}, pingIntervalMs?: number,
   *   pingTimeoutMs?: number, requestTimeoutMs?: number, random?: () => number,
   *   transport?: Transport, fetch?: typeof fetch, sessionAlive?: () => Promise<boolean>}} opts
   * `sessionAlive` (cookie authentication): whether the session cookie is still accepted
   */
  constructor(opts) {
    super();
    this.opts = opts;
    this.WebSocket = opts.WebSocket ?? globalThis.WebSocket;
    /** The transport in use: `sse` when asked for, or after WebSocket kept failing (`auto`). */
    this.sse = opts.transport === 'sse';
    /** WebSocket attempts in a row that never opened (`auto` switches to SSE after two). */
    this.unopened = 0;
    if (!this.WebSocket && !this.sse) {
      throw new ChinwagError('invalid', 'no WebSocket: pass options.WebSocket (e.g. the `ws` package)');
    }
    this.wsUrl = opts.url.replace(/^http/, 'ws').replace(/\/$/, '') + '/v1/ws';
    /** @type {any} */
    this.ws = null;
    /** @type {LinkState} */
    this.state = 'offline';
    this.attempt = 0;
    this.breaker = new CircuitBreaker(opts.breaker);
    this.latency = new LatencyMeter();
    this.nextId = 1;
    /** @type {Map<number, {resolve: (f: any) => void, reject: (e: any) => void, timer: any}>} */
    this.pending = new Map();
    /** @type {any} */
    this.retryTimer = null;
    /** @type {any} */
    this.pingTimer = null;
    this.stopped = true;
    this.refreshToken = false;
    /** Whether this connection reached `authed` (a failure before that counts for the breaker). */
    this.authed = false;
    /** @type {any} */
    this.user = null;
    /** Whether the current connection opened (a WebSocket that never opens may be blocked). */
    this.opened = false;
    /** @type {any} the check for a cookie session that did not authenticate the upgrade */
    this.authWait = null;
    /** Request ids whose `resumed` reply is still to come. @type {Set<number>} */
    this.resumingWith = new Set();
    /** The token provider gave no token: the browser's session cookie authenticates. */
    this.cookieMode = false;
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.closeSocket(CloseCode.NORMAL, 'client closed');
    // The socket's own close event is ignored once it is detached: clean up here.
    this.onClosed(CloseCode.NORMAL, '');
    this.setState('closed');
  }

  /** The network is back (browser `online` event): try now rather than after the backoff. */
  reconnectNow() {
    if (this.stopped || this.state === 'connected' || this.state === 'connecting') return;
    clearTimeout(this.retryTimer);
    this.attempt = 0;
    this.connect();
  }

  /** The network is gone (browser `offline` event): close at once instead of waiting for pings. */
  dropNow() {
    if (this.stopped) return;
    this.closeSocket(4000, 'network offline');
    this.onClosed(1006, '');
  }

  /**
   * @param {LinkState} state
   * @param {{retryInMs?: number, error?: ChinwagError}} [extra]
   */
  setState(state, extra = {}) {
    this.state = state;
    if (state !== 'connected') this.latency.reset();
    this.emit('state', {
      state, quality: this.latency.quality(state === 'connected'),
      latencyMs: this.latency.ewma, ...extra,
    });
  }

  async connect() {
    if (this.stopped) return;
    const wait = this.breaker.waitMs();
    if (wait > 0) {
      this.scheduleRetry(wait);
      return;
    }
    this.setState('connecting');
    /** @type {string | null} */
    let token;
    try {
      token = await this.opts.token({ refresh: this.refreshToken });
    } catch (e) {
      this.breaker.failure();
      this.scheduleRetry(backoffDelay(this.attempt++, this.opts.backoff, this.opts.random));
      return;
    }
    this.refreshToken = false;
    this.cookieMode = !token;
    if (this.stopped) return;
    this.authed = false;
    this.opened = false;
    let ws;
    try {
      ws = this.sse
        ? new EventStreamSocket({
          url: this.opts.url.replace(/\/$/, ''), token, resume: this.opts.resume(),
          fetch: this.opts.fetch ?? globalThis.fetch.bind(globalThis),
        })
        : new this.WebSocket(this.wsUrl);
    } catch (e) {
      this.onClosed(1006, String(e));
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.opened = true;
      this.unopened = 0;
      // Over SSE the token and resume went with the request.
      if (token && !this.sse) {
        this.resumingWith.add(this.nextId);
        this.request({ type: 'auth', token, resume: this.opts.resume() }, true).catch(() => {});
      }
      if (!token && !this.sse && this.opts.sessionAlive) {
        // With a valid cookie `authed` comes at once; without one the server would wait for an
        // `auth` frame until its timeout. Ask whether the session still exists instead.
        const alive = this.opts.sessionAlive;
        clearTimeout(this.authWait);
        this.authWait = setTimeout(async () => {
          if (this.ws !== ws || this.authed) return;
          if (await alive().catch(() => true)) return;
          if (this.ws !== ws || this.authed) return;
          this.stopped = true;
          this.closeSocket(CloseCode.NORMAL, 'session ended');
          this.onClosed(CloseCode.NORMAL, '');
          this.setState('unauthenticated', { error: new ChinwagError('unauthenticated', 'the session cookie is no longer accepted') });
        }, 2_000);
      }
    };
    ws.onmessage = (/** @type {any} */ ev) => {
      if (this.ws !== ws) return;
      this.onFrame(String(ev.data));
    };
    ws.onclose = (/** @type {any} */ ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.onClosed(ev.code, ev.reason || '');
    };
    ws.onerror = () => {};
  }

  /** @param {string} text */
  onFrame(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame.type === 'authed' && frame.id == null) {
      this.onAuthed(frame);
      if (!this.sse) {
        // Cookie authentication: the server authed the upgrade; resume now.
        this.resumingWith.add(this.nextId);
        this.request({ type: 'resume', ...this.opts.resume() }, true).catch(() => {});
      }
      return;
    }
    const waiter = frame.id != null ? this.pending.get(frame.id) : undefined;
    if (frame.type === 'authed') this.onAuthed(frame);
    if (waiter) {
      // `auth` with `resume` has two replies with its id: `authed`, then `resumed`.
      if (frame.type !== 'authed' || !this.resumingWith.has(frame.id)) {
        this.pending.delete(frame.id);
        clearTimeout(waiter.timer);
      }
      if (frame.type === 'error') waiter.reject(ChinwagError.from(frame.error));
      else waiter.resolve(frame);
    }
    if (frame.type === 'resumed') {
      this.resumingWith.delete(frame.id);
      this.emit('resumed', frame);
    } else if (!waiter && frame.type !== 'authed') {
      this.emit('frame', frame);
    }
  }

  /** @param {any} frame */
  onAuthed(frame) {
    this.authed = true;
    this.user = frame.user;
    this.attempt = 0;
    this.breaker.success();
    this.emit('authed', frame);
    this.setState('connected');
    this.startPings();
  }

  startPings() {
    clearInterval(this.pingTimer);
    const every = this.opts.pingIntervalMs ?? 15_000;
    const ping = () => {
      const ts = Date.now();
      this.request({ type: 'ping', ts }, true, this.opts.pingTimeoutMs ?? 10_000)
        .then(() => {
          this.latency.sample(Date.now() - ts);
          if (this.state === 'connected') this.setState('connected');
        })
        .catch((e) => {
          // No pong in time: the connection is dead even if the socket has not noticed.
          if (e.code === 'timeout' && this.ws) {
            this.closeSocket(4000, 'ping timeout');
            this.onClosed(1006, 'ping timeout');
          }
        });
    };
    ping();
    this.pingTimer = setInterval(ping, every);
  }

  /**
   * Send a request and wait for its one reply (rejects with the error frame's `ChinwagError`,
   * or `timeout`, or `offline` when the connection is not authenticated).
   * @param {any} frame without `id`
   * @param {boolean} [beforeAuth] allowed before `authed` (auth, resume, ping)
   * @param {number} [timeoutMs]
   * @returns {Promise<any>}
   */
  request(frame, beforeAuth = false, timeoutMs) {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1 || (!beforeAuth && this.state !== 'connected')) {
      return Promise.reject(new ChinwagError('offline', 'not connected'));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ChinwagError('timeout', `no reply to ${frame.type} in time`));
      }, timeoutMs ?? this.opts.requestTimeoutMs ?? 15_000);
      this.pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify({ ...frame, id }));
    });
  }

  /** @param {number} code @param {string} reason */
  closeSocket(code, reason) {
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      try {
        ws.close(code, reason);
      } catch {
        // Already closing.
      }
    }
  }

  /** @param {number} code @param {string} reason */
  onClosed(code, reason) {
    clearInterval(this.pingTimer);
    clearTimeout(this.authWait);
    for (const [, w] of this.pending) {
      clearTimeout(w.timer);
      w.reject(new ChinwagError('offline', 'connection closed'));
    }
    this.pending.clear();
    this.resumingWith.clear();
    if (this.stopped) return;
    if (!this.opened && !this.sse && this.opts.transport === 'auto' && ++this.unopened >= 2) {
      // WebSocket seems blocked on this network: use server-sent events from now on.
      this.sse = true;
      this.emit('transport', { transport: 'sse' });
    }
    if (this.cookieMode && (code === CloseCode.AUTH_FAILED || code === CloseCode.AUTH_TIMEOUT
      || code === CloseCode.TOKEN_EXPIRED)) {
      // No token to refresh: the session cookie is missing or expired; sign in again.
      this.stopped = true;
      this.setState('unauthenticated', { error: new ChinwagError('unauthenticated', `closed with ${code}`) });
      return;
    }
    const advised = retryAfterFromReason(reason);
    const random = this.opts.random ?? Math.random;
    if (!this.authed) this.breaker.failure();
    switch (code) {
      case CloseCode.PROTOCOL_ERROR:
      case CloseCode.INVALID_PAYLOAD:
      case CloseCode.MESSAGE_TOO_BIG:
        // A client bug: reconnecting would repeat it.
        this.stopped = true;
        this.setState('closed', { error: new ChinwagError('protocol', `closed with ${code} ${reason}`) });
        return;
      case CloseCode.AUTH_FAILED:
      case CloseCode.TOKEN_EXPIRED:
        this.refreshToken = true;
        if (this.breaker.failures >= 2 && !this.authed) {
          // The provider keeps handing out refused tokens: the user must sign in again.
          this.stopped = true;
          this.setState('unauthenticated', { error: new ChinwagError(code === 4003 ? 'token_expired' : 'unauthenticated', 'credentials refused') });
          return;
        }
        this.scheduleRetry(code === CloseCode.TOKEN_EXPIRED ? 0 : backoffDelay(this.attempt++, this.opts.backoff, random));
        return;
      case CloseCode.SERVICE_RESTART:
      case CloseCode.RATE_LIMITED: {
        const base = advised ?? (code === CloseCode.RATE_LIMITED ? 5_000 : 1_000);
        this.scheduleRetry(base + Math.floor(random() * Math.min(1_000, base)));
        return;
      }
      case CloseCode.AUTH_TIMEOUT:
      case CloseCode.SLOW_CONSUMER:
        // Nothing is lost; come back at once (the breaker still stops a loop).
        this.scheduleRetry(0);
        return;
      default:
        this.scheduleRetry(backoffDelay(this.attempt++, this.opts.backoff, random));
    }
  }

  /** @param {number} ms */
  scheduleRetry(ms) {
    clearTimeout(this.retryTimer);
    const wait = Math.max(ms, this.breaker.waitMs());
    this.setState('offline', { retryInMs: wait });
    this.retryTimer = setTimeout(() => this.connect(), wait);
  }
}

/**
 * A follower tab's link: requests go to the leader tab over the BroadcastChannel, the leader's
 * frames and state come back. Same surface as `SocketLink`.
 */
class TabLink extends Emitter {
  /** @param {BroadcastChannel} channel @param {string} tabId @param {number} timeoutMs */
  constructor(channel, tabId, timeoutMs) {
    super();
    this.channel = channel;
    this.tabId = tabId;
    this.timeoutMs = timeoutMs;
    /** @type {LinkState} */
    this.state = 'offline';
    this.nextId = 1;
    /** @type {Map<number, {resolve: (f: any) => void, reject: (e: any) => void, timer: any}>} */
    this.pending = new Map();
    /** @type {any} */
    this.user = null;
  }

  /** @param {any} msg a message from the channel */
  onChannel(msg) {
    if (msg.t === 'frame') {
      if (msg.frame.type === 'authed') this.user = msg.frame.user;
      if (msg.frame.type === 'resumed') this.emit('resumed', msg.frame);
      else if (msg.frame.type !== 'authed') this.emit('frame', msg.frame);
    } else if (msg.t === 'state') {
      this.state = msg.state.state;
      if (msg.user) this.user = msg.user;
      this.emit('state', msg.state);
    } else if (msg.t === 'reply' && msg.to === this.tabId) {
      const w = this.pending.get(msg.rid);
      if (!w) return;
      this.pending.delete(msg.rid);
      clearTimeout(w.timer);
      if (msg.frame.type === 'error') w.reject(ChinwagError.from(msg.frame.error));
      else w.resolve(msg.frame);
    }
  }

  /** @param {any} frame @returns {Promise<any>} */
  request(frame) {
    if (this.state !== 'connected') return Promise.reject(new ChinwagError('offline', 'not connected'));
    const rid = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        reject(new ChinwagError('timeout', `no reply to ${frame.type} in time`));
      }, this.timeoutMs);
      this.pending.set(rid, { resolve, reject, timer });
      this.channel.postMessage({ t: 'req', from: this.tabId, rid, frame });
    });
  }

  /** The leader left: everything in flight is lost (the outbox resends). */
  fail() {
    for (const [, w] of this.pending) {
      clearTimeout(w.timer);
      w.reject(new ChinwagError('offline', 'leader tab went away'));
    }
    this.pending.clear();
  }
}

/** @typedef {'sending' | 'sent' | 'delivered' | 'read' | 'failed'} MessageState */

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
    /** @type {Map<string, OutboxItem>} */
    this.outbox = new Map();
    /** Ack deadlines of transmitted outbox items. @type {Map<string, any>} */
    this.deadlines = new Map();
    /** Other members' watermarks: conversation → user → {delivered, read}. @type {Map<string, Map<string, {delivered: number, read: number}>>} */
    this.watermarks = new Map();
    /** Who is typing: conversation → user → expiry timer. @type {Map<string, Map<string, any>>} */
    this.typists = new Map();
    /** Our own typing: conversation → {sentAt, idleTimer}. @type {Map<string, {sentAt: number, idle: any}>} */
    this.ownTyping = new Map();
    /** Highest seq confirmed with `received` per conversation. @type {Map<string, number>} */
    this.receivedSent = new Map();
    /** @type {any} */
    this.receivedTimer = null;
    /** `received` confirmations waiting for the batch timer. @type {Map<string, number>} */
    this.receivedQueue = new Map();
    /** @type {any} */
    this.user = null;
    /** @type {SocketLink | TabLink | null} */
    this.link = null;
    this.leader = false;
    this.tabId = Math.random().toString(36).slice(2);
    /** @type {BroadcastChannel | null} */
    this.channel = null;
    /** @type {(() => void) | null} releases the leader lock */
    this.releaseLeadership = null;
    this.started = false;
    /** @type {Array<() => void>} */
    this.cleanups = [];
  }

  /** Log in with a built-in account; the browser also receives the session cookie. */
  static async login(/** @type {string} */ url, /** @type {string} */ username,
    /** @type {string} */ password, /** @type {{fetch?: typeof fetch}} */ opts = {}) {
    const f = opts.fetch ?? globalThis.fetch;
    const res = await f(url.replace(/\/$/, '') + '/v1/accounts/login', {
      method: 'POST', credentials: 'same-origin',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw ChinwagError.from(body.error, res.status);
    return body;
  }

  /** Load the outbox, then connect (or join the tab that holds the connection). */
  async start() {
    if (this.started) return;
    this.started = true;
    for (const item of await this.storage.load()) {
      this.outbox.set(item.client_msg_id, item);
    }
    const cursor = await this.storage.getMeta('cursor').catch(() => undefined);
    if (typeof cursor === 'number') this.cursor = cursor;
    this.emitOutbox();
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
    this.releaseLeadership?.();
    this.channel?.close();
    for (const t of this.deadlines.values()) clearTimeout(t);
    this.deadlines.clear();
    clearTimeout(this.receivedTimer);
    for (const m of this.typists.values()) for (const t of m.values()) clearTimeout(t);
    for (const t of this.ownTyping.values()) clearTimeout(t.idle);
    for (const c of this.cleanups.splice(0)) c();
  }

  // ---- links and tabs ----

  startShared() {
    const channel = new BroadcastChannel(`${this.name}-link`);
    this.channel = channel;
    const follower = new TabLink(channel, this.tabId, this.options.requestTimeoutMs ?? 15_000);
    this.attach(follower);
    channel.onmessage = (ev) => {
      const msg = ev.data;
      if (this.leader) {
        this.serveFollower(msg);
      } else if (this.link instanceof TabLink) {
        this.link.onChannel(msg);
      }
    };
    channel.postMessage({ t: 'hello', from: this.tabId });
    // The first tab to hold the lock leads; when it closes, the lock passes to a waiting tab.
    navigator.locks.request(`${this.name}-leader`, () => new Promise((release) => {
      if (!this.started) {
        release(undefined);
        return;
      }
      this.releaseLeadership = () => release(undefined);
      if (this.link instanceof TabLink) this.link.fail();
      this.becomeLeader();
    }));
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
      if (s.state === 'connected') this.flushOutbox();
      if (s.state === 'unauthenticated') this.emit('unauthenticated', s);
    });
  }

  /** Leader: forward to follower tabs. @param {any} msg */
  share(msg) {
    if (this.leader && this.channel) this.channel.postMessage(msg);
  }

  /** Leader: a follower's request or greeting. @param {any} msg */
  serveFollower(msg) {
    const link = this.link;
    if (!(link instanceof SocketLink) || !this.channel) return;
    const channel = this.channel;
    if (msg.t === 'hello') {
      channel.postMessage({
        t: 'state', user: this.user,
        state: { state: link.state, quality: link.latency.quality(link.state === 'connected'), latencyMs: link.latency.ewma },
      });
    } else if (msg.t === 'req') {
      link.request(msg.frame).then(
        (frame) => channel.postMessage({ t: 'reply', to: msg.from, rid: msg.rid, frame }),
        (/** @type {ChinwagError} */ e) => channel.postMessage({
          t: 'reply', to: msg.from, rid: msg.rid,
          frame: { type: 'error', error: { code: e.code, message: e.message, retry_after_ms: e.retryAfterMs, current: e.current } },
        }));
    }
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
    const token = await this.tokenProvider({ refresh: false });
    /** @type {Record<string, string>} */
    const headers = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res;
    try {
      res = await this.fetch(this.url + path, {
        method, headers, credentials: 'same-origin',
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new ChinwagError('offline', `request failed: ${e}`);
    }
    if (res.status === 204) return null;
    const json = await res.json().catch(() => ({}));
    if (!res.ok) throw ChinwagError.from(json.error, res.status);
    return json;
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
        this.setWatermark(c.id, m.user_id, m.delivered_seq, m.read_seq ?? 0);
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
    this.outbox.set(item.client_msg_id, item);
    await this.storage.put(item);
    this.stopTyping(conversationId);
    this.emit('messageState', { conversation_id: conversationId, client_msg_id: item.client_msg_id, state: 'sending' });
    this.emitOutbox();
    this.transmit(item);
    return item.client_msg_id;
  }

  /** Send a failed message again (same `client_msg_id`). @param {string} clientMsgId */
  async retry(clientMsgId) {
    const item = this.outbox.get(clientMsgId);
    if (!item) return;
    item.state = 'sending';
    delete item.error;
    await this.storage.put(item);
    this.emit('messageState', { conversation_id: item.conversation_id, client_msg_id: clientMsgId, state: 'sending' });
    this.emitOutbox();
    this.transmit(item);
  }

  /** Give up on a queued or failed message. @param {string} clientMsgId */
  async discard(clientMsgId) {
    const item = this.outbox.get(clientMsgId);
    if (!item) return;
    this.outbox.delete(clientMsgId);
    clearTimeout(this.deadlines.get(clientMsgId));
    this.deadlines.delete(clientMsgId);
    await this.storage.delete(clientMsgId);
    this.emitOutbox();
  }

  /** Messages not yet acknowledged (queued or failed). */
  pendingCount() {
    return this.outbox.size;
  }

  emitOutbox() {
    const items = [...this.outbox.values()];
    this.emit('outbox', { pending: items.length, failed: items.filter((i) => i.state === 'failed').length });
  }

  flushOutbox() {
    const items = [...this.outbox.values()].sort((a, b) => a.created_at - b.created_at);
    for (const item of items) if (item.state === 'sending') this.transmit(item);
  }

  /**
   * Send one outbox item now if connected; without an ack before `sendDeadlineMs` it fails.
   * @param {OutboxItem} item
   */
  transmit(item) {
    if (this.state !== 'connected' || this.deadlines.has(item.client_msg_id)) return;
    const id = item.client_msg_id;
    const deadline = setTimeout(() => {
      this.deadlines.delete(id);
      this.fail(id, new ChinwagError('timeout', 'not acknowledged in time'));
    }, this.options.sendDeadlineMs ?? 30_000);
    this.deadlines.set(id, deadline);
    /** @type {any} */
    const frame = { type: 'send', conversation_id: item.conversation_id, client_msg_id: id, body: item.body };
    if (item.kind) frame.kind = item.kind;
    if (item.payload !== undefined) frame.payload = item.payload;
    if (item.reply_to !== undefined) frame.reply_to = item.reply_to;
    this.request(frame).then(
      (ack) => this.onAck(ack.message),
      (/** @type {ChinwagError} */ e) => {
        if (this.deadlines.get(id) !== deadline) return;
        clearTimeout(deadline);
        this.deadlines.delete(id);
        if (!e.retryable) {
          this.fail(id, e);
        } else if (e.code === 'rate_limited' || e.code === 'unavailable' || e.code === 'internal') {
          const item = this.outbox.get(id);
          setTimeout(() => { if (item && item.state === 'sending') this.transmit(item); }, e.retryAfterMs ?? 1_000);
        }
        // `offline`/`timeout`: the item stays queued and goes out again on the next connect.
      });
  }

  /** @param {string} id @param {ChinwagError} e */
  async fail(id, e) {
    const item = this.outbox.get(id);
    if (!item) return;
    item.state = 'failed';
    item.error = e.code;
    await this.storage.put(item);
    this.emit('messageState', { conversation_id: item.conversation_id, client_msg_id: id, state: 'failed', error: e });
    this.emitOutbox();
  }

  /** @param {Message} message */
  async onAck(message) {
    const id = message.client_msg_id;
    clearTimeout(this.deadlines.get(id));
    this.deadlines.delete(id);
    const queued = this.outbox.delete(id);
    this.applyMessage(message);
    if (queued) {
      this.emit('messageState', { conversation_id: message.conversation_id, client_msg_id: id, state: this.statusOf(message), message });
      this.emitOutbox();
      await this.storage.delete(id);
    }
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
    let delivered = 0;
    let read = 0;
    for (const [user, w] of this.watermarks.get(message.conversation_id) ?? []) {
      if (user === message.sender) continue;
      delivered = Math.max(delivered, w.delivered);
      read = Math.max(read, w.read);
    }
    if (read >= message.seq) return 'read';
    if (delivered >= message.seq) return 'delivered';
    return 'sent';
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

  /**
   * Confirm delivery of everything up to `seq`, batched: one `received` per conversation for the
   * highest seq of what arrived in a burst. Only the tab holding the connection sends them.
   * @param {string} conversationId @param {number} seq
   */
  confirmReceived(conversationId, seq) {
    if ((this.receivedSent.get(conversationId) ?? 0) >= seq) return;
    this.receivedSent.set(conversationId, seq);
    if (!this.leader) return;
    this.receivedQueue.set(conversationId, seq);
    clearTimeout(this.receivedTimer);
    this.receivedTimer = setTimeout(() => {
      const q = this.receivedQueue;
      this.receivedQueue = new Map();
      for (const [c, s] of q) {
        this.request({ type: 'received', conversation_id: c, seq: s }).catch(() => {
          this.receivedSent.set(c, 0);
        });
      }
    }, 200);
  }

  // ---- typing ----

  /**
   * Call on every keystroke: sends `typing: true` at most every `typingThrottleMs`, and `false`
   * after `typingIdleMs` without keystrokes. @param {string} conversationId
   */
  typing(conversationId) {
    const now = Date.now();
    const throttle = this.options.typingThrottleMs ?? 2_500;
    let t = this.ownTyping.get(conversationId);
    if (!t) this.ownTyping.set(conversationId, (t = { sentAt: 0, idle: null }));
    if (now - t.sentAt >= throttle) {
      t.sentAt = now;
      this.request({ type: 'typing', conversation_id: conversationId, typing: true }).catch(() => {});
    }
    clearTimeout(t.idle);
    t.idle = setTimeout(() => this.stopTyping(conversationId), this.options.typingIdleMs ?? 4_000);
  }

  /** @param {string} conversationId */
  stopTyping(conversationId) {
    const t = this.ownTyping.get(conversationId);
    if (!t) return;
    clearTimeout(t.idle);
    this.ownTyping.delete(conversationId);
    this.request({ type: 'typing', conversation_id: conversationId, typing: false }).catch(() => {});
  }

  /** Users typing in a conversation. @param {string} conversationId */
  typingUsers(conversationId) {
    return [...(this.typists.get(conversationId)?.keys() ?? [])];
  }

  /** @param {string} conversationId @param {string} user @param {boolean} typing */
  setTypist(conversationId, user, typing) {
    let m = this.typists.get(conversationId);
    if (!m) this.typists.set(conversationId, (m = new Map()));
    clearTimeout(m.get(user));
    if (typing) {
      // The server stops a lapsed indicator; this is the local safety net if that event is lost.
      m.set(user, setTimeout(() => this.setTypist(conversationId, user, false), 8_000));
    } else {
      m.delete(user);
    }
    this.emit('typing', { conversation_id: conversationId, users: this.typingUsers(conversationId) });
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
        this.setWatermark(f.conversation_id, f.user_id, f.delivered_seq, f.read_seq);
        this.emit('receipt', f);
        break;
      case 'typing':
        this.setTypist(f.conversation_id, f.user_id, f.typing);
        break;
      case 'member_removed':
        if (this.user && f.user_id === this.user.id) this.forget(f.conversation_id);
        break;
      default:
        break;
    }
    this.emit('event', f);
  }

  /** @param {string} c @param {string} user @param {number} delivered @param {number} read */
  setWatermark(c, user, delivered, read) {
    let m = this.watermarks.get(c);
    if (!m) this.watermarks.set(c, (m = new Map()));
    const w = m.get(user) ?? { delivered: 0, read: 0 };
    m.set(user, { delivered: Math.max(w.delivered, delivered, read), read: Math.max(w.read, read) });
  }

  /** @param {string} id */
  forget(id) {
    this.conversations.delete(id);
    this.positions.delete(id);
    this.cache.drop(id);
    this.watermarks.delete(id);
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
      if (fresh && !m.target) this.setWatermark(c, m.sender, m.seq, m.seq);
      this.setTypist(c, m.sender, false);
      this.confirmReceived(c, m.seq);
    }
    if (m.sender === this.user?.id && this.outbox.has(m.client_msg_id)) {
      // Our own message came back as an event before (or without) its ack.
      this.onAck(m);
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

/** A unique id for a message (the idempotency key). */
function newId() {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}
