"""The simulated phone's package manager and the companion app's stand-in (android_app/ is the real app).

- `am start -n PKG/.BenchmarkActivity --es model ... --es result_path P` writes, after `app_delay_s`, a
  result built from the golden contract (contracts/results/ok.json): the runner's keys, with the job's
  model, threads and delegate, `num_runs` latencies and the app's "android" readings. With `--ef sustained_s`
  it runs dev.harness.core.SustainedLoop's steps in real time first (windows at the first inference past each
  window_s, the thermal status at each window end, P's `.stop` file asked for at every sampling point), its
  inferences from the simulator's heating phone when there is one (tests/heating_board.py HeatingPhone:
  it warms, throttles, its clocks fall), on the phone's wall clock (`sim.clock_offset_s` ahead of the host's).
- `am start -n PKG/.LiveActivity -d URL` and `am start -a android.intent.action.VIEW -d URL` (the browser)
  fetch the URL through the phone's localhost, i.e. through `adb reverse` and the real adb server.
- `dumpsys package PKG` prints the versionCode block as the real one does; `pm install [-r] [-d] APK`
  reads the APK's binary manifest with pyaxmlparser and refuses a downgrade as PackageManager does.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from tests.adb_sim_shell import MiniShell

if TYPE_CHECKING:
    from tests.adb_sim import AdbSimulator

GOLDEN_OK = Path(__file__).resolve().parent.parent / "contracts" / "results" / "ok.json"
# The app's "android" block (dev.harness.core.AndroidReadings): every key the real app writes.
GOLDEN_APP = Path(__file__).resolve().parent.parent / "contracts" / "results" / "android_ok.json"
VIEW = "android.intent.action.VIEW"


class CompanionApp:
    """What the phone does with the companion app's package and its two activities."""

    def __init__(self, sim: AdbSimulator) -> None:
        self.sim = sim
        self.version_codes: dict[str, int] = {"dev.harness.companion": 1}
        self.starts: list[dict] = []  # every `am start`: component, action, data, extras
        self.fetched: list[tuple[str, str, bytes]] = []  # (who, url, raw HTTP response) via adb reverse
        self.installs: list[str] = []
        # What the app's logcat holds of the runtime (tag tflite) for a job: the runtime's message text.
        self.tflite_log = ["I/tflite  (12345): Created TensorFlow Lite delegate for GPU.",
                           "I/tflite  (12345): Replacing 3 out of 3 node(s) with delegate (TfLiteGpuDelegateV2) "
                           "node, yielding 1 partitions for the whole graph.",
                           "I/tflite  (12345): Created 1 GPU delegate kernels."]

    # -- am start -------------------------------------------------------------------------------
    def am_start(self, argv: list[str], out, err) -> int:
        component = action = data = None
        extras: dict = {}
        i = 2
        while i < len(argv):
            a = argv[i]
            if a in ("-n", "-a", "-d") and i + 1 < len(argv):
                if a == "-n":
                    component = argv[i + 1]
                elif a == "-a":
                    action = argv[i + 1]
                else:
                    data = argv[i + 1]
                i += 2
            elif a in ("--es", "--ei", "--el", "--ef", "--ez") and i + 2 < len(argv):
                conv = {"--es": str, "--ei": int, "--el": int, "--ef": float, "--ez": lambda v: v == "true"}[a]
                extras[argv[i + 1]] = conv(argv[i + 2])
                i += 3
            else:
                i += 1
        self.starts.append({"component": component, "action": action, "data": data, "extras": extras})
        if component is None:
            if action == VIEW and data and data.startswith(("http://", "https://")):
                out(f"Starting: Intent {{ act={action} dat={data.split('?')[0]}... }}\n".encode())
                self._later(0.05, self._fetch, "browser", data)
                return 0
            err(b"Error: Activity not started, unable to resolve Intent\n")
            return 1
        pkg, _, activity = component.partition("/")
        if pkg not in self.sim.installed:
            err(f"Error type 3\nError: Activity class {{{component}}} does not exist.\n".encode())
            return 1
        out(f"Starting: Intent {{ cmp={component} (has extras) }}\n".encode())
        if "-W" in argv:
            out(f"Status: ok\nLaunchState: COLD\nActivity: {component}\nTotalTime: 412\nWaitTime: 415\n"
                "Complete\n".encode())
        if activity.endswith(".LiveActivity"):
            url = data or extras.get("url")
            if url:
                self._later(0.05, self._fetch, "app", url)
        elif activity.endswith(".BenchmarkActivity"):
            self._later(self.sim.app_delay_s, self._write_result, extras)
        return 0

    def _later(self, delay_s: float, fn, *args) -> None:
        t = threading.Timer(delay_s, fn, args=args)
        t.daemon = True
        t.start()

    def _fetch(self, who: str, url: str) -> None:
        """The Live screen or the browser loading the URL over the phone's localhost (adb reverse)."""
        parts = urlsplit(url)
        if parts.hostname not in ("localhost", "127.0.0.1") or self.sim.gone:
            return
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            raw = self.sim.http_get(parts.port or 80, path)
        except (ConnectionRefusedError, OSError) as exc:
            raw = f"connection failed: {exc}".encode()
        self.fetched.append((who, url, raw))

    def _write_result(self, extras: dict) -> None:
        path = extras.get("result_path")
        if not path or self.sim.gone:
            return
        model = extras.get("model", "")
        if not self.sim.path(model).is_file():
            result = {"schema_version": 2, "error": f"IllegalArgumentException: cannot open model {model}",
                      "traceback": "java.lang.IllegalArgumentException: ...\n"}
        else:
            golden = json.loads(GOLDEN_OK.read_text())
            n = int(extras.get("num_runs", 10))
            lat = golden["latencies_us"]
            result = {**golden, "runtime": "litert-android", "runtime_version": "sim-1.0", "python": None,
                      "machine": "arm64-v8a", "model_path": model, "threads": extras.get("threads", 1),
                      "delegate": extras.get("delegate", "xnnpack"),
                      "latencies_us": [lat[k % len(lat)] for k in range(n)],
                      "android": {**json.loads(GOLDEN_APP.read_text())["android"],
                                  "delegate_requested": extras.get("delegate"),
                                  "delegate_applied": extras.get("delegate"), "delegate_error": None,
                                  "battery_before": {"level_pct": 81, "current_ua": -452000, "plugged": True},
                                  "thermal_status_before": 0, "thermal_headroom_before": 0.42,
                                  "run_token": extras.get("run_token"), "tflite_log": self.tflite_log,
                                  "outputs_path": None, "outputs_shape": None}}
            if extras.get("eval_path"):  # the "model" is the identity: its outputs are its inputs
                data = self.sim.path(extras["eval_path"]).read_bytes()
                out = path.removesuffix(".json") + ".outputs.f32"
                self.sim.write(out, data)
                shape = [int(d) for d in str(extras["eval_shape"]).split(",")]
                result["android"].update({"outputs_path": out, "outputs_shape": [int(extras["eval_count"]), *shape[1:]]})
        if extras.get("sustained_s") and not result.get("error"):
            result.update(self._sustained(extras, path.removesuffix(".json") + ".stop"))
        self.sim.write(path, json.dumps(result))

    def _sustained(self, extras: dict, stop: str) -> dict:
        """SustainedLoop.run, step for step, in real time (see the module's note)."""
        heating = self.sim.heating
        total = float(extras["sustained_s"])
        window = float(extras.get("window_s") or 0) or max(total / 20.0, 0.5)
        interval = float(extras.get("sample_interval_s") or 0.5)
        offset = float(getattr(self.sim, "clock_offset_s", 0.0))

        def infer(n: int) -> float:
            if heating is not None:
                return float(heating.infer(n))
            time.sleep(0.002)
            return 2000.0

        def status() -> int:
            return int(heating.thermal_status) if heating is not None else 0

        first = infer(1)
        base = time.monotonic()
        wall_start = time.time() + offset
        start = time.monotonic()
        next_sample, next_window = start + interval, start + window
        lat: list[float] = []
        windows: list[list] = []
        statuses: list[int] = []
        interrupted = False
        while True:
            lat.append(infer(len(lat) + 2))
            now = time.monotonic()
            if now >= next_window or now - start >= total:
                windows.append([round(now - base, 3), len(lat)])
                statuses.append(status())
                next_window, next_sample = now + window, now + interval
                if now - start < total and self.sim.path(stop).exists():
                    interrupted = True
                    break
            elif now >= next_sample:
                next_sample = now + interval
                if now - start < total and self.sim.path(stop).exists():
                    windows.append([round(now - base, 3), len(lat)])  # the part of the window run so far
                    statuses.append(status())
                    interrupted = True
                    break
            if now - start >= total:
                break
        duration = round(time.monotonic() - start, 6)
        if heating is not None:
            heating.publish()
        return {"first_inference_us": first, "warmup_runs_done": 0, "duration_s": duration,
                "timed_window_unix_s": [round(wall_start, 6), round(time.time() + offset, 6)],
                "latencies_us": lat, "sustained_s": total, "window_s": window, "windows": windows,
                "timed_start_s": round(start - base, 3), "interrupted": interrupted,
                "window_thermal_status": statuses}

    # -- package manager ------------------------------------------------------------------------
    def dumpsys_package(self, args: list[str], out) -> int:
        pkg = args[0] if args else ""
        if pkg in self.sim.installed:
            code = self.version_codes.get(pkg, 1)
            out(f"Packages:\n  Package [{pkg}] (4a1b2c3):\n    userId=10234\n"
                f"    codePath=/data/app/~~sim/{pkg}-1\n    primaryCpuAbi=arm64-v8a\n"
                f"    versionCode={code} minSdk=26 targetSdk=34\n    versionName=0.{code}.0\n".encode())
        else:
            out(b"Dexopt state:\n  Unable to find package: " + pkg.encode() + b"\n")
        return 0

    def pm_install(self, args: list[str], out, err) -> int:
        from pyaxmlparser import APK

        flags = [a for a in args if a.startswith("-")]
        paths = [a for a in args if not a.startswith("-")]
        if not paths:
            err(b"Error: no package specified\n")
            return 1
        try:
            apk = APK(str(self.sim.path(paths[-1])))
            pkg, code = apk.package, int(apk.version_code)
        except Exception:  # what PackageManager says of a file that is not an APK
            out(b"Failure [INSTALL_PARSE_FAILED_NOT_APK: Failed to parse APK]\n")
            return 1
        have = self.version_codes.get(pkg) if pkg in self.sim.installed else None
        if have is not None and code < have and "-d" not in flags:
            out(f"Failure [INSTALL_FAILED_VERSION_DOWNGRADE: Downgrade detected: Update version code {code} "
                f"is older than current {have}]\n".encode())
            return 1
        if have is not None and "-r" not in flags:
            out(f"Failure [INSTALL_FAILED_ALREADY_EXISTS: Attempt to re-install {pkg} without first "
                "uninstalling.]\n".encode())
            return 1
        self.sim.installed.add(pkg)
        self.version_codes[pkg] = code
        self.installs.append(paths[-1])
        out(b"Success\n")
        return 0


class PhoneShell(MiniShell):
    """The simulator's shell, with `am start`, `dumpsys package` and `pm install` answered by the stand-in."""

    def _exec(self, argv: list[str], stdin: bytes | None, out, err) -> int:
        app = self.sim.app
        if argv[:2] == ["am", "start"]:
            return app.am_start(argv, out, err)
        if argv[:2] == ["dumpsys", "package"]:
            return app.dumpsys_package(argv[2:], out)
        if argv[:2] == ["pm", "install"]:
            return app.pm_install(argv[2:], out, err)
        return super()._exec(argv, stdin, out, err)
