/** A minimal event emitter (the same in browsers and Node). */
export class Emitter {
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
