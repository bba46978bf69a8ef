export class Typing {
    /**
     * @param {{typingThrottleMs?: number, typingIdleMs?: number}} options read on every keystroke
     * (they may change)
     * @param {(frame: any) => Promise<any>} request over the client's link
     * @param {(conversationId: string, users: string[]) => void} changed who is typing changed
     */
    constructor(options: {
        typingThrottleMs?: number;
        typingIdleMs?: number;
    }, request: (frame: any) => Promise<any>, changed: (conversationId: string, users: string[]) => void);
    options: {
        typingThrottleMs?: number;
        typingIdleMs?: number;
    };
    request: (frame: any) => Promise<any>;
    changed: (conversationId: string, users: string[]) => void;
    /** Who is typing: conversation → user → expiry timer. @type {Map<string, Map<string, any>>} */
    typists: Map<string, Map<string, any>>;
    /** Our own typing: conversation → {sentAt, idleTimer}. @type {Map<string, {sentAt: number, idle: any}>} */
    ownTyping: Map<string, {
        sentAt: number;
        idle: any;
    }>;
    /**
     * A keystroke: sends `typing: true` at most every `typingThrottleMs`, and `false` after
     * `typingIdleMs` without keystrokes. @param {string} conversationId
     */
    keystroke(conversationId: string): void;
    /** @param {string} conversationId */
    stop(conversationId: string): void;
    /** Users typing in a conversation. @param {string} conversationId */
    users(conversationId: string): string[];
    /** @param {string} conversationId @param {string} user @param {boolean} typing */
    setTypist(conversationId: string, user: string, typing: boolean): void;
    /** Stop every timer. */
    clear(): void;
}
