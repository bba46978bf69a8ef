// Receipts: the other members' delivered and read watermarks, the state of a message for its
// sender that follows from them, and this device's own `received` confirmations, batched.

/** @typedef {'sending' | 'sent' | 'delivered' | 'read' | 'failed'} MessageState */

export class Receipts {
  /** @param {(frame: any) => Promise<any>} request over the client's link */
  constructor(request) {
    this.request = request;
    /** Other members' watermarks: conversation → user → {delivered, read}. @type {Map<string, Map<string, {delivered: number, read: number}>>} */
    this.watermarks = new Map();
    /** Highest seq confirmed with `received` per conversation. @type {Map<string, number>} */
    this.receivedSent = new Map();
    /** @type {any} */
    this.receivedTimer = null;
    /** `received` confirmations waiting for the batch timer. @type {Map<string, number>} */
    this.receivedQueue = new Map();
  }

  /** @param {string} c @param {string} user @param {number} delivered @param {number} read */
  setWatermark(c, user, delivered, read) {
    let m = this.watermarks.get(c);
    if (!m) this.watermarks.set(c, (m = new Map()));
    const w = m.get(user) ?? { delivered: 0, read: 0 };
    m.set(user, { delivered: Math.max(w.delivered, delivered, read), read: Math.max(w.read, read) });
  }

  /**
   * The state of an acknowledged message for its sender: `delivered` (another member's device
   * has it), `read` (another member read it), else `sent`.
   * @param {any} message a message or thread entry
   * @returns {MessageState}
   */
  stateOf(message) {
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

  /**
   * Confirm delivery of everything up to `seq`, batched: one `received` per conversation for the
   * highest seq of what arrived in a burst. Only the tab holding the connection sends them.
   * @param {string} conversationId @param {number} seq @param {boolean} leader
   */
  confirmReceived(conversationId, seq, leader) {
    if ((this.receivedSent.get(conversationId) ?? 0) >= seq) return;
    this.receivedSent.set(conversationId, seq);
    if (!leader) return;
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

  /** @param {string} conversationId */
  forget(conversationId) {
    this.watermarks.delete(conversationId);
  }

  stop() {
    clearTimeout(this.receivedTimer);
  }
}
