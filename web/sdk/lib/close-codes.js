// WebSocket close codes and what the SDK does after each (docs/protocol.md, "Close codes"; the
// server's table is crates/proto/src/close.rs, and web/test/close-codes.test.js compares the two).

/** Close codes with meaning for reconnection (docs/protocol.md, "Close codes"). */
export const CloseCode = Object.freeze({
  NORMAL: 1000,
  PROTOCOL_ERROR: 1002,
  INVALID_PAYLOAD: 1007,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
  AUTH_FAILED: 4001,
  AUTH_TIMEOUT: 4002,
  TOKEN_EXPIRED: 4003,
  TOO_MANY_CONNECTIONS: 4005,
  SLOW_CONSUMER: 4008,
  RATE_LIMITED: 4009,
  HEARTBEAT_TIMEOUT: 4010,
});

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
export const CLOSE_RULES = Object.freeze({
  NORMAL: rule('normal', 'never', 'none'),
  PROTOCOL_ERROR: rule('protocol_error', 'never', 'none'),
  INVALID_PAYLOAD: rule('invalid_payload', 'never', 'none'),
  MESSAGE_TOO_BIG: rule('message_too_big', 'never', 'none'),
  INTERNAL_ERROR: rule('internal_error', 'now', 'backoff'),
  SERVICE_RESTART: rule('service_restart', 'after', 'advised', 1_000),
  AUTH_FAILED: rule('auth_failed', 'with_new_token', 'backoff'),
  AUTH_TIMEOUT: rule('auth_timeout', 'now', 'none'),
  TOKEN_EXPIRED: rule('token_expired', 'with_new_token', 'none'),
  TOO_MANY_CONNECTIONS: rule('too_many_connections', 'after', 'advised', 5_000),
  SLOW_CONSUMER: rule('slow_consumer', 'now', 'none'),
  RATE_LIMITED: rule('rate_limited', 'after', 'advised', 5_000),
  HEARTBEAT_TIMEOUT: rule('heartbeat_timeout', 'now', 'backoff'),
});

/** Codes without a name (1006 for a cut connection, 4000 for one the client dropped). */
const UNNAMED = rule('', 'now', 'backoff');

/**
 * @param {string} name @param {Reconnect} reconnect @param {CloseRule['wait']} wait
 * @param {number} [defaultMs]
 * @returns {Readonly<CloseRule>}
 */
function rule(name, reconnect, wait, defaultMs) {
  return Object.freeze(defaultMs === undefined ? { name, reconnect, wait } : { name, reconnect, wait, defaultMs });
}

/** The handling of a close code; unknown codes reconnect with backoff. @param {number} code */
export function closeRule(code) {
  const key = /** @type {(keyof typeof CloseCode)[]} */ (Object.keys(CloseCode))
    .find((k) => CloseCode[k] === code);
  return key ? CLOSE_RULES[key] : UNNAMED;
}
