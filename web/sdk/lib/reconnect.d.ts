/** @typedef {import('./close-codes.js').CloseRule} CloseRule */
/**
 * Exponential backoff with full jitter: a uniform delay in [0, min(max, base·2^attempt)).
 * @param {number} attempt 0 for the first retry
 * @param {{baseMs?: number, maxMs?: number}} [opts]
 * @param {() => number} [random]
 */
export function backoffDelay(attempt: number, opts?: {
    baseMs?: number;
    maxMs?: number;
}, random?: () => number): number;
/**
 * `retry_after_ms=N` from a close reason, if present.
 * @param {string} reason @returns {number | undefined}
 */
export function retryAfterFromReason(reason: string): number | undefined;
/**
 * Milliseconds until the next attempt after a close that reconnects, as its rule says.
 * @param {Readonly<CloseRule>} rule @param {string} reason the close reason (may advise)
 * @param {() => number} nextBackoff the next backoff delay (counts an attempt)
 * @param {() => number} random
 */
export function retryDelay(rule: Readonly<CloseRule>, reason: string, nextBackoff: () => number, random: () => number): number;
/**
 * Stops reconnect storms against a server that keeps refusing: after `threshold` failed attempts
 * in a row the breaker opens and no attempt is made for `cooldownMs`; then one trial is allowed
 * (half-open). A success closes it.
 */
export class CircuitBreaker {
    /** @param {{threshold?: number, cooldownMs?: number, now?: () => number}} [opts] */
    constructor(opts?: {
        threshold?: number;
        cooldownMs?: number;
        now?: () => number;
    });
    threshold: number;
    cooldownMs: number;
    now: () => number;
    failures: number;
    /** @type {number | null} when the breaker opened */
    openedAt: number | null;
    /** Milliseconds to wait before the next attempt is allowed (0: now). */
    waitMs(): number;
    get state(): "closed" | "open" | "half-open";
    failure(): void;
    success(): void;
}
export type CloseRule = import("./close-codes.js").CloseRule;
