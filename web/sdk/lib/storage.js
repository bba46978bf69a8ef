// Where the outbox is persisted: in memory (Node, tests) or IndexedDB (browsers: survives reloads,
// shared by the tabs of an origin). An app may pass its own `Storage`.

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
  constructor() {
    /** @type {Map<string, OutboxItem>} */
    this.items = new Map();
    /** @type {Map<string, any>} */
    this.meta = new Map();
  }

  /** @returns {Promise<OutboxItem[]>} */
  async load() {
    return [...this.items.values()].map((i) => ({ ...i }));
  }

  /** @param {OutboxItem} item */
  async put(item) {
    this.items.set(item.client_msg_id, { ...item });
  }

  /** @param {string} id */
  async delete(id) {
    this.items.delete(id);
  }

  /** @param {string} key */
  async getMeta(key) {
    return this.meta.get(key);
  }

  /** @param {string} key @param {any} value */
  async setMeta(key, value) {
    this.meta.set(key, value);
  }
}

/** Outbox storage in IndexedDB: survives reloads and is shared by the tabs of an origin. */
export class IndexedDBStorage {
  /** @param {string} [name] database name */
  constructor(name = 'chinwag') {
    this.name = name;
    /** @type {Promise<IDBDatabase> | null} */
    this.db = null;
  }

  /** @returns {Promise<IDBDatabase>} */
  open() {
    if (!this.db) {
      this.db = new Promise((resolve, reject) => {
        const req = indexedDB.open(this.name, 1);
        req.onupgradeneeded = () => {
          req.result.createObjectStore('outbox', { keyPath: 'client_msg_id' });
          req.result.createObjectStore('meta');
        };
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
    }
    return this.db;
  }

  /**
   * @template T
   * @param {string} store @param {IDBTransactionMode} mode
   * @param {(s: IDBObjectStore) => IDBRequest<T>} op
   * @returns {Promise<T>}
   */
  async run(store, mode, op) {
    const db = await this.open();
    return new Promise((resolve, reject) => {
      const tx = db.transaction(store, mode);
      const req = op(tx.objectStore(store));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  }

  /** @returns {Promise<OutboxItem[]>} */
  async load() {
    /** @type {OutboxItem[]} */
    const all = await this.run('outbox', 'readonly', (s) => s.getAll());
    return all.sort((a, b) => a.created_at - b.created_at);
  }

  /** @param {OutboxItem} item */
  async put(item) {
    await this.run('outbox', 'readwrite', (s) => s.put(item));
  }

  /** @param {string} id */
  async delete(id) {
    await this.run('outbox', 'readwrite', (s) => s.delete(id));
  }

  /** @param {string} key */
  async getMeta(key) {
    return this.run('meta', 'readonly', (s) => s.get(key));
  }

  /** @param {string} key @param {any} value */
  async setMeta(key, value) {
    await this.run('meta', 'readwrite', (s) => s.put(value, key));
  }
}
