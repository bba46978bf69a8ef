/** An error in the server's one error shape, or a client-side condition (`timeout`, `offline`). */
export class ChinwagError extends Error {
    /**
     * @param {any} body the `error` object of a frame or REST body
     * @param {number} [status] the HTTP status, for REST
     */
    static from(body: any, status?: number): ChinwagError;
    /**
     * @param {string} code
     * @param {string} message
     * @param {{retryAfterMs?: number, current?: unknown, status?: number}} [extra]
     */
    constructor(code: string, message: string, extra?: {
        retryAfterMs?: number;
        current?: unknown;
        status?: number;
    });
    /** @type {string} */
    code: string;
    /** @type {number | undefined} */
    retryAfterMs: number | undefined;
    /** @type {unknown} */
    current: unknown;
    /** @type {number | undefined} */
    status: number | undefined;
    /** Whether sending the same request again later can succeed. */
    get retryable(): boolean;
}
