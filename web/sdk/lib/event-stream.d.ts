/** @typedef {import('./socket-link.js').ResumeRequest} ResumeRequest */
/**
 * The server-sent events fallback behind a WebSocket's surface (`send`, `close`, `onmessage`,
 * `onclose`, `readyState`), so `SocketLink` drives both the same way. Events come down
 * `GET /v1/events` (read with `fetch`, so the token can go in a header, in browsers and Node);
 * requests go up as the equivalent REST calls and their answers come back as the reply frames a
 * WebSocket would send. The stream's `event: close` becomes `onclose` with its code and reason.
 */
export class EventStreamSocket {
    /**
     * @param {{url: string, token: string | null, resume: ResumeRequest, fetch: typeof fetch}} opts
     * `url` is the server's HTTP base
     */
    constructor(opts: {
        url: string;
        token: string | null;
        resume: ResumeRequest;
        fetch: typeof fetch;
    });
    opts: {
        url: string;
        token: string | null;
        resume: ResumeRequest;
        fetch: typeof fetch;
    };
    readyState: number;
    /** @type {((ev: {data: string}) => void) | null} */
    onmessage: ((ev: {
        data: string;
    }) => void) | null;
    /** @type {((ev: {code: number, reason: string}) => void) | null} */
    onclose: ((ev: {
        code: number;
        reason: string;
    }) => void) | null;
    /** @type {(() => void) | null} */
    onopen: (() => void) | null;
    /** @type {(() => void) | null} */
    onerror: (() => void) | null;
    abort: AbortController;
    closed: boolean;
    /**
     * The requests sent so far, in order: each goes up once the one before it was answered, as
     * the server handles a WebSocket's requests one at a time. Without it two queued sends
     * would race as two HTTP requests and could be stored out of their queue order.
     * @type {Promise<void>}
     */
    requests: Promise<void>;
    /** @returns {Record<string, string>} */
    headers(): Record<string, string>;
    run(): Promise<void>;
    /** @param {number} code @param {string} reason */
    end(code: number, reason: string): void;
    close(): void;
    /** A client frame, answered through REST after every frame sent before it. @param {string} text */
    send(text: string): void;
    /** @param {any} frame */
    reply(frame: any): void;
    /** @param {any} f a client frame @returns {Promise<any>} the reply frame without `id` */
    rest(f: any): Promise<any>;
}
export type ResumeRequest = import("./socket-link.js").ResumeRequest;
