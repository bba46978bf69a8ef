// The outbox: every message is stored first, then sent with its `client_msg_id` until the server
// acknowledges it (again after a reconnect or reload), or it fails after a deadline or a final
// error and waits for `retry` or `discard`.

import { ChinwagError } from './errors.js';

/** @typedef {import('./history-cache.js').Message} Message */
/** @typedef {import('./receipts.js').MessageState} MessageState */
/** @typedef {import('./storage.js').OutboxItem} OutboxItem */
/** @typedef {import('./storage.js').Storage} Storage */

/**
 * What the outbox needs from its client: `emit` its events (`messageState`, `outbox`), `request`
 * over the link, whether the link is `connected`, `apply` an acknowledged message to the
 * client's state, and its `stateOf` for the sender.
 * @typedef {{emit: (type: string, data: any) => void, request: (frame: any) => Promise<any>,
 *   connected: () => boolean, apply: (message: Message) => void,
 *   stateOf: (message: Message) => MessageState}} OutboxHost
 */

export class Outbox {
  /**
   * @param {Storage} storage
   * @param {{sendDeadlineMs?: number}} options read when sending (they may change)
   * @param {OutboxHost} host
   */
  constructor(storage, options, host) {
    this.storage = storage;
    this.options = options;
    this.host = host;
    /** Queued and failed messages by `client_msg_id`. @type {Map<string, OutboxItem>} */
    this.items = new Map();
    /** Ack deadlines of transmitted items. @type {Map<string, any>} */
    this.deadlines = new Map();
  }

  /** Load what an earlier page or process left in storage. */
  async load() {
    for (const item of await this.storage.load()) {
      this.items.set(item.client_msg_id, item);
    }
  }

  /** Queue a new item and store it (send it with `sending`). @param {OutboxItem} item */
  async add(item) {
    this.items.set(item.client_msg_id, item);
    await this.storage.put(item);
  }

  /** Send a failed item again (same `client_msg_id`). @param {string} clientMsgId */
  async retry(clientMsgId) {
    const item = this.items.get(clientMsgId);
    if (!item) return;
    item.state = 'sending';
    delete item.error;
    await this.storage.put(item);
    this.sending(item);
  }

  /** Say that an item is `sending`, and transmit it. @param {OutboxItem} item */
  sending(item) {
    this.host.emit('messageState', { conversation_id: item.conversation_id, client_msg_id: item.client_msg_id, state: 'sending' });
    this.emitCount();
    this.transmit(item);
  }

  /** Give up on a queued or failed item. @param {string} clientMsgId */
  async discard(clientMsgId) {
    const item = this.items.get(clientMsgId);
    if (!item) return;
    this.items.delete(clientMsgId);
    clearTimeout(this.deadlines.get(clientMsgId));
    this.deadlines.delete(clientMsgId);
    await this.storage.delete(clientMsgId);
    this.emitCount();
  }

  emitCount() {
    const items = [...this.items.values()];
    this.host.emit('outbox', { pending: items.length, failed: items.filter((i) => i.state === 'failed').length });
  }

  /** Transmit every queued item, oldest first (after connecting). */
  flush() {
    const items = [...this.items.values()].sort((a, b) => a.created_at - b.created_at);
    for (const item of items) if (item.state === 'sending') this.transmit(item);
  }

  /**
   * Send one item now if connected; without an ack before `sendDeadlineMs` it fails.
   * @param {OutboxItem} item
   */
  transmit(item) {
    if (!this.host.connected() || this.deadlines.has(item.client_msg_id)) return;
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
    this.host.request(frame).then(
      (ack) => this.acked(ack.message),
      (/** @type {ChinwagError} */ e) => {
        if (this.deadlines.get(id) !== deadline) return;
        clearTimeout(deadline);
        this.deadlines.delete(id);
        if (!e.retryable) {
          this.fail(id, e);
        } else if (e.code === 'rate_limited' || e.code === 'unavailable' || e.code === 'internal') {
          const item = this.items.get(id);
          setTimeout(() => { if (item && item.state === 'sending') this.transmit(item); }, e.retryAfterMs ?? 1_000);
        }
        // `offline`/`timeout`: the item stays queued and goes out again on the next connect.
      });
  }

  /** @param {string} id @param {ChinwagError} e */
  async fail(id, e) {
    const item = this.items.get(id);
    if (!item) return;
    item.state = 'failed';
    item.error = e.code;
    await this.storage.put(item);
    this.host.emit('messageState', { conversation_id: item.conversation_id, client_msg_id: id, state: 'failed', error: e });
    this.emitCount();
  }

  /**
   * The server has the message (its ack, or the message itself as an event): out of the queue,
   * into the client's state, then out of storage.
   * @param {Message} message
   */
  async acked(message) {
    const id = message.client_msg_id;
    clearTimeout(this.deadlines.get(id));
    this.deadlines.delete(id);
    const queued = this.items.delete(id);
    this.host.apply(message);
    if (queued) {
      this.host.emit('messageState', { conversation_id: message.conversation_id, client_msg_id: id, state: this.host.stateOf(message), message });
      this.emitCount();
      await this.storage.delete(id);
    }
  }

  stop() {
    for (const t of this.deadlines.values()) clearTimeout(t);
    this.deadlines.clear();
  }
}

/** A unique id for a message (the idempotency key). */
export function newId() {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}
