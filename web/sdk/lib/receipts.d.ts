/** @typedef {'sending' | 'sent' | 'delivered' | 'read' | 'failed'} MessageState */
export class Receipts {
    /** @param {(frame: any) => Promise<any>} request over the client's link */
    constructor(request: (frame: any) => Promise<any>);
    request: (frame: any) => Promise<any>;
    /** Other members' watermarks: conversation → user → {delivered, read}. @type {Map<string, Map<string, {delivered: number, read: number}>>} */
    watermarks: Map<string, Map<string, {
        delivered: number;
        read: number;
    }>>;
    /** Highest seq confirmed with `received` per conversation. @type {Map<string, number>} */
    receivedSent: Map<string, number>;
    /** @type {any} */
    receivedTimer: any;
    /** `received` confirmations waiting for the batch timer. @type {Map<string, number>} */
    receivedQueue: Map<string, number>;
    /** @param {string} c @param {string} user @param {number} delivered @param {number} read */
    setWatermark(c: string, user: string, delivered: number, read: number): void;
    /**
     * The state of an acknowledged message for its sender: `delivered` (another member's device
     * has it), `read` (another member read it), else `sent`.
     * @param {any} message a message or thread entry
     * @returns {MessageState}
     */
    stateOf(message: any): MessageState;
    /**
     * Confirm delivery of everything up to `seq`, batched: one `received` per conversation for the
     * highest seq of what arrived in a burst. Only the tab holding the connection sends them.
     * @param {string} conversationId @param {number} seq @param {boolean} leader
     */
    confirmReceived(conversationId: string, seq: number, leader: boolean): void;
    /** @param {string} conversationId */
    forget(conversationId: string): void;
    stop(): void;
}
export type MessageState = "sending" | "sent" | "delivered" | "read" | "failed";
