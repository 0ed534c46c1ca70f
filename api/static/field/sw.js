// The field app's service worker: keeps the shell (page, scripts, styles, vendored libraries,
// the vocabularies) so the page opens with no network. API calls are never cached: a report
// that cannot be sent waits in IndexedDB (app.js), not here.
const CACHE = "gisgrid-field-v1";
const SHELL = [
  "/field/",
  "/field/manifest.webmanifest",
  "/field/config.json",
  "/map/config.json",
  "/static/field/app.js",
  "/static/field/field.css",
  "/static/vendor/maplibre-gl/maplibre-gl.mjs",
  "/static/vendor/maplibre-gl/maplibre-gl-worker.mjs",
  "/static/vendor/maplibre-gl/maplibre-gl.css",
  "/static/vendor/idb-keyval/index.js",
];
// fresh from the network when there is one (a new release, new categories), else the copy
const NETWORK_FIRST = new Set(["/field/", "/field/config.json", "/map/config.json", "/static/field/app.js", "/static/field/field.css"]);

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== "GET" || url.origin !== self.location.origin || !SHELL.includes(url.pathname)) return;
  if (NETWORK_FIRST.has(url.pathname)) {
    event.respondWith(
      fetch(req)
        .then((r) => {
          if (r.ok) {
            const copy = r.clone();
            caches.open(CACHE).then((c) => c.put(url.pathname, copy));
          }
          return r;
        })
        .catch(() => caches.match(url.pathname)),
    );
    return;
  }
  event.respondWith(caches.match(url.pathname).then((hit) => hit || fetch(req)));
});
