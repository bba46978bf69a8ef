// Connection quality: the round-trip latency of app-level pings as an EWMA.

/** @typedef {'excellent' | 'good' | 'poor' | 'offline'} Quality */

/**
 * Round-trip latency of app-level pings as an exponentially weighted moving average, and the
 * quality it means: excellent < 100 ms, good < 300 ms, poor above, offline when not connected.
 */
export class LatencyMeter {
  /** @param {number} [alpha] weight of the newest sample */
  constructor(alpha = 0.3) {
    this.alpha = alpha;
    /** @type {number | null} */
    this.ewma = null;
  }

  /** @param {number} ms */
  sample(ms) {
    this.ewma = this.ewma === null ? ms : this.alpha * ms + (1 - this.alpha) * this.ewma;
    return this.ewma;
  }

  reset() {
    this.ewma = null;
  }

  /** @param {boolean} connected @returns {Quality} */
  quality(connected) {
    if (!connected) return 'offline';
    if (this.ewma === null || this.ewma < 100) return 'excellent';
    if (this.ewma < 300) return 'good';
    return 'poor';
  }
}
