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
/** Protocol version this SDK speaks. */
export const PROTOCOL: 1;
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
/** @typedef {'excellent' | 'good' | 'poor' | 'offline'} Quality */
/**
 * Round-trip latency of app-level pings as an exponentially weighted moving average, and the
 * quality it means: excellent < 100 ms, good < 300 ms, poor above, offline when not connected.
 */
export class LatencyMeter {
    /** @param {number} [alpha] weight of the newest sample */
    constructor(alpha?: number);
    alpha: number;
    /** @type {number | null} */
    ewma: number | null;
    /** @param {number} ms */
    sample(ms: number): number;
    reset(): void;
    /** @param {boolean} connected @returns {Quality} */
    quality(connected: boolean): Quality;
}
/**
 * @typedef {{id: string, conversation_id: string, seq: number, sender: string,
 *   client_msg_id: string, kind: string, body: string, payload?: any, created_at: number,
 *   reply_to?: number, target?: number, edited_at?: number, deleted?: boolean,
 *   reactions?: Record<string, string[]>}} Message
 */
/**
 * The newest messages of recent conversations, in memory, bounded three ways: messages per
 * conversation (the oldest are dropped), conversations (the least recently used are dropped) and
 * age (`ttlMs` since a conversation was last touched). `export()` and `import()` move it to and
 * from storage the app chooses.
 */
export class HistoryCache {
    /** @param {{maxConversations?: number, maxMessages?: number, ttlMs?: number, now?: () => number}} [opts] */
    constructor(opts?: {
        maxConversations?: number;
        maxMessages?: number;
        ttlMs?: number;
        now?: () => number;
    });
    maxConversations: number;
    maxMessages: number;
    ttlMs: number;
    now: () => number;
    /** @type {Map<string, {messages: Message[], hasMoreBefore: boolean, touched: number}>} */
    entries: Map<string, {
        messages: Message[];
        hasMoreBefore: boolean;
        touched: number;
    }>;
    /** @param {string} conversationId */
    entry(conversationId: string): {
        messages: Message[];
        hasMoreBefore: boolean;
        touched: number;
    };
    /** Messages held for a conversation, ascending by seq. @param {string} conversationId */
    messages(conversationId: string): Message[];
    /** Highest seq held, 0 if none. @param {string} conversationId */
    top(conversationId: string): number;
    /**
     * Insert or replace messages (by seq). Returns the ones that were new.
     * @param {string} conversationId @param {Message[]} messages
     * @param {{hasMoreBefore?: boolean}} [page] when the messages are a history page going back
     */
    put(conversationId: string, messages: Message[], page?: {
        hasMoreBefore?: boolean;
    }): Message[];
    /** @param {string} conversationId */
    drop(conversationId: string): void;
    evict(): void;
    /** A JSON-serialisable copy. */
    export(): {
        version: number;
        conversations: {
            id: string;
            messages: Message[];
            hasMoreBefore: boolean;
            touched: number;
        }[];
    };
    /**
     * Load what `export()` produced (bounds apply; malformed entries are skipped).
     * @param {any} data
     */
    import(data: any): void;
}
/**
 * @typedef {{client_msg_id: string, conversation_id: string, body: string, kind?: string,
 *   payload?: any, reply_to?: number, created_at: number, state: 'sending' | 'failed',
 *   error?: string}} OutboxItem
 */
/**
 * @typedef {{load(): Promise<OutboxItem[]>, put(item: OutboxItem): Promise<void>,
 *   delete(clientMsgId: string): Promise<void>, getMeta(key: string): Promise<any>,
 *   setMeta(key: string, value: any): Promise<void>}} Storage
 */
