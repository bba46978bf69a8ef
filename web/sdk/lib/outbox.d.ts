/** A unique id for a message (the idempotency key). */
export function newId(): string;
/** @typedef {import('./history-cache.js').Message} Message */
/** @typedef {import('./receipts.js').MessageState} MessageState */
/** @typedef {import('./storage.js').OutboxItem} OutboxItem */
/** @typedef {import('./storage.js').Storage} Storage */
/**
 * What the outbox needs from its client: `emit` its events (`messageState`, `outbox`), `request`
 * over the link, whether the link is `connected`, `apply` an acknowledged message to the
 * client's state, and its `stateOf` for the sender.
 * @typedef {{emit: (type: string, data: any) => void, request: (frame: any) => Promise<any>,
 *   connected: () => boolean, apply: (message: Message) => void,
 *   stateOf: (message: Message) => MessageState}} OutboxHost
 */
export class Outbox {
    /**
     * @param {Storage} storage
     * @param {{sendDeadlineMs?: number}} options read when sending (they may change)
     * @param {OutboxHost} host
     */
    constructor(storage: Storage, options: {
        sendDeadlineMs?: number;
    }, host: OutboxHost);
    storage: import("./storage.js").Storage;
    options: {
        sendDeadlineMs?: number;
    };
    host: OutboxHost;
    /** Queued and failed messages by `client_msg_id`. @type {Map<string, OutboxItem>} */
    items: Map<string, OutboxItem>;
    /** Ack deadlines of transmitted items. @type {Map<string, any>} */
    deadlines: Map<string, any>;
    /** Load what an earlier page or process left in storage. */
    load(): Promise<void>;
    /** Queue a new item and store it (send it with `sending`). @param {OutboxItem} item */
    add(item: OutboxItem): Promise<void>;
    /** Send a failed item again (same `client_msg_id`). @param {string} clientMsgId */
    retry(clientMsgId: string): Promise<void>;
    /** Say that an item is `sending`, and transmit it. @param {OutboxItem} item */
    sending(item: OutboxItem): void;
    /** Give up on a queued or failed item. @param {string} clientMsgId */
    discard(clientMsgId: string): Promise<void>;
    emitCount(): void;
    /** Transmit every queued item, oldest first (after connecting). */
    flush(): void;
    /**
     * Send one item now if connected; without an ack before `sendDeadlineMs` it fails.
     * @param {OutboxItem} item
     */
    transmit(item: OutboxItem): void;
    /** @param {string} id @param {ChinwagError} e */
    fail(id: string, e: ChinwagError): Promise<void>;
    /**
     * The server has the message (its ack, or the message itself as an event): out of the queue,
     * into the client's state, then out of storage.
     * @param {Message} message
     */
    acked(message: Message): Promise<void>;
    stop(): void;
}
export type Message = import("./history-cache.js").Message;
export type MessageState = import("./receipts.js").MessageState;
export type OutboxItem = import("./storage.js").OutboxItem;
export type Storage = import("./storage.js").Storage;
/**
 * What the outbox needs from its client: `emit` its events (`messageState`, `outbox`), `request`
 * over the link, whether the link is `connected`, `apply` an acknowledged message to the
 * client's state, and its `stateOf` for the sender.
 */
export type OutboxHost = {
    emit: (type: string, data: any) => void;
    request: (frame: any) => Promise<any>;
    connected: () => boolean;
    apply: (message: Message) => void;
    stateOf: (message: Message) => MessageState;
};
import { ChinwagError } from './errors.js';
