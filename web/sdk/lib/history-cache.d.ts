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
