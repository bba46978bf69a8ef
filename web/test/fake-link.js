// A SocketLink over a WebSocket stand-in that a test drives by hand (open, reply, close), for the
// unit tests of how a link reacts to the server.
import { SocketLink } from '../sdk/chinwag.js';

/** A WebSocket stand-in the test drives by hand. */
export class FakeSocket {
  /** @type {FakeSocket[]} */
  static all = [];
  /** @param {string} url */
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    /** @type {any[]} */
    this.sent = [];
    /** @type {any} */ this.onopen = null;
    /** @type {any} */ this.onmessage = null;
    /** @type {any} */ this.onclose = null;
    /** @type {any} */ this.onerror = null;
    FakeSocket.all.push(this);
  }
  open() { this.readyState = 1; this.onopen?.(); }
  /** @param {string} data */
  send(data) { this.sent.push(JSON.parse(data)); }
  /** @param {any} frame */
  reply(frame) { this.onmessage?.({ data: JSON.stringify(frame) }); }
  /** @param {number} code @param {string} [reason] */
  serverClose(code, reason = '') { this.readyState = 3; this.onclose?.({ code, reason }); }
  close() { this.readyState = 3; }
}

/** @param {Partial<import('../sdk/chinwag.js').SocketLink['opts']>} [extra] */
export function fakeLink(extra = {}) {
  FakeSocket.all = [];
  /** @type {boolean[]} */
  const refreshes = [];
  const link = new SocketLink({
    url: 'http://chinwag.test', WebSocket: FakeSocket,
    token: async ({ refresh }) => { refreshes.push(refresh); return 'tok'; },
    resume: () => ({ positions: [], since: 0 }),
    backoff: { baseMs: 1_000, maxMs: 8_000 }, random: () => 0.5, pingIntervalMs: 60_000,
    ...extra,
  });
  /** @type {any[]} */
  const states = [];
  link.on('state', (s) => states.push(s));
  return { link, states, refreshes };
}

/** Let the link's promise chains run. */
export const tick = () => new Promise((r) => setTimeout(r, 5));

/** @param {FakeSocket} ws */
export function authenticate(ws) {
  ws.open();
  const auth = ws.sent.find((f) => f.type === 'auth');
  ws.reply({ type: 'authed', id: auth.id, user: { id: 'alice' }, heartbeat_ms: 25_000 });
  ws.reply({ type: 'resumed', id: auth.id, cursor: 1, conversations: [], unavailable: [] });
}
