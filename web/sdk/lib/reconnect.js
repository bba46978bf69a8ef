// Reconnect policy: exponential backoff with full jitter, a circuit breaker against reconnect
// storms, and the delay a close code (and its advice) asks for.

/** @typedef {import('./close-codes.js').CloseRule} CloseRule */

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

/**
 * Milliseconds until the next attempt after a close that reconnects, as its rule says.
 * @param {Readonly<CloseRule>} rule @param {string} reason the close reason (may advise)
 * @param {() => number} nextBackoff the next backoff delay (counts an attempt)
 * @param {() => number} random
 */
export function retryDelay(rule, reason, nextBackoff, random) {
  if (rule.wait === 'none') return 0;
  if (rule.wait === 'advised') {
    const base = retryAfterFromReason(reason) ?? rule.defaultMs ?? 1_000;
    return base + Math.floor(random() * Math.min(1_000, base));
  }
  return nextBackoff();
}
