"""Live results on a phone with no LAN, token or Wi-Fi set-up: `adb reverse` makes the phone's
localhost:PORT the host's live server, then the companion app's Live screen (or, without the app, the
phone's browser) opens http://localhost:PORT/. Undone when the run ends.
"""
from __future__ import annotations

from devices.adb import AdbTransport
from devices.transport import TransportError
from errors import DeviceError

VIEW = "android.intent.action.VIEW"


class PhoneLive:
    """The reverse forward and the opened screen, for one phone; a context manager that removes the forward."""

    def __init__(self, adb: AdbTransport, port: int, *, package: str, live_activity: str = ".LiveActivity",
                 query: str = "") -> None:
        self.adb, self.port, self.package, self.live_activity = adb, int(port), package, live_activity
        self.url = f"http://localhost:{self.port}/" + (f"?{query}" if query else "")
        self.opened_with: str | None = None
        self._reversed = False

    def open(self) -> str:
        """Reverse the port and open the page; returns "app" or "browser" (what was opened)."""
        try:
            self.adb.connect()
            self.adb.reverse(self.port, self.port)
            self._reversed = True
            app = self.adb.run(["pm", "path", self.package], timeout_s=30)
            if app.ok and "package:" in app.stdout:
                argv = ["am", "start", "-n", f"{self.package}/{self.live_activity}", "-a", VIEW, "-d", self.url]
                self.opened_with = "app"
            else:
                argv = ["am", "start", "-a", VIEW, "-d", self.url]
                self.opened_with = "browser"
            res = self.adb.run(argv, timeout_s=30)
        except TransportError as exc:
            self.close()
            raise DeviceError(self.adb.serial, f"--on-device: {exc}") from None
        said = (res.stdout + res.stderr).strip()
        if not res.ok or "Error" in said:
            line = next((ln for ln in said.splitlines() if "Error" in ln), said[-200:])
            self.close()
            raise DeviceError(self.adb.serial, f"--on-device: could not open the live page: {line.strip()[:200]}")
        return self.opened_with

    def close(self) -> None:
        """Remove the reverse forward; a phone already gone has nothing left to remove."""
        if self._reversed:
            self._reversed = False
            try:
                self.adb.reverse_remove(self.port)
            except TransportError:
                pass

    def __enter__(self) -> PhoneLive:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
