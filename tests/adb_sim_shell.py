"""The simulated phone's shell: just enough of /system/bin/sh and Android's commands for what the
harness sends. Android commands answer with real recorded outputs where a recording exists
(dumpsys battery, dumpsys thermalservice, benchmark_model); getprop, sysfs and `am`/`pm` answers
follow the real formats with plausible values.
"""
from __future__ import annotations

import hashlib
import json
import stat
import threading
import time
from typing import TYPE_CHECKING
from collections.abc import Callable

from tests.sim_sh import IO, Shell

if TYPE_CHECKING:
    from tests.adb_sim import AdbSimulator

BENCH_MARK = b"#!sim-benchmark_model\n"  # first bytes of the stand-in binary the tests push


class MiniShell(Shell):
    """/system/bin/sh (mksh) over the phone's files: the shell language comes from tests/sim_sh.py
    (quoting, globs, `$VAR`, `;`/`&&`/`||`/pipes/redirections, exit codes as mksh gives them); the
    commands below are toybox's and Android's, printing their errors to stderr as those do."""

    name = "/system/bin/sh"

    def __init__(self, sim: AdbSimulator, out: Callable[[bytes], None], err: Callable[[bytes], None],
                 args: list[str] | None = None) -> None:
        super().__init__(out, err, args)
        self.sim = sim

    # -- the file system hooks --------------------------------------------------------------------
    def _host(self, path: str):
        try:
            return self.sim.path(path)
        except PermissionError:
            return None

    def listdir(self, path: str) -> list[str] | None:
        p = self._host(path)
        if p is None or not p.is_dir():
            return None
        return [c.name for c in p.iterdir()]

    def read_file(self, path: str) -> bytes | None:
        p = self._host(path)
        try:
            return p.read_bytes() if p is not None and p.is_file() else None
        except OSError:
            return None

    def write_file(self, path: str, data: bytes, append: bool) -> bool:
        p = self._host(path)
        if p is None or not p.parent.is_dir() or p.is_dir():
            return False
        with open(p, "ab" if append else "wb") as fh:
            fh.write(data)
        return True

    def file_test(self, op: str, path: str) -> bool:
        p = self._host(path)
        if p is None or not p.exists():
            return False
        mode = p.stat().st_mode
        return {"-e": True, "-f": p.is_file(), "-d": p.is_dir(), "-r": True, "-w": True,
                "-x": bool(mode & stat.S_IXUSR), "-s": p.is_file() and p.stat().st_size > 0}[op]

    def command(self, argv: list[str], io: IO) -> int | None:
        resolved = [self.abs_path(a) if a.startswith("./") else a for a in argv]
        return self._exec(resolved, io.stdin, io.out, io.err)

    def _exec(self, argv: list[str], stdin: bytes | None, out, err) -> int | None:
        """toybox's and Android's commands; None when the phone has no such command."""
        name = argv[0]
        sim = self.sim
        if name == "sh":
            if len(argv) >= 3 and argv[1] == "-c":
                shell = type(self)(sim, out, err, argv[4:])
                shell.arg0 = argv[3] if len(argv) > 3 else "/system/bin/sh"
                shell.io.stdin = stdin
                return shell.run(argv[2])
            err(b"/system/bin/sh: simulator runs only `sh -c SCRIPT [ARG0 ARGS...]`\n")
            return 2
        if name == "taskset":
            try:
                int(argv[1], 16)
            except (IndexError, ValueError):
                err(b"taskset: bad mask\n")
                return 1
            return self.command(argv[2:], IO(stdin, out, err))
        if name == "sleep":
            time.sleep(float(argv[1]))
            return 0
        if name == "date":  # toybox date: only the +FORMAT the host sends (%s seconds, %N nanoseconds)
            fmt = next((a[1:] for a in argv[1:] if a.startswith("+")), None)
            if fmt is None:
                out(time.strftime("%a %b %d %H:%M:%S UTC %Y\n", time.gmtime()).encode())
                return 0
            now = time.time() + getattr(sim, "clock_offset_s", 0.0)
            text = fmt.replace("%s", str(int(now))).replace("%N", f"{int((now % 1) * 1e9):09d}")
            out((text + "\n").encode())
            return 0
        if name == "cat":
            code = 0
            if len(argv) == 1 and stdin is not None:
                out(stdin)
            for f in argv[1:]:
                data = self.read_file(self.abs_path(f))
                if data is None:
                    why = "Is a directory" if self.file_test("-d", self.abs_path(f)) else "No such file or directory"
                    err(f"cat: {f}: {why}\n".encode())  # toybox's wording
                    code = 1
                else:
                    out(data)
            return code
        if name == "ls":  # toybox ls, not a tty: one name per line, operands' files before directories
            paths = [a for a in argv[1:] if not a.startswith("-")] or ["."]
            code, files, dirs = 0, [], []
            for p in paths:
                host = self._host(self.abs_path(p))
                if host is None or not host.exists():
                    err(f"ls: {p}: No such file or directory\n".encode())
                    code = 1
                elif host.is_dir() and "-d" not in argv:
                    dirs.append((p, sorted(c.name for c in host.iterdir())))
                else:
                    files.append(p)
            blocks = ["".join(f"{f}\n" for f in files)] if files else []
            for p, names in dirs:
                head = f"{p}:\n" if len(paths) > 1 else ""
                blocks.append(head + "".join(f"{n}\n" for n in names))
            out("\n".join(blocks).encode())
            return code
        if name == "mkdir":
            for p in (a for a in argv[1:] if not a.startswith("-")):
                sim.path(p).mkdir(parents=True, exist_ok=True)
            return 0
        if name == "rm":
            for p in (a for a in argv[1:] if not a.startswith("-")):
                target = sim.path(p)
                if target.is_file():
                    target.unlink()
            return 0
        if name == "chmod":
            for p in argv[2:]:
                if sim.path(p).exists():
                    sim.path(p).chmod(int(argv[1], 8))
            return 0
        if name == "sha256sum":
            try:
                digest = hashlib.sha256(sim.path(argv[1]).read_bytes()).hexdigest()
            except (OSError, PermissionError):
                err(f"sha256sum: {argv[1]}: No such file or directory\n".encode())
                return 1
            out(f"{digest}  {argv[1]}\n".encode())
            return 0
        if name == "getprop":
            if len(argv) > 1:
                out((sim.props.get(argv[1], "") + "\n").encode())
            else:
                out("".join(f"[{k}]: [{v}]\n" for k, v in sorted(sim.props.items())).encode())
            return 0
        if name == "dumpsys":
            service = argv[1] if len(argv) > 1 else ""
            text = {"battery": sim.battery_text, "thermalservice": sim.thermal_text}.get(service)
            if service in sim.missing_services:
                text = None
            if text is None:
                err(f"Can't find service: {service}\n".encode())
                return 0
            out(text.encode())
            return 0
        if name == "pm":
            return self._pm(argv, out)
        if name == "am":
            return self._am(argv, out, err)
        if "/" in name:
            return self._binary(argv, out, err)
        return None

    def _pm(self, argv: list[str], out) -> int:
        if argv[1:2] == ["path"] and len(argv) > 2:
            if argv[2] in self.sim.installed:
                out(f"package:/data/app/~~sim/{argv[2]}-1/base.apk\n".encode())
                return 0
            return 1
        if argv[1:3] == ["list", "packages"]:
            out("".join(f"package:{p}\n" for p in sorted(self.sim.installed)).encode())
            return 0
        return 1

    def _am(self, argv: list[str], out, err) -> int:
        """`am start -n pkg/act --es/--ei/--ef/--ez ...`; the simulated companion app then writes its
        result JSON where `result_path` says (the app itself is a later issue: this is its contract)."""
        if argv[1:2] == ["force-stop"]:
            return 0
        if argv[1:2] != ["start"]:
            err(b"Error: unknown command\n")
            return 1
        component, extras, i = None, {}, 2
        while i < len(argv):
            a = argv[i]
            if a == "-n":
                component, i = argv[i + 1], i + 2
            elif a in ("--es", "--ei", "--ef", "--ez"):
                conv = {"--es": str, "--ei": int, "--ef": float, "--ez": lambda v: v == "true"}[a]
                extras[argv[i + 1]] = conv(argv[i + 2])
                i += 3
            else:
                i += 1
        pkg = (component or "").split("/")[0]
        if pkg not in self.sim.installed:
            err(f"Error type 3\nError: Activity class {{{component}}} does not exist.\n".encode())
            return 1
        out(f"Starting: Intent {{ cmp={component} (has extras) }}\n".encode())
        if "-W" in argv:
            out(f"Status: ok\nLaunchState: COLD\nActivity: {component}\nTotalTime: 412\nWaitTime: 415\n"
                "Complete\n".encode())
        threading.Timer(self.sim.app_delay_s, self._app_result, args=(extras,)).start()
        return 0

    def _app_result(self, extras: dict) -> None:
        path = extras.get("result_path")
        if not path or self.sim.gone:
            return
        model = extras.get("model", "")
        if not self.sim.path(model).is_file():
            result = {"schema_version": 1, "error": f"cannot open model {model}"}
        else:
            n = int(extras.get("num_runs", 10))
            result = {"schema_version": 1, "runtime": "litert-android", "runtime_version": "sim-1.0",
                      "delegate": extras.get("delegate", "xnnpack"), "threads": extras.get("threads"),
                      "init_us": 41000.0, "latencies_us": [2000.0 + 10.0 * (k % 7) for k in range(n)],
                      "ops_total": 31, "ops_delegated": 31, "peak_rss_mb": 88.5}
        self.sim.write(path, json.dumps(result))

    def _binary(self, argv: list[str], out, err) -> int:
        try:
            p = self.sim.path(argv[0])
            head = p.read_bytes()[:len(BENCH_MARK)] if p.is_file() else None
        except PermissionError:
            head = None
        if head is None:
            err(f"/system/bin/sh: {argv[0]}: inaccessible or not found\n".encode())
            return 127
        if not p.stat().st_mode & stat.S_IXUSR:
            err(f"/system/bin/sh: {argv[0]}: can't execute: Permission denied\n".encode())
            return 126
        if head != BENCH_MARK:
            err(f"/system/bin/sh: {argv[0]}: not executable: magic 7F45\n".encode())
            return 126
        return self._benchmark_model(argv, err)

    def _benchmark_model(self, argv: list[str], err) -> int:
        """Replays a recorded benchmark_model output (to stderr, as TFLITE_LOG writes), pausing where
        the real tool would be measuring."""
        flags = dict(a[2:].split("=", 1) for a in argv[1:] if a.startswith("--") and "=" in a)
        graph = flags.get("graph", "")
        if not graph or not self.sim.path(graph).is_file():
            err(f"ERROR: Failed to mmap model {graph}\n".encode())
            return 1
        name = self.sim.bench_output or ("benchmark_model.android_gpu.txt" if flags.get("use_gpu") == "true"
                                         else "benchmark_model.cpu_profiling.txt")
        lines = (self.sim.outputs / name).read_text().splitlines(keepends=True)
        split = next((i for i, ln in enumerate(lines) if ln.startswith("Running benchmark")), len(lines))
        err("".join(lines[:split]).encode())
        if self.sim.heating is not None:  # a heating phone: runs for --min_secs at its current speed
            seconds = float(flags.get("min_secs") or self.sim.bench_seconds)
            latencies = self.sim.heating.run_for(seconds)
            err(heated_log(lines[split:], latencies).encode())
            return 0
        time.sleep(self.sim.bench_seconds)
        err("".join(lines[split:]).encode())
        return 0


def heated_log(tail: list[str], latencies_us: list[float]) -> str:
    """The recorded log after `Running benchmark`, its timed statistics line replaced by the heating
    phone's own samples, in the newer tool's full form (with p5, median and p95)."""
    import statistics

    lat = sorted(latencies_us)
    n = len(lat)
    stats = (f"count={n} first={int(latencies_us[0])} curr={int(latencies_us[-1])} min={int(lat[0])} "
             f"max={int(lat[-1])} avg={statistics.fmean(lat):g} std={int(statistics.pstdev(lat))} "
             f"p5={int(lat[n // 20])} median={int(lat[n // 2])} p95={int(lat[min(n - 1, n * 19 // 20)])}\n")
    out, done = [], False
    for line in tail:
        if not done and line.startswith("count=") and "avg=" in line:
            out.append(stats)
            done = True
        else:
            out.append(line)
    return "".join(out)
