/** @typedef {import('./socket-link.js').LinkState} LinkState */
/** @typedef {import('./socket-link.js').SocketLink} SocketLink */
/** @typedef {import('./socket-link.js').PendingRequests} PendingRequests */
/**
 * A follower tab's link: requests go to the leader tab over the BroadcastChannel, the leader's
 * frames and state come back. Same surface as `SocketLink`.
 */
export class TabLink extends Emitter {
    /** @param {BroadcastChannel} channel @param {string} tabId @param {number} timeoutMs */
    constructor(channel: BroadcastChannel, tabId: string, timeoutMs: number);
    channel: BroadcastChannel;
    tabId: string;
    timeoutMs: number;
    /** @type {LinkState} */
    state: LinkState;
    nextId: number;
    /** @type {PendingRequests} */
    pending: PendingRequests;
    /** @type {any} */
    user: any;
    /** @param {any} msg a message from the channel */
    onChannel(msg: any): void;
    /** @param {any} frame @returns {Promise<any>} */
    request(frame: any): Promise<any>;
    /** The leader left: everything in flight is lost (the outbox resends). */
    fail(): void;
}
/**
 * This tab's place in the group: the channel, the election, and (as leader) forwarding to and
 * answering the followers.
 */
export class TabGroup {
    /** @param {string} name the client's name (channel and lock names) @param {string} tabId */
    constructor(name: string, tabId: string);
    name: string;
    tabId: string;
    channel: BroadcastChannel;
    /** @type {(() => void) | null} releases the leader lock */
    release: (() => void) | null;
    /**
     * Listen on the channel, greet the leader, and stand for election: the first tab to hold the
     * lock leads; when it closes, the lock passes to a waiting tab. `lead` returns false to turn
     * the lock down (the client stopped meanwhile).
     * @param {(msg: any) => void} onMessage @param {() => boolean} lead
     */
    join(onMessage: (msg: any) => void, lead: () => boolean): void;
    /** Leader: forward a frame or state to the followers. @param {any} msg */
    share(msg: any): void;
    /**
     * Leader: a follower's greeting (answered with the link's state) or request (sent over the
     * link, answered with the reply or the error).
     * @param {any} msg @param {SocketLink} link @param {any} user
     */
    serve(msg: any, link: SocketLink, user: any): void;
    /** Give up the lead (if held) and the channel. */
    leave(): void;
}
export type LinkState = import("./socket-link.js").LinkState;
export type SocketLink = import("./socket-link.js").SocketLink;
export type PendingRequests = import("./socket-link.js").PendingRequests;
import { Emitter } from './emitter.js';
