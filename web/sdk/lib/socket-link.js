// The connection: one WebSocket (or its server-sent events fallback) to the server, kept open.
// Authenticates, resumes, answers requests by id, pings, and reconnects as the close code says.

import { CloseCode, closeRule } from './close-codes.js';
import { Emitter } from './emitter.js';
import { ChinwagError } from './errors.js';
import { EventStreamSocket } from './event-stream.js';
import { LatencyMeter } from './quality.js';
import { backoffDelay, CircuitBreaker, retryDelay } from './reconnect.js';

/** @typedef {'websocket' | 'sse' | 'auto'} Transport */

/** @typedef {'connecting' | 'connected' | 'offline' | 'unauthenticated' | 'closed'} LinkState */

/**
 * @typedef {{positions: {conversation_id: string, seq: number}[], since?: number}} ResumeRequest
 */

/**
 * Requests waiting for their reply, by id.
 * @typedef {Map<number, {resolve: (f: any) => void, reject: (e: any) => void, timer: any}>} PendingRequests
 */

/**
 * What a `SocketLink` is given. `sessionAlive` (cookie authentication): whether the session
 * cookie is still accepted.
 * @typedef {{url: string, WebSocket?: any, token: (opts: {refresh: boolean}) => Promise<string | null>,
 *   resume: () => ResumeRequest, backoff?: {baseMs?: number, maxMs?: number},
 *   breaker?: {threshold?: number, cooldownMs?: number}, pingIntervalMs?: number,
 *   pingTimeoutMs?: number, requestTimeoutMs?: number, random?: () => number,
 *   transport?: Transport, fetch?: typeof fetch, sessionAlive?: () => Promise<boolean>}} LinkOptions
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
  /** @param {LinkOptions} opts */
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
    /** @type {PendingRequests} */
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
      this.scheduleRetry(this.nextBackoff());
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
      if (this.ws === ws) this.onOpened(ws, token);
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

  /**
   * The socket opened: authenticate with the token, or watch the cookie session.
   * @param {any} ws @param {string | null} token
   */
  onOpened(ws, token) {
    this.opened = true;
    this.unopened = 0;
    // Over SSE the token and resume went with the request.
    if (token && !this.sse) {
      this.resumingWith.add(this.nextId);
      this.request({ type: 'auth', token, resume: this.opts.resume() }, true).catch(() => {});
    }
    if (!token && !this.sse && this.opts.sessionAlive) this.watchSession(ws, this.opts.sessionAlive);
  }

  /**
   * With a valid cookie `authed` comes at once; without one the server would wait for an `auth`
   * frame until its timeout. Ask whether the session still exists instead.
   * @param {any} ws @param {() => Promise<boolean>} alive
   */
  watchSession(ws, alive) {
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
    if (!this.authed) this.breaker.failure();
    const rule = closeRule(code);
    if (rule.reconnect === 'never') {
      // A client bug: reconnecting would repeat it.
      this.stopped = true;
      this.setState('closed', { error: new ChinwagError('protocol', `closed with ${code} ${reason}`) });
      return;
    }
    if (rule.reconnect === 'with_new_token') {
      this.refreshToken = true;
      if (this.breaker.failures >= 2 && !this.authed) {
        // The provider keeps handing out refused tokens: the user must sign in again.
        this.stopped = true;
        this.setState('unauthenticated', { error: new ChinwagError(code === CloseCode.TOKEN_EXPIRED ? 'token_expired' : 'unauthenticated', 'credentials refused') });
        return;
      }
    }
    // Backoff, the advised delay, or at once where nothing is lost (the breaker still stops a
    // loop).
    this.scheduleRetry(retryDelay(rule, reason, () => this.nextBackoff(), this.opts.random ?? Math.random));
  }

  /** The next exponential backoff delay; counts the attempt. */
  nextBackoff() {
    return backoffDelay(this.attempt++, this.opts.backoff, this.opts.random);
  }

  /** @param {number} ms */
  scheduleRetry(ms) {
    clearTimeout(this.retryTimer);
    const wait = Math.max(ms, this.breaker.waitMs());
    this.setState('offline', { retryInMs: wait });
    this.retryTimer = setTimeout(() => this.connect(), wait);
  }
}
