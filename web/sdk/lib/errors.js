// Errors: the server's one error shape (`{code, message, retry_after_ms?, current?}`) and the
// client's own conditions (`timeout`, `offline`), with whether a retry can succeed.

/** Error codes that will not succeed when retried as is. */
const FINAL_ERRORS = new Set([
  'malformed', 'unknown_type', 'invalid', 'too_large', 'forbidden', 'not_found', 'conflict',
]);

/** An error in the server's one error shape, or a client-side condition (`timeout`, `offline`). */
export class ChinwagError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {{retryAfterMs?: number, current?: unknown, status?: number}} [extra]
   */
  constructor(code, message, extra = {}) {
    super(message);
    this.name = 'ChinwagError';
    /** @type {string} */
    this.code = code;
    /** @type {number | undefined} */
    this.retryAfterMs = extra.retryAfterMs;
    /** @type {unknown} */
    this.current = extra.current;
    /** @type {number | undefined} */
    this.status = extra.status;
  }

  /**
   * @param {any} body the `error` object of a frame or REST body
   * @param {number} [status] the HTTP status, for REST
   */
  static from(body, status) {
    const e = body || {};
    return new ChinwagError(String(e.code || 'internal'), String(e.message || 'error'), {
      retryAfterMs: e.retry_after_ms, current: e.current, status,
    });
  }

  /** Whether sending the same request again later can succeed. */
  get retryable() {
    return !FINAL_ERRORS.has(this.code);
  }
}
