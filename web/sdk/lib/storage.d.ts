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
    /** @returns {Promise<OutboxItem[]>} */
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
    /** @returns {Promise<OutboxItem[]>} */
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