/** Outbox storage in memory (Node, tests). Implements `Storage`. */
export class MemoryStorage {
    /** @type {Map<string, OutboxItem>} */
    items: Map<string, OutboxItem>;
    /** @type {Map<string, any>} */
    meta: Map<string, any>;
    load(): Promise<{
        client_msg_id: string;
        conversation_id: string;
        body: string;
        kind?: string;
        payload?: any;
        reply_to?: number;
        created_at: number;
        state: "sending" | "failed";
        error?: string;
    }[]>;
    /** @param {OutboxItem} item */
    put(item: OutboxItem): Promise<void>;
    /** @param {string} id */
    delete(id: string): Promise<void>;
    /** @param {string} key */
    getMeta(key: string): Promise<any>;
    /** @param {string} key @param {any} value */
    setMeta(key: string, value: any): Promise<void>;
}
/** Outbox storage in IndexedDB: survives reloads and is shared by the tabs of an origin. */
export class IndexedDBStorage {
    /** @param {string} [name] database name */
    constructor(name?: string);
    name: string;
    /** @type {Promise<IDBDatabase> | null} */
    db: Promise<IDBDatabase> | null;
    /** @returns {Promise<IDBDatabase>} */
    open(): Promise<IDBDatabase>;
    /**
     * @template T
     * @param {string} store @param {IDBTransactionMode} mode
     * @param {(s: IDBObjectStore) => IDBRequest<T>} op
     * @returns {Promise<T>}
     */
    run<T>(store: string, mode: IDBTransactionMode, op: (s: IDBObjectStore) => IDBRequest<T>): Promise<T>;
    load(): Promise<OutboxItem[]>;
    /** @param {OutboxItem} item */
    put(item: OutboxItem): Promise<void>;
    /** @param {string} id */
    delete(id: string): Promise<void>;
    /** @param {string} key */
    getMeta(key: string): Promise<any>;
    /** @param {string} key @param {any} value */
    setMeta(key: string, value: any): Promise<void>;
}
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
    /** @returns {Record<string, string>} */
    headers(): Record<string, string>;
    run(): Promise<void>;
    /** @param {number} code @param {string} reason */
    end(code: number, reason: string): void;
    close(): void;
    /** A client frame, answered through REST. @param {string} text */
    send(text: string): void;
    /** @param {any} frame */
    reply(frame: any): void;
    /** @param {any} f a client frame @returns {Promise<any>} the reply frame without `id` */
    rest(f: any): Promise<any>;
}
/** @typedef {'websocket' | 'sse' | 'auto'} Transport */
/** @typedef {'connecting' | 'connected' | 'offline' | 'unauthenticated' | 'closed'} LinkState */
/**
 * @typedef {{positions: {conversation_id: string, seq: number}[], since?: number}} ResumeRequest
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
    /**
     * @param {{url: string, WebSocket?: any, token: (opts: {refresh: boolean}) => Promise<string | null>,
     *   resume: () => ResumeRequest, backoff?: {baseMs?: number, maxMs?: number},
     *   breaker?: {threshold?: number, cooldownMs?: number}, pingIntervalMs?: number,
     *   pingTimeoutMs?: number, requestTimeoutMs?: number, random?: () => number,
     *   transport?: Transport, fetch?: typeof fetch, sessionAlive?: () => Promise<boolean>}} opts
     * `sessionAlive` (cookie authentication): whether the session cookie is still accepted
     */
    constructor(opts: {
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
    });
    opts: {
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
    /** @type {Map<number, {resolve: (f: any) => void, reject: (e: any) => void, timer: any}>} */
    pending: Map<number, {
        resolve: (f: any) => void;
        reject: (e: any) => void;
        timer: any;
    }>;
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
    /** @param {number} ms */
    scheduleRetry(ms: number): void;
}
/** @typedef {'sending' | 'sent' | 'delivered' | 'read' | 'failed'} MessageState */
/**
 * @typedef {{id: string, kind: string, subject?: string, title?: string, created_by: string,
 *   created_at: number, last_seq: number, last_activity: number, last_message?: Message,
 *   members: {user_id: string, role: string, joined_at: number, delivered_seq?: number,
 *   read_seq?: number}[], read_seq: number, unread: number}} Conversation
 */
/**
 * @typedef {{url: string, token?: string | null | ((opts: {refresh: boolean}) => Promise<string | null>),
 *   WebSocket?: any, fetch?: typeof fetch, storage?: Storage, shareAcrossTabs?: boolean,
 *   name?: string, backoff?: {baseMs?: number, maxMs?: number},
 *   breaker?: {threshold?: number, cooldownMs?: number}, pingIntervalMs?: number,
 *   pingTimeoutMs?: number, requestTimeoutMs?: number, sendDeadlineMs?: number,
 *   typingThrottleMs?: number, typingIdleMs?: number, transport?: Transport,
 *   cache?: {maxConversations?: number, maxMessages?: number, ttlMs?: number},
 *   random?: () => number}} ClientOptions
 */
