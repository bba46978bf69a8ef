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
export type Quality = "excellent" | "good" | "poor" | "offline";
