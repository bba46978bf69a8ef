/** Protocol version this SDK speaks. */
export const PROTOCOL: 1;
/** @typedef {import('./lib/quality.js').Quality} Quality */
/** @typedef {import('./lib/history-cache.js').Message} Message */
/** @typedef {import('./lib/storage.js').OutboxItem} OutboxItem */
/** @typedef {import('./lib/storage.js').Storage} Storage */
/** @typedef {import('./lib/socket-link.js').Transport} Transport */
/** @typedef {import('./lib/socket-link.js').LinkState} LinkState */
/** @typedef {import('./lib/socket-link.js').ResumeRequest} ResumeRequest */
/** @typedef {import('./lib/receipts.js').MessageState} MessageState */
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
    queue: Outbox;
    /** Queued and failed messages by `client_msg_id` (the outbox's items). */
    outbox: Map<string, import("./lib/storage.js").OutboxItem>;
    receipts: Receipts;
    typingIndicators: Typing;
    /** @type {any} */
    user: any;
    /** @type {SocketLink | TabLink | null} */
    link: SocketLink | TabLink | null;
    leader: boolean;
    tabId: string;
    /** @type {TabGroup | null} the tabs sharing one connection */
    tabs: TabGroup | null;
    started: boolean;
    /** @type {Array<() => void>} */
    cleanups: Array<() => void>;
    /** Load the outbox, then connect (or join the tab that holds the connection). */
    start(): Promise<void>;
    /** Close the connection (or leave the tab group) and stop every timer. */
    stop(): void;
    /** Join the tabs of this origin: follow the leader's link until this tab is elected. */
    startShared(): void;
    becomeLeader(): void;
    /** @param {SocketLink | TabLink} link */
    attach(link: SocketLink | TabLink): void;
    /** Leader: forward to follower tabs. @param {any} msg */
    share(msg: any): void;
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
    /**
     * The state of a message for its sender: `sending`/`failed` (outbox), `sent` (acked),
     * `delivered` (another member's device has it), `read` (another member read it).
     * @param {any} message a message or thread entry
     * @returns {MessageState}
     */
    statusOf(message: any): MessageState;
    /** Mark read up to `seq` (default: the newest held). @param {string} conversationId @param {number} [seq] */
    markRead(conversationId: string, seq?: number): Promise<void>;
    /** @param {string} conversationId @param {number} seq */
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
    /** @param {any} f a server event */
    onEvent(f: any): void;
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
export type Quality = import("./lib/quality.js").Quality;
export type Message = import("./lib/history-cache.js").Message;
export type OutboxItem = import("./lib/storage.js").OutboxItem;
export type Storage = import("./lib/storage.js").Storage;
export type Transport = import("./lib/socket-link.js").Transport;
export type LinkState = import("./lib/socket-link.js").LinkState;
export type ResumeRequest = import("./lib/socket-link.js").ResumeRequest;
export type MessageState = import("./lib/receipts.js").MessageState;
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
import { backoffDelay } from './lib/reconnect.js';
import { ChinwagError } from './lib/errors.js';
import { CircuitBreaker } from './lib/reconnect.js';
import { CloseCode } from './lib/close-codes.js';
import { EventStreamSocket } from './lib/event-stream.js';
import { HistoryCache } from './lib/history-cache.js';
import { IndexedDBStorage } from './lib/storage.js';
import { LatencyMeter } from './lib/quality.js';
import { MemoryStorage } from './lib/storage.js';
import { retryAfterFromReason } from './lib/reconnect.js';
import { SocketLink } from './lib/socket-link.js';
import { Emitter } from './lib/emitter.js';
import { Outbox } from './lib/outbox.js';
import { Receipts } from './lib/receipts.js';
import { Typing } from './lib/typing.js';
import { TabLink } from './lib/tabs.js';
import { TabGroup } from './lib/tabs.js';
export { backoffDelay, ChinwagError, CircuitBreaker, CloseCode, EventStreamSocket, HistoryCache, IndexedDBStorage, LatencyMeter, MemoryStorage, retryAfterFromReason, SocketLink };