/**
 * A Chinwag client: connect, send with an outbox, follow conversations.
 *
 * Events (`client.on(type, fn)`): `state` {state, quality, latencyMs, retryInMs?},
 * `conversations` (the list changed), `message` {message}, `messageState` {conversation_id,
 * client_msg_id, state, message?, error?}, `receipt` (a member's watermarks moved), `typing`
 * {conversation_id, users}, `resumed` {recovered, resynced, conversations, unavailable},
 * `outbox` {pending}, `leader` {leader}, `event` (every other server event, as received).
 */
export class ChinwagClient extends Emitter {
    /** Log in with a built-in account; the browser also receives the session cookie. */
    static login(url: string, username: string, password: string, opts?: {
        fetch?: typeof fetch;
    }): Promise<any>;
    /** @param {ClientOptions} options */
    constructor(options: ClientOptions);
    options: ClientOptions;
    url: string;
    /** @type {(opts: {refresh: boolean}) => Promise<string | null>} */
    tokenProvider: (opts: {
        refresh: boolean;
    }) => Promise<string | null>;
    fetch: typeof fetch;
    name: string;
    /** @type {Storage} */
    storage: Storage;
    cache: HistoryCache;
    /** @type {Map<string, Conversation>} */
    conversations: Map<string, Conversation>;
    /** Highest seq known per conversation: the resume positions. @type {Map<string, number>} */
    positions: Map<string, number>;
    /** @type {number | undefined} the cursor of the last `resumed` */
    cursor: number | undefined;
    /** @type {Map<string, OutboxItem>} */
    outbox: Map<string, OutboxItem>;
    /** Ack deadlines of transmitted outbox items. @type {Map<string, any>} */
    deadlines: Map<string, any>;
    /** Other members' watermarks: conversation → user → {delivered, read}. @type {Map<string, Map<string, {delivered: number, read: number}>>} */
    watermarks: Map<string, Map<string, {
        delivered: number;
        read: number;
    }>>;
    /** Who is typing: conversation → user → expiry timer. @type {Map<string, Map<string, any>>} */
    typists: Map<string, Map<string, any>>;
    /** Our own typing: conversation → {sentAt, idleTimer}. @type {Map<string, {sentAt: number, idle: any}>} */
    ownTyping: Map<string, {
        sentAt: number;
        idle: any;
    }>;
    /** Highest seq confirmed with `received` per conversation. @type {Map<string, number>} */
    receivedSent: Map<string, number>;
    /** @type {any} */
    receivedTimer: any;
    /** `received` confirmations waiting for the batch timer. @type {Map<string, number>} */
    receivedQueue: Map<string, number>;
    /** @type {any} */
    user: any;
    /** @type {SocketLink | TabLink | null} */
    link: SocketLink | TabLink | null;
    leader: boolean;
    tabId: string;
    /** @type {BroadcastChannel | null} */
    channel: BroadcastChannel | null;
    /** @type {(() => void) | null} releases the leader lock */
    releaseLeadership: (() => void) | null;
    started: boolean;
    /** @type {Array<() => void>} */
    cleanups: Array<() => void>;
    /** Load the outbox, then connect (or join the tab that holds the connection). */
    start(): Promise<void>;
    /** Close the connection (or leave the tab group) and stop every timer. */
    stop(): void;
    startShared(): void;
    becomeLeader(): void;
    /** @param {SocketLink | TabLink} link */
    attach(link: SocketLink | TabLink): void;
    /** Leader: forward to follower tabs. @param {any} msg */
    share(msg: any): void;
    /** Leader: a follower's request or greeting. @param {any} msg */
    serveFollower(msg: any): void;
    /** Whether this tab holds the WebSocket. */
    get isLeader(): boolean;
    /** @returns {LinkState} */
    get state(): LinkState;
    /**
     * One request over the link (WebSocket, or the leader tab's).
     * @param {any} frame @returns {Promise<any>}
     */
    request(frame: any): Promise<any>;
    resumeRequest(): {
        positions: {
            conversation_id: string;
            seq: number;
        }[];
        since: number;
    };
    /**
     * A REST call with the token (or the session cookie).
     * @param {string} method @param {string} path @param {any} [body]
     */
    rest(method: string, path: string, body?: any): Promise<any>;
    /** Fetch the conversation list (most recent first) and learn the positions to resume from. */
    loadConversations(): Promise<Conversation[]>;
    /**
     * @param {Conversation} c
     * @param {boolean} [listed] from a list or fetch: its `last_seq` becomes the resume position
     */
    learnConversation(c: Conversation, listed?: boolean): void;
    /** Conversations, most recent activity first. */
    conversationList(): Conversation[];
    /** Fetch one conversation with every member's watermarks. @param {string} id */
    loadConversation(id: string): Promise<any>;
    /**
     * Messages of a conversation to show: the cached ones, then what is still in the outbox.
     * @param {string} conversationId
     * @returns {(Message | (OutboxItem & {pending: true, sender: string}))[]}
     */
    thread(conversationId: string): (Message | (OutboxItem & {
        pending: true;
        sender: string;
    }))[];
    /**
     * The newest page, or the page before the oldest held message. Returns whether older exist.
     * @param {string} conversationId @param {{older?: boolean, limit?: number}} [opts]
     * @returns {Promise<{messages: Message[], hasMore: boolean}>}
     */
    loadHistory(conversationId: string, opts?: {
        older?: boolean;
        limit?: number;
    }): Promise<{
        messages: Message[];
        hasMore: boolean;
    }>;
    /** Whether older messages exist before the held ones. @param {string} conversationId */
    hasOlder(conversationId: string): boolean;
    /**
     * Queue a message: it is stored in the outbox first, so it survives reloads and is sent (again,
     * with the same `client_msg_id`) until acknowledged. Returns its `client_msg_id`.
     * @param {string} conversationId @param {string} body
     * @param {{kind?: string, payload?: any, replyTo?: number, clientMsgId?: string}} [opts]
     */
    send(conversationId: string, body: string, opts?: {
        kind?: string;
        payload?: any;
        replyTo?: number;
        clientMsgId?: string;
    }): Promise<string>;
    /** Send a failed message again (same `client_msg_id`). @param {string} clientMsgId */
    retry(clientMsgId: string): Promise<void>;
    /** Give up on a queued or failed message. @param {string} clientMsgId */
    discard(clientMsgId: string): Promise<void>;
    /** Messages not yet acknowledged (queued or failed). */
    pendingCount(): number;
    emitOutbox(): void;
    flushOutbox(): void;
    /**
     * Send one outbox item now if connected; without an ack before `sendDeadlineMs` it fails.
     * @param {OutboxItem} item
     */
    transmit(item: OutboxItem): void;
    /** @param {string} id @param {ChinwagError} e */
    fail(id: string, e: ChinwagError): Promise<void>;
    /** @param {Message} message */
    onAck(message: Message): Promise<void>;
    /**
     * The state of a message for its sender: `sending`/`failed` (outbox), `sent` (acked),
     * `delivered` (another member's device has it), `read` (another member read it).
     * @param {any} message a message or thread entry
     * @returns {MessageState}
     */
    statusOf(message: any): MessageState;
    /** Mark read up to `seq` (default: the newest held). @param {string} conversationId @param {number} [seq] */
    markRead(conversationId: string, seq?: number): Promise<void>;
    /**
     * Confirm delivery of everything up to `seq`, batched: one `received` per conversation for the
     * highest seq of what arrived in a burst. Only the tab holding the connection sends them.
     * @param {string} conversationId @param {number} seq
     */
    confirmReceived(conversationId: string, seq: number): void;
    /**
     * Call on every keystroke: sends `typing: true` at most every `typingThrottleMs`, and `false`
     * after `typingIdleMs` without keystrokes. @param {string} conversationId
     */
    typing(conversationId: string): void;
    /** @param {string} conversationId */
    stopTyping(conversationId: string): void;
    /** Users typing in a conversation. @param {string} conversationId */
    typingUsers(conversationId: string): string[];
    /** @param {string} conversationId @param {string} user @param {boolean} typing */
    setTypist(conversationId: string, user: string, typing: boolean): void;
    /** @param {any} f a server event */
    onEvent(f: any): void;
    /** @param {string} c @param {string} user @param {number} delivered @param {number} read */
    setWatermark(c: string, user: string, delivered: number, read: number): void;
    /** @param {string} id */
    forget(id: string): void;
    /** A live or replayed message. @param {Message} m */
    onMessage(m: Message): void;
    /** @param {string} c @param {number} after */
    fillGap(c: string, after: number): Promise<void>;
    /** @param {Message} m */
    applyMessage(m: Message): void;
    /** The reply to a resume: fetch what the cap left out, then say how it went. @param {any} f */
    onResumed(f: any): Promise<void>;
}
export type Quality = "excellent" | "good" | "poor" | "offline";
export type Message = {
    id: string;
    conversation_id: string;
    seq: number;
    sender: string;
    client_msg_id: string;
    kind: string;
    body: string;
    payload?: any;
    created_at: number;
    reply_to?: number;
    target?: number;
    edited_at?: number;
    deleted?: boolean;
    reactions?: Record<string, string[]>;
};
export type OutboxItem = {
    client_msg_id: string;
    conversation_id: string;
    body: string;
    kind?: string;
    payload?: any;
    reply_to?: number;
    created_at: number;
    state: "sending" | "failed";
    error?: string;
};
export type Storage = {
    load(): Promise<OutboxItem[]>;
    put(item: OutboxItem): Promise<void>;
    delete(clientMsgId: string): Promise<void>;
    getMeta(key: string): Promise<any>;
    setMeta(key: string, value: any): Promise<void>;
};
export type Transport = "websocket" | "sse" | "auto";
export type LinkState = "connecting" | "connected" | "offline" | "unauthenticated" | "closed";
export type ResumeRequest = {
    positions: {
        conversation_id: string;
        seq: number;
    }[];
    since?: number;
};
export type MessageState = "sending" | "sent" | "delivered" | "read" | "failed";
export type Conversation = {
    id: string;
    kind: string;
    subject?: string;
    title?: string;
    created_by: string;
    created_at: number;
    last_seq: number;
    last_activity: number;
    last_message?: Message;
    members: {
        user_id: string;
        role: string;
        joined_at: number;
        delivered_seq?: number;
        read_seq?: number;
    }[];
    read_seq: number;
    unread: number;
};
export type ClientOptions = {
    url: string;
    token?: string | null | ((opts: {
        refresh: boolean;
    }) => Promise<string | null>);
    WebSocket?: any;
    fetch?: typeof fetch;
    storage?: Storage;
    shareAcrossTabs?: boolean;
    name?: string;
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
    sendDeadlineMs?: number;
    typingThrottleMs?: number;
    typingIdleMs?: number;
    transport?: Transport;
    cache?: {
        maxConversations?: number;
        maxMessages?: number;
        ttlMs?: number;
    };
    random?: () => number;
};
/** A minimal event emitter (the same in browsers and Node). */
declare class Emitter {
    /** @type {Map<string, Set<(data: any) => void>>} */
    listeners: Map<string, Set<(data: any) => void>>;
    /**
     * Listen; returns the function that stops listening.
     * @param {string} type @param {(data: any) => void} fn
     */
    on(type: string, fn: (data: any) => void): () => boolean;
    /** @param {string} type @param {any} [data] */
    emit(type: string, data?: any): void;
}
/**
 * A follower tab's link: requests go to the leader tab over the BroadcastChannel, the leader's
 * frames and state come back. Same surface as `SocketLink`.
 */
declare class TabLink extends Emitter {
    /** @param {BroadcastChannel} channel @param {string} tabId @param {number} timeoutMs */
    constructor(channel: BroadcastChannel, tabId: string, timeoutMs: number);
    channel: BroadcastChannel;
    tabId: string;
    timeoutMs: number;
    /** @type {LinkState} */
    state: LinkState;
    nextId: number;
    /** @type {Map<number, {resolve: (f: any) => void, reject: (e: any) => void, timer: any}>} */
    pending: Map<number, {
        resolve: (f: any) => void;
        reject: (e: any) => void;
        timer: any;
    }>;
    /** @type {any} */
    user: any;
    /** @param {any} msg a message from the channel */
    onChannel(msg: any): void;
    /** @param {any} frame @returns {Promise<any>} */
    request(frame: any): Promise<any>;
    /** The leader left: everything in flight is lost (the outbox resends). */
    fail(): void;
}
export {};
