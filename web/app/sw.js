// The app shell for offline starts: network first (a new server version is used at once), the
// cached copy when the network is unreachable. The API is never cached.
const SHELL = 'chinwag-shell-v1';
const FILES = ['/', '/app.css', '/app.js', '/view.js', '/sdk/chinwag.js', '/icon.svg'];

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
