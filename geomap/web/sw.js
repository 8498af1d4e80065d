// Service worker of the rider page (served at /sw.js by geomap/api/web.py, which fills in the version and
// the shell's URLs): the page shell opens from the phone's cache on a weak or absent connection.
//  - the shell ("/", app.js and style.css with their content version in the URL): cache first; a new
//    version of the service brings a new sw.js, which caches the new shell and drops the old one;
//  - the place, the vocabulary and the street sketch (/place, /vocab, /streets): network first, the last
//    copy when the network fails;
//  - everything else, /nearest above all (positions and opening states change): the network only.
"use strict";

var VERSION = "__VERSION__";
var SHELL = __SHELL__;
var SHELL_CACHE = "geomap-shell-" + VERSION;
var DATA_CACHE = "geomap-data";
var DATA_PATHS = ["/place", "/vocab", "/streets"];

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(SHELL_CACHE).then(function (cache) { return cache.addAll(SHELL); })
    .then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k.indexOf("geomap-shell-") === 0 && k !== SHELL_CACHE; })
      .map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

function cacheFirst(request, key) {
  return caches.open(SHELL_CACHE).then(function (cache) {
    return cache.match(key).then(function (hit) { return hit || fetch(request); });
  });
}

function networkFirst(request) {
  return caches.open(DATA_CACHE).then(function (cache) {
    return fetch(request).then(function (response) {
      if (response.ok) cache.put(request, response.clone());
      return response;
    }).catch(function () {
      return cache.match(request).then(function (hit) { return hit || Response.error(); });
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname === "/" && request.mode === "navigate") {
    event.respondWith(cacheFirst(request, "/"));  // "/?at=…" too: the same shell
  } else if (SHELL.indexOf(url.pathname + url.search) >= 0) {
    event.respondWith(cacheFirst(request, request));
  } else if (DATA_PATHS.indexOf(url.pathname) >= 0) {
    event.respondWith(networkFirst(request));
  }
});
