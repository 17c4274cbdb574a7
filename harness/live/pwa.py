"""The live page as an installable web app: manifest, icons and a service worker.

An iPhone or an Android phone without the companion app can pin the page to its home screen. The worker
caches only the shell (page, manifest, icons) and never answers /api/* itself: results and the event
stream always come from the server, or fail visibly when it is gone, never from a cache (stale numbers
read as current ones would be worse than none). Icons are drawn here, so no asset files ship.
"""
from __future__ import annotations

import json
import struct
import zlib
from functools import cache

SHELL_CACHE = "harness-shell-v1"
ICON_SIZES = (192, 512)
THEME = "#2563eb"

MANIFEST_DATA = {
    "name": "harness · live",
    "short_name": "harness",
    "description": "Benchmark results as they are measured",
    "id": "/",
    "start_url": "/?source=home",
    "scope": "/",
    "display": "standalone",
    "orientation": "portrait",
    "background_color": "#f8fafc",
    "theme_color": THEME,
    "icons": [{"src": f"/icon-{n}.png", "sizes": f"{n}x{n}", "type": "image/png", "purpose": "any"}
              for n in ICON_SIZES] + [
              {"src": "/icon-512.png", "sizes": "512x512", "type": "image/png", "purpose": "maskable"},
              {"src": "/icon.svg", "sizes": "any", "type": "image/svg+xml", "purpose": "any"}],
}
MANIFEST = json.dumps(MANIFEST_DATA, indent=1)


def manifest_with_token(token: str) -> str:
    """For a server that asks for a token: the home-screen app opens the page with it, as the user's
    own link did (the page asks for this manifest only with a valid token)."""
    from urllib.parse import quote

    return json.dumps({**MANIFEST_DATA, "start_url": f"/?source=home&token={quote(token, safe='')}"}, indent=1)

SHELL = ["/", "/manifest.webmanifest", "/icon-192.png", "/icon-512.png", "/icon.svg"]

SERVICE_WORKER = """"use strict";
// harness live page: cache the shell only; /api/* (results, the event stream) is never cached or
// answered from a cache, so a result on screen is one the server just sent.
const SHELL_CACHE = """ + json.dumps(SHELL_CACHE) + """;
const SHELL = """ + json.dumps(SHELL) + """;
self.addEventListener("install", (e) => {
  // The assets now; the page too where it needs no token (else it is cached at its next load).
  e.waitUntil(caches.open(SHELL_CACHE)
    .then((c) => c.addAll(SHELL.filter((p) => p !== "/")).then(() => c.add("/").catch(() => null)))
    .then(() => self.skipWaiting()));
});
self.addEventListener("activate", (e) => {
  e.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== SHELL_CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});
self.addEventListener("fetch", (e) => {
  const url = new URL(e.request.url);
  if (e.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/api/")) return;  // network only, straight from the browser
  if (!SHELL.includes(url.pathname)) return;
  // Network first, so a newer page is picked up at once; the cached shell only when the server is away.
  e.respondWith(fetch(e.request).then((r) => {
    if (r.ok) { const copy = r.clone(); caches.open(SHELL_CACHE).then((c) => c.put(url.pathname, copy)); }
    return r;
  }).catch(() => caches.match(url.pathname)));
});
"""


def _png(width: int, height: int, rows: list[bytes]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\0" + r for r in rows)  # filter type 0 on every row
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


@cache
def icon_png(size: int) -> bytes:
    """A full-bleed blue square (safe for maskable crops) with three white latency bars in the middle 60%."""
    bg, fg = bytes((0x25, 0x63, 0xEB, 0xFF)), bytes((0xFF, 0xFF, 0xFF, 0xFF))
    bars = [(0.26, 0.36, 0.55), (0.44, 0.54, 0.35), (0.62, 0.72, 0.70)]  # (x0, x1, height) as fractions
    base = 0.78
    rows = []
    for y in range(size):
        fy = (y + 0.5) / size
        row = bytearray()
        for x in range(size):
            fx = (x + 0.5) / size
            on = any(x0 <= fx < x1 and base - h <= fy < base for x0, x1, h in bars)
            row += fg if on else bg
        rows.append(bytes(row))
    return _png(size, size, rows)


ICON_SVG = f"""<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">
<rect width="100" height="100" rx="18" fill="{THEME}"/>
<rect x="26" y="23" width="10" height="55" fill="#fff"/>
<rect x="44" y="43" width="10" height="35" fill="#fff"/>
<rect x="62" y="8" width="10" height="70" fill="#fff"/>
</svg>
"""

# path -> (body, content type); served without a token: they hold no results.
STATIC: dict[str, tuple[object, str]] = {
    "/manifest.webmanifest": (MANIFEST, "application/manifest+json"),
    "/sw.js": (SERVICE_WORKER, "text/javascript; charset=utf-8"),
    "/icon.svg": (ICON_SVG, "image/svg+xml"),
    **{f"/icon-{n}.png": (n, "image/png") for n in ICON_SIZES},
}


def static_asset(path: str) -> tuple[bytes, str] | None:
    """The bytes and content type of a shell asset, or None when `path` is not one."""
    entry = STATIC.get(path)
    if entry is None:
        return None
    body, ctype = entry
    data = icon_png(body) if isinstance(body, int) else str(body).encode()
    return data, ctype
