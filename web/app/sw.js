// The app shell for offline starts: network first (a new server version is used at once), the
// cached copy when the network is unreachable. The API is never cached.
const SHELL = 'chinwag-shell-v1';
// The SDK is its entry module and the modules it imports (web/test/sdk-files.test.js checks).
const FILES = [
  '/', '/app.css', '/app.js', '/view.js', '/icon.svg', '/sdk/chinwag.js',
  '/sdk/lib/close-codes.js',
  '/sdk/lib/emitter.js',
  '/sdk/lib/errors.js',
  '/sdk/lib/event-stream.js',
  '/sdk/lib/history-cache.js',
  '/sdk/lib/http.js',
  '/sdk/lib/outbox.js',
  '/sdk/lib/quality.js',
  '/sdk/lib/receipts.js',
  '/sdk/lib/reconnect.js',
  '/sdk/lib/socket-link.js',
  '/sdk/lib/storage.js',
  '/sdk/lib/tabs.js',
  '/sdk/lib/typing.js',
];

/** @type {any} */
const worker = self;

worker.addEventListener('install', (/** @type {any} */ event) => {
  event.waitUntil(caches.open(SHELL).then((c) => c.addAll(FILES)).then(() => worker.skipWaiting()));
});

worker.addEventListener('activate', (/** @type {any} */ event) => {
  event.waitUntil(worker.clients.claim());
});

worker.addEventListener('fetch', (/** @type {any} */ event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== worker.location.origin) return;
  const path = url.pathname === '/index.html' ? '/' : url.pathname;
  if (!FILES.includes(path)) return;
  event.respondWith((async () => {
    try {
      const fresh = await fetch(event.request);
      if (fresh.ok) {
        const copy = fresh.clone();
        caches.open(SHELL).then((c) => c.put(path, copy));
      }
      return fresh;
    } catch (e) {
      const cached = await caches.match(path);
      if (cached) return cached;
      throw e;
    }
  })());
});
