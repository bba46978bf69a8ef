/**
 * A REST call: JSON in and out, `null` for `204`, the server's error as a `ChinwagError`, and
 * `offline` when the request does not reach the server.
 * @param {{url: string, fetch: typeof fetch, token: (opts: {refresh: boolean}) => Promise<string | null>}} server
 * `url` without a trailing slash
 * @param {string} method @param {string} path @param {any} [body]
 */
export function restCall(server: {
    url: string;
    fetch: typeof fetch;
    token: (opts: {
        refresh: boolean;
    }) => Promise<string | null>;
}, method: string, path: string, body?: any): Promise<any>;
/**
 * Log in with a built-in account; the browser also receives the session cookie.
 * @param {string} url @param {string} username @param {string} password
 * @param {{fetch?: typeof fetch}} [opts]
 */
export function login(url: string, username: string, password: string, opts?: {
    fetch?: typeof fetch;
}): Promise<any>;
