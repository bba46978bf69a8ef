// REST calls to the server, with the token (or the browser's session cookie), and login.

import { ChinwagError } from './errors.js';

/**
 * A REST call: JSON in and out, `null` for `204`, the server's error as a `ChinwagError`, and
 * `offline` when the request does not reach the server.
 * @param {{url: string, fetch: typeof fetch, token: (opts: {refresh: boolean}) => Promise<string | null>}} server
 * `url` without a trailing slash
 * @param {string} method @param {string} path @param {any} [body]
 */
export async function restCall(server, method, path, body) {
  const token = await server.token({ refresh: false });
  /** @type {Record<string, string>} */
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await server.fetch(server.url + path, {
      method, headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ChinwagError('offline', `request failed: ${e}`);
  }
  if (res.status === 204) return null;
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw ChinwagError.from(json.error, res.status);
  return json;
}

/**
 * Log in with a built-in account; the browser also receives the session cookie.
 * @param {string} url @param {string} username @param {string} password
 * @param {{fetch?: typeof fetch}} [opts]
 */
export async function login(url, username, password, opts = {}) {
  const f = opts.fetch ?? globalThis.fetch;
  const res = await f(url.replace(/\/$/, '') + '/v1/accounts/login', {
    method: 'POST', credentials: 'same-origin',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw ChinwagError.from(body.error, res.status);
  return body;
}
