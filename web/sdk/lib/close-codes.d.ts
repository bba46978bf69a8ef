/** The handling of a close code; unknown codes reconnect with backoff. @param {number} code */
export function closeRule(code: number): Readonly<CloseRule>;
/** Close codes with meaning for reconnection (docs/protocol.md, "Close codes"). */
export const CloseCode: Readonly<{
    NORMAL: 1000;
    PROTOCOL_ERROR: 1002;
    INVALID_PAYLOAD: 1007;
    MESSAGE_TOO_BIG: 1009;
    INTERNAL_ERROR: 1011;
    SERVICE_RESTART: 1012;
    AUTH_FAILED: 4001;
    AUTH_TIMEOUT: 4002;
    TOKEN_EXPIRED: 4003;
    TOO_MANY_CONNECTIONS: 4005;
    SLOW_CONSUMER: 4008;
    RATE_LIMITED: 4009;
    HEARTBEAT_TIMEOUT: 4010;
}>;
/**
 * What the link does after a close, in the words of the server's `Reconnect`: `now` (reconnect
 * and resume), `after` (wait for the close reason's `retry_after_ms`), `with_new_token` (ask the
 * token provider for a fresh token first), `never` (stop: the client is at fault).
 * @typedef {'now' | 'after' | 'with_new_token' | 'never'} Reconnect
 */
/**
 * One close code's handling. `wait` is how long until the next attempt: `backoff` (exponential
 * with full jitter), `none` (at once; the circuit breaker still applies) or `advised` (the
 * reason's `retry_after_ms`, else `defaultMs`, plus up to a second of jitter).
 * @typedef {{name: string, reconnect: Reconnect, wait: 'backoff' | 'none' | 'advised',
 *   defaultMs?: number}} CloseRule
 */
/**
 * The handling of every named close code: the server's table, code for code (a `1000` the
 * link asked for itself is not a close it handles at all).
 * @type {Readonly<Record<keyof typeof CloseCode, Readonly<CloseRule>>>}
 */
export const CLOSE_RULES: Readonly<Record<keyof typeof CloseCode, Readonly<CloseRule>>>;
/**
 * What the link does after a close, in the words of the server's `Reconnect`: `now` (reconnect
 * and resume), `after` (wait for the close reason's `retry_after_ms`), `with_new_token` (ask the
 * token provider for a fresh token first), `never` (stop: the client is at fault).
 */
export type Reconnect = "now" | "after" | "with_new_token" | "never";
/**
 * One close code's handling. `wait` is how long until the next attempt: `backoff` (exponential
 * with full jitter), `none` (at once; the circuit breaker still applies) or `advised` (the
 * reason's `retry_after_ms`, else `defaultMs`, plus up to a second of jitter).
 */
export type CloseRule = {
    name: string;
    reconnect: Reconnect;
    wait: "backoff" | "none" | "advised";
    defaultMs?: number;
};
