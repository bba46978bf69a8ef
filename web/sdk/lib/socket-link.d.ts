/** @typedef {'websocket' | 'sse' | 'auto'} Transport */
/** @typedef {'connecting' | 'connected' | 'offline' | 'unauthenticated' | 'closed'} LinkState */
/**
 * @typedef {{positions: {conversation_id: string, seq: number}[], since?: number}} ResumeRequest
 */
/**
 * Requests waiting for their reply, by id.
 * @typedef {Map<number, {resolve: (f: any) => void, reject: (e: any) => void, timer: any}>} PendingRequests
 */
/**
 * What a `SocketLink` is given. `sessionAlive` (cookie authentication): whether the session
 * cookie is still accepted.
 * @typedef {{url: string, WebSocket?: any, token: (opts: {refresh: boolean}) => Promise<string | null>,
 *   resume: () => ResumeRequest, backoff?: {baseMs?: number, maxMs?: number},
 *   breaker?: {threshold?: number, cooldownMs?: number}, pingIntervalMs?: number,
 *   pingTimeoutMs?: number, requestTimeoutMs?: number, random?: () => number,
 *   transport?: Transport, fetch?: typeof fetch, sessionAlive?: () => Promise<boolean>}} LinkOptions
 */
/**
 * One WebSocket to the server, kept open: authenticates (token in the first frame, or the
 * browser's session cookie when the token provider gives `null`), resumes, answers requests by
 * id, measures latency, and reconnects as the close code says.
 *
 * Emits `frame` (every server frame that is not a reply), `state` ({state, quality, latencyMs,
 * retryInMs?, error?}), `authed` (the authed frame, before resume), `resumed` (the reply).
 */
export class SocketLink extends Emitter {
    /** @param {LinkOptions} opts */
    constructor(opts: LinkOptions);
    opts: LinkOptions;
    WebSocket: any;
    /** The transport in use: `sse` when asked for, or after WebSocket kept failing (`auto`). */
    sse: boolean;
    /** WebSocket attempts in a row that never opened (`auto` switches to SSE after two). */
    unopened: number;
    wsUrl: string;
    /** @type {any} */
    ws: any;
    /** @type {LinkState} */
    state: LinkState;
    attempt: number;
    breaker: CircuitBreaker;
    latency: LatencyMeter;
    nextId: number;
    /** @type {PendingRequests} */
    pending: PendingRequests;
    /** @type {any} */
    retryTimer: any;
    /** @type {any} */
    pingTimer: any;
    stopped: boolean;
    refreshToken: boolean;
    /** Whether this connection reached `authed` (a failure before that counts for the breaker). */
    authed: boolean;
    /** @type {any} */
    user: any;
    /** Whether the current connection opened (a WebSocket that never opens may be blocked). */
    opened: boolean;
    /** @type {any} the check for a cookie session that did not authenticate the upgrade */
    authWait: any;
    /** Request ids whose `resumed` reply is still to come. @type {Set<number>} */
    resumingWith: Set<number>;
    /** The token provider gave no token: the browser's session cookie authenticates. */
    cookieMode: boolean;
    start(): void;
    stop(): void;
    /** The network is back (browser `online` event): try now rather than after the backoff. */
    reconnectNow(): void;
    /** The network is gone (browser `offline` event): close at once instead of waiting for pings. */
    dropNow(): void;
    /**
     * @param {LinkState} state
     * @param {{retryInMs?: number, error?: ChinwagError}} [extra]
     */
    setState(state: LinkState, extra?: {
        retryInMs?: number;
        error?: ChinwagError;
    }): void;
    connect(): Promise<void>;
    /**
     * The socket opened: authenticate with the token, or watch the cookie session.
     * @param {any} ws @param {string | null} token
     */
    onOpened(ws: any, token: string | null): void;
    /**
     * With a valid cookie `authed` comes at once; without one the server would wait for an `auth`
     * frame until its timeout. Ask whether the session still exists instead.
     * @param {any} ws @param {() => Promise<boolean>} alive
     */
    watchSession(ws: any, alive: () => Promise<boolean>): void;
    /** @param {string} text */
    onFrame(text: string): void;
    /** @param {any} frame */
    onAuthed(frame: any): void;
    startPings(): void;
    /**
     * Send a request and wait for its one reply (rejects with the error frame's `ChinwagError`,
     * or `timeout`, or `offline` when the connection is not authenticated).
     * @param {any} frame without `id`
     * @param {boolean} [beforeAuth] allowed before `authed` (auth, resume, ping)
     * @param {number} [timeoutMs]
     * @returns {Promise<any>}
     */
    request(frame: any, beforeAuth?: boolean, timeoutMs?: number): Promise<any>;
    /** @param {number} code @param {string} reason */
    closeSocket(code: number, reason: string): void;
    /** @param {number} code @param {string} reason */
    onClosed(code: number, reason: string): void;
    /** The next exponential backoff delay; counts the attempt. */
    nextBackoff(): number;
    /** @param {number} ms */
    scheduleRetry(ms: number): void;
}
export type Transport = "websocket" | "sse" | "auto";
export type LinkState = "connecting" | "connected" | "offline" | "unauthenticated" | "closed";
export type ResumeRequest = {
    positions: {
        conversation_id: string;
        seq: number;
    }[];
    since?: number;
};
/**
 * Requests waiting for their reply, by id.
 */
export type PendingRequests = Map<number, {
    resolve: (f: any) => void;
    reject: (e: any) => void;
    timer: any;
}>;
/**
 * What a `SocketLink` is given. `sessionAlive` (cookie authentication): whether the session
 * cookie is still accepted.
 */
export type LinkOptions = {
    url: string;
    WebSocket?: any;
    token: (opts: {
        refresh: boolean;
    }) => Promise<string | null>;
    resume: () => ResumeRequest;
    backoff?: {
        baseMs?: number;
        maxMs?: number;
    };
    breaker?: {
        threshold?: number;
        cooldownMs?: number;
    };
    pingIntervalMs?: number;
    pingTimeoutMs?: number;
    requestTimeoutMs?: number;
    random?: () => number;
    transport?: Transport;
    fetch?: typeof fetch;
    sessionAlive?: () => Promise<boolean>;
};
import { Emitter } from './emitter.js';
import { CircuitBreaker } from './reconnect.js';
import { LatencyMeter } from './quality.js';
import { ChinwagError } from './errors.js';
