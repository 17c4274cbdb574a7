"""Fixtures for reports, comparison and the live page: synthetic runs and a real headless Chromium.

Chromium is Debian's `chromium` package (CI installs it from .ci/apt-packages.txt); nothing is fetched
from the network. `CdpPage` drives it over the DevTools protocol on 127.0.0.1, which lets a test
watch a page change while it stays loaded.
"""
from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.store.results import Measurement, PowerSample, RunInfo, TempSample, Validity

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--disable-extensions", "--mute-audio",
]
PHONE = (390, 844)
DESKTOP = (1200, 900)


def make_measurement(run_id: str, device: str, model: str, variant: str, *, median_us: float, n: int = 200,
                     cv: float = 0.03, seed: int = 0, size_bytes: int = 400_000, accuracy: float | None = None,
                     power_mw: float | None = None, started_at: float = 1_700_000_000.0,
                     temp_c: float | None = 45.0) -> Measurement:
    """An ok measurement with `n` raw samples around `median_us` (log-normal, like real latencies)."""
    from harness.statistics.latency import summarize

    rng = np.random.default_rng(seed)
    lat = tuple(float(x) for x in median_us * rng.lognormal(0.0, cv, n))
    s = summarize(lat)
    duration = sum(lat) / 1e6
    temps = ()
    if temp_c is not None:
        temps = tuple(TempSample(t, phase, {"cpu": temp_c + 6 * t / max(duration, 1e-9)})
                      for t, phase in ((0.0, "before"), (duration / 2, "run"), (duration, "after")))
    power = tuple(PowerSample(i * 0.5, power_mw * (1 + 0.02 * i), "VDD_IN") for i in range(4)) if power_mw else ()
    avg = sum(p.power_mw for p in power) / len(power) if power else None
    return Measurement(
        run_id=run_id, device=device, model=model, variant=variant, status="ok", runtime="litert",
        threads=2, delegate="xnnpack", model_size_bytes=size_bytes, latencies_us=lat, duration_s=duration,
        p50_us=s.p50_us, p90_us=s.p90_us, p99_us=s.p99_us, mean_us=s.mean_us, std_us=s.std_us, min_us=s.min_us,
        max_us=s.max_us, cv=s.cv, peak_rss_mb=80.0 + size_bytes / 1e6,
        temp_before_c=temps[0].zones_c["cpu"] if temps else None,
        temp_after_c=temps[-1].zones_c["cpu"] if temps else None,
        temp_max_c=max(t.zones_c["cpu"] for t in temps) if temps else None, temperatures=temps,
        power_samples=power, avg_power_mw=avg, energy_per_inference_mj=avg * s.mean_us / 1e6 if avg else None,
        validity=Validity(True, True, s.cv <= 0.1, True, True),
        metrics={"size_bytes": size_bytes, **({"accuracy": accuracy} if accuracy is not None else {})},
        started_at=started_at, finished_at=started_at + duration,
    )


# The shape of a typical run: two boards, two models, three variants, with accuracy and power.
VARIANTS = {"fp32": (1.0, 1.0, 0.912), "fp16": (0.93, 0.5, 0.911), "int8": (0.55, 0.26, 0.897)}
DEVICES = {"rpi5": 1.0, "jetson-nano": 0.7}
MODELS = {"srcnn": 9_000.0, "squeezenet": 21_000.0}


def synthetic_rows(run_id: str, *, scale: float = 1.0, seed: int = 0, t0: float = 1_700_000_000.0,
                   slow: dict[tuple[str, str, str], float] | None = None, n: int = 200) -> list[Measurement]:
    """Twelve measurements; `slow` multiplies the latency of chosen keys (a planted regression)."""
    rows = []
    t = t0
    for d_i, (device, dev_f) in enumerate(DEVICES.items()):
        for m_i, (model, base_us) in enumerate(MODELS.items()):
            for v_i, (variant, (lat_f, size_f, acc)) in enumerate(VARIANTS.items()):
                f = scale * (slow or {}).get((device, model, variant), 1.0)
                rows.append(make_measurement(
                    run_id, device, model, variant, median_us=base_us * dev_f * lat_f * f, n=n,
                    seed=seed * 1000 + d_i * 100 + m_i * 10 + v_i, size_bytes=int(1_600_000 * size_f * (m_i + 1)),
                    accuracy=acc - 0.01 * m_i, power_mw=3200 * dev_f if device == "jetson-nano" else None,
                    started_at=t, temp_c=44.0 + 3 * v_i + 4 * d_i))
                t += 5
    return rows


def store_run(db_path: Path, run_id: str, rows: list[Measurement], *, created_at: float = 1_700_000_000.0,
              status: str = "finished", label: str | None = None) -> None:
    from harness.store.db import ResultsDB

    db = ResultsDB(db_path)
    try:
        db.add_run(RunInfo(run_id, created_at, "bench-host", "abc123def456", {"numpy": "2"},
                           {"models": list(MODELS), "variants": list(VARIANTS)}, status=status, label=label))
        db.add_many(rows)
    finally:
        db.close()


@pytest.fixture(scope="session")
def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("needs Debian's chromium package (apt-get install chromium; listed in .ci/apt-packages.txt)")
    return path


def screenshot(chromium_path: str, url: str, png: Path, size: tuple[int, int], profile: Path) -> Path:
    """One page, one picture: Chromium's own --screenshot, with a fresh profile."""
    cmd = [chromium_path, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}",
           f"--screenshot={png}", "--virtual-time-budget=3000", url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert png.exists() and png.stat().st_size > 1000, f"no screenshot: {proc.stderr[-2000:]}"
    return png


def png_size(png: Path) -> tuple[int, int]:
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


class CdpPage:
    """A headless Chromium with one page, driven over the DevTools protocol (websocket on loopback)."""

    def __init__(self, chromium_path: str, profile: Path, size: tuple[int, int] = PHONE) -> None:
        import websocket  # websocket-client, from the `test` extra

        self.proc = subprocess.Popen(
            [chromium_path, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        deadline = time.time() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.time() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            targets = json.load(resp)
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30, suppress_origin=True)
        self._id = 0
        self.events: list[dict[str, Any]] = []
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=size[0], height=size[1], deviceScaleFactor=1,
                  mobile=size[0] < 600)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        my_id = self._id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def navigate(self, url: str, timeout_s: float = 30) -> None:
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'", timeout_s)

    def evaluate(self, expression: str) -> Any:
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"page error: {res['exceptionDetails']}")
        return res["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float = 30) -> Any:
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        raise TimeoutError(f"page never satisfied: {expression}")

    def navigations(self) -> int:
        """Main-frame navigations seen since the last `navigate` (a reload would add one)."""
        return sum(1 for e in self.events if e.get("method") == "Page.frameNavigated"
                   and not e["params"]["frame"].get("parentId"))

    def screenshot(self, png: Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=False)["data"]
        png.write_bytes(base64.b64decode(data))
        return png

    def close(self) -> None:
        try:
            if getattr(self, "ws", None) is not None:
                self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture
def cdp_page(chromium, tmp_path):
    page = CdpPage(chromium, tmp_path / "chromium-profile")
    try:
        yield page
    finally:
        page.close()
