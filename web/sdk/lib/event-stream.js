// The server-sent events fallback: events down `GET /v1/events`, requests up as REST calls,
// behind the surface of a WebSocket.

import { CloseCode } from './close-codes.js';
import { ChinwagError } from './errors.js';

/** @typedef {import('./socket-link.js').ResumeRequest} ResumeRequest */

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
    /**
     * The requests sent so far, in order: each goes up once the one before it was answered, as
     * the server handles a WebSocket's requests one at a time. Without it two queued sends
     * would race as two HTTP requests and could be stored out of their queue order.
     * @type {Promise<void>}
     */
    this.requests = Promise.resolve();
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

  /** A client frame, answered through REST after every frame sent before it. @param {string} text */
  send(text) {
    const frame = JSON.parse(text);
    this.requests = this.requests.then(() => this.rest(frame).then(
      (reply) => this.reply({ ...reply, id: frame.id }),
      (/** @type {ChinwagError} */ e) => this.reply({
        type: 'error', id: frame.id,
        error: { code: e.code, message: e.message, retry_after_ms: e.retryAfterMs, current: e.current },
      })));
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
