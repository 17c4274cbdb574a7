"""The live page as an installable web app, in real headless Chromium with a phone-sized viewport:
manifest and icons that Chromium accepts, a service worker that caches the shell and never results."""
from __future__ import annotations

import json
import time
import urllib.request

from harness.live.pwa import SHELL, SHELL_CACHE
from harness.live.server import LiveServer
from tests.fixtures_web import PHONE, store_run, synthetic_rows


def _fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as resp:
        return resp.status, resp.headers["Content-Type"], resp.read()


def _png_dims(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _settle(page, js_promise: str, timeout_s: float = 30):
    """Evaluate a promise-returning expression and wait for its value (CdpPage.evaluate does not await)."""
    page.evaluate(f"window.__v = undefined; Promise.resolve({js_promise}).then((v) => window.__v = "
                  "JSON.stringify(v), (e) => window.__v = JSON.stringify('error: ' + e))")
    return json.loads(page.wait_for("window.__v", timeout_s))


def test_manifest_and_icons(tmp_path):
    with LiveServer(tmp_path / "r.db", port=0, watch_db=False) as server:
        base = f"http://127.0.0.1:{server.port}"
        status, ctype, body = _fetch(base + "/manifest.webmanifest")
        m = json.loads(body)
        assert status == 200 and ctype == "application/manifest+json"
        assert m["display"] == "standalone" and m["start_url"].startswith("/") and m["name"]
        sizes = {i["sizes"] for i in m["icons"] if i["type"] == "image/png"}
        assert {"192x192", "512x512"} <= sizes
        for n in (192, 512):
            status, ctype, png = _fetch(f"{base}/icon-{n}.png")
            assert ctype == "image/png" and _png_dims(png) == (n, n)
        assert _fetch(base + "/icon.svg")[2].startswith(b"<svg")
        status, ctype, sw = _fetch(base + "/sw.js")
        assert ctype.startswith("text/javascript") and b'"/api/"' in sw
        page = _fetch(base + "/")[2]
        assert b'rel="manifest"' in page and b"serviceWorker" in page


def test_token_servers_keep_results_guarded_and_the_installed_app_keeps_its_token(tmp_path):
    import urllib.error

    with LiveServer(tmp_path / "r.db", port=0, token="s3cret-token") as server:
        base = f"http://127.0.0.1:{server.port}"
        assert json.loads(_fetch(base + "/manifest.webmanifest")[2])["start_url"] == "/?source=home"
        # The browser asks for the manifest with the cookie the first page load set (or a bearer header);
        # a token in the manifest's own query string is not accepted (only the page load takes ?token=).
        m = json.loads(_fetch(base + "/manifest.webmanifest", {"Authorization": "Bearer s3cret-token"})[2])
        assert m["start_url"] == "/?source=home&token=s3cret-token"
        wrong = {"Authorization": "Bearer wrong"}
        assert "token" not in json.loads(_fetch(base + "/manifest.webmanifest", wrong)[2])["start_url"]
        assert "token" not in json.loads(_fetch(base + "/manifest.webmanifest?token=s3cret-token")[2])["start_url"]
        assert _fetch(base + "/sw.js")[0] == 200 and _fetch(base + "/icon-192.png")[0] == 200
        for path in ("/", "/api/runs"):
            try:
                _fetch(base + path)
                raise AssertionError(f"{path} answered without the token")
            except urllib.error.HTTPError as exc:
                assert exc.code == 401


def test_installable_in_chromium_and_never_serves_stale_results(tmp_path, cdp_page):
    db = tmp_path / "r.db"
    store_run(db, "run-a", synthetic_rows("run-a"), created_at=1_700_000_000.0)
    server = LiveServer(db, port=0, watch_db=False).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        cdp_page.navigate(base + "/")
        cdp_page.wait_for("window.harnessLive.sw === 'registered'")
        assert _settle(cdp_page, "navigator.serviceWorker.ready.then((r) => r.active.state)") in ("activating",
                                                                                               "activated")
        manifest = cdp_page.call("Page.getAppManifest")
        assert manifest["url"].endswith("/manifest.webmanifest") and manifest["errors"] == []
        assert cdp_page.call("Page.getInstallabilityErrors")["installabilityErrors"] == []
        # Reloaded, the worker controls the page; its cache holds the shell and nothing of /api.
        cdp_page.navigate(base + "/")
        assert cdp_page.wait_for("navigator.serviceWorker.controller !== null")
        cdp_page.wait_for("document.querySelectorAll('.result').length === 12")
        cached = _settle(cdp_page, f"caches.open({json.dumps(SHELL_CACHE)}).then((c) => c.keys())"
                                   ".then((ks) => ks.map((r) => new URL(r.url).pathname).sort())")
        assert cached == sorted(SHELL)
        assert _settle(cdp_page, "caches.keys()") == [SHELL_CACHE]
        # A new run in the database: the controlled page shows it (the API is never cached).
        store_run(db, "run-b", synthetic_rows("run-b", scale=2.0)[:3], created_at=1_700_000_500.0)
        cdp_page.navigate(base + "/")
        cdp_page.wait_for("document.getElementById('run-id').textContent === 'run-b'")
        cdp_page.wait_for("document.querySelectorAll('.result').length === 3")
        assert cdp_page.evaluate("document.documentElement.scrollWidth") <= PHONE[0]
    finally:
        server.stop()
    # The server is gone: the shell still opens from the cache, with no results in it, none stale.
    cdp_page.navigate(base + "/")
    assert cdp_page.evaluate("document.title") == "harness · live"
    assert _settle(cdp_page, "fetch('/api/runs').then(() => 'served', () => 'failed')") == "failed"
    time.sleep(0.5)
    assert cdp_page.evaluate("document.querySelectorAll('.result').length") == 0
    assert cdp_page.evaluate("document.getElementById('conn').textContent") != "live"
