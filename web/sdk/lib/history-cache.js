// The history cache: the newest messages of recent conversations, bounded, exportable.

import { ChinwagError } from './errors.js';

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
