// Typing indicators: our own (throttled while typing, stopped after a pause) and other members'
// (kept until they stop, with a local expiry in case that event is lost).

export class Typing {
  /**
   * @param {{typingThrottleMs?: number, typingIdleMs?: number}} options read on every keystroke
   * (they may change)
   * @param {(frame: any) => Promise<any>} request over the client's link
   * @param {(conversationId: string, users: string[]) => void} changed who is typing changed
   */
  constructor(options, request, changed) {
    this.options = options;
    this.request = request;
    this.changed = changed;
    /** Who is typing: conversation → user → expiry timer. @type {Map<string, Map<string, any>>} */
    this.typists = new Map();
    /** Our own typing: conversation → {sentAt, idleTimer}. @type {Map<string, {sentAt: number, idle: any}>} */
    this.ownTyping = new Map();
  }

  /**
   * A keystroke: sends `typing: true` at most every `typingThrottleMs`, and `false` after
   * `typingIdleMs` without keystrokes. @param {string} conversationId
   */
  keystroke(conversationId) {
    const now = Date.now();
    const throttle = this.options.typingThrottleMs ?? 2_500;
    let t = this.ownTyping.get(conversationId);
    if (!t) this.ownTyping.set(conversationId, (t = { sentAt: 0, idle: null }));
    if (now - t.sentAt >= throttle) {
      t.sentAt = now;
      this.request({ type: 'typing', conversation_id: conversationId, typing: true }).catch(() => {});
    }
    clearTimeout(t.idle);
    t.idle = setTimeout(() => this.stop(conversationId), this.options.typingIdleMs ?? 4_000);
  }

  /** @param {string} conversationId */
  stop(conversationId) {
    const t = this.ownTyping.get(conversationId);
    if (!t) return;
    clearTimeout(t.idle);
    this.ownTyping.delete(conversationId);
    this.request({ type: 'typing', conversation_id: conversationId, typing: false }).catch(() => {});
  }

  /** Users typing in a conversation. @param {string} conversationId */
  users(conversationId) {
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
    this.changed(conversationId, this.users(conversationId));
  }

  /** Stop every timer. */
  clear() {
    for (const m of this.typists.values()) for (const t of m.values()) clearTimeout(t);
    for (const t of this.ownTyping.values()) clearTimeout(t.idle);
  }
}
