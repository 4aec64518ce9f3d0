// Keeps the playground's files (page, scripts, models) for offline use:
// cached at install, served cache-first. The version changes with the files.
const CACHE = 'trax-ts-playground-__VERSION__';
const FILES = __FILES__;

self.addEventListener('install', (ev) => {
  ev.waitUntil(caches.open(CACHE).then((c) => c.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (ev) => {
  ev.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k.startsWith('trax-ts-playground-') && k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener('fetch', (ev) => {
  if (ev.request.method !== 'GET') return;
  ev.respondWith(caches.match(ev.request, { ignoreSearch: true }).then((hit) => hit ?? fetch(ev.request)));
});
