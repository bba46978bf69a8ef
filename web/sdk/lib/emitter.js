// The SDK's event emitter: `on(type, fn)` returns the function that stops listening.

/** A minimal event emitter (the same in browsers and Node). */
export class Emitter {
  constructor() {
    /** @type {Map<string, Set<(data: any) => void>>} */
    this.listeners = new Map();
  }

  /**
   * Listen; returns the function that stops listening.
   * @param {string} type @param {(data: any) => void} fn
   */
  on(type, fn) {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  /** @param {string} type @param {any} [data] */
  emit(type, data) {
    for (const fn of this.listeners.get(type) ?? []) {
      try {
        fn(data);
      } catch (e) {
        // A listener's bug must not stop the SDK.
        setTimeout(() => { throw e; });
      }
    }
  }
}
