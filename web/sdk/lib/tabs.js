// One connection for all tabs of an origin: the tabs elect a leader with the Web Locks API; only
// the leader holds a `SocketLink`, the others talk through it over a BroadcastChannel.

import { Emitter } from './emitter.js';
import { ChinwagError } from './errors.js';

/** @typedef {import('./socket-link.js').LinkState} LinkState */
/** @typedef {import('./socket-link.js').SocketLink} SocketLink */
/** @typedef {import('./socket-link.js').PendingRequests} PendingRequests */

/**
 * A follower tab's link: requests go to the leader tab over the BroadcastChannel, the leader's
 * frames and state come back. Same surface as `SocketLink`.
 */
export class TabLink extends Emitter {
  /** @param {BroadcastChannel} channel @param {string} tabId @param {number} timeoutMs */
  constructor(channel, tabId, timeoutMs) {
    super();
    this.channel = channel;
    this.tabId = tabId;
    this.timeoutMs = timeoutMs;
    /** @type {LinkState} */
    this.state = 'offline';
    this.nextId = 1;
    /** @type {PendingRequests} */
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

/**
 * This tab's place in the group: the channel, the election, and (as leader) forwarding to and
 * answering the followers.
 */
export class TabGroup {
  /** @param {string} name the client's name (channel and lock names) @param {string} tabId */
  constructor(name, tabId) {
    this.name = name;
    this.tabId = tabId;
    this.channel = new BroadcastChannel(`${name}-link`);
    /** @type {(() => void) | null} releases the leader lock */
    this.release = null;
  }

  /**
   * Listen on the channel, greet the leader, and stand for election: the first tab to hold the
   * lock leads; when it closes, the lock passes to a waiting tab. `lead` returns false to turn
   * the lock down (the client stopped meanwhile).
   * @param {(msg: any) => void} onMessage @param {() => boolean} lead
   */
  join(onMessage, lead) {
    this.channel.onmessage = (ev) => onMessage(ev.data);
    this.channel.postMessage({ t: 'hello', from: this.tabId });
    navigator.locks.request(`${this.name}-leader`, () => new Promise((release) => {
      this.release = () => release(undefined);
      if (!lead()) this.release();
    }));
  }

  /** Leader: forward a frame or state to the followers. @param {any} msg */
  share(msg) {
    this.channel.postMessage(msg);
  }

  /**
   * Leader: a follower's greeting (answered with the link's state) or request (sent over the
   * link, answered with the reply or the error).
   * @param {any} msg @param {SocketLink} link @param {any} user
   */
  serve(msg, link, user) {
    const channel = this.channel;
    if (msg.t === 'hello') {
      channel.postMessage({
        t: 'state', user,
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

  /** Give up the lead (if held) and the channel. */
  leave() {
    this.release?.();
    this.channel.close();
  }
}
