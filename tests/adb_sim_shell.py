"""The simulated phone's shell: just enough of /system/bin/sh and Android's commands for what the
harness sends. Android commands answer with real recorded outputs where a recording exists
(dumpsys battery, dumpsys thermalservice, benchmark_model); getprop, sysfs and `am`/`pm` answers
follow the real formats with plausible values.
"""
from __future__ import annotations

import hashlib
import json
import shlex
import stat
import threading
import time
from fnmatch import fnmatch
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from tests.adb_sim import AdbSimulator

BENCH_MARK = b"#!sim-benchmark_model\n"  # first bytes of the stand-in binary the tests push


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


class MiniShell:
    """Just enough of /system/bin/sh for the commands the harness sends: `;`, `&&`, `||`,
    `<`/`>` redirects, `2>&1`, `$?`, globs, `sh -c`, `exit N`, and the phone's commands."""

    def __init__(self, sim: "AdbSimulator", out: Callable[[bytes], None], err: Callable[[bytes], None]) -> None:
        self.sim, self.out, self.err = sim, out, err
        self.status = 0

    def run(self, line: str) -> int:
        try:
            return self._run_line(line)
        except _Exit as e:
            return e.code

    def _tokens(self, line: str) -> list[str]:
        lex = shlex.shlex(line, posix=True, punctuation_chars=";&|<>")
        lex.whitespace_split = True
        return list(lex)

    def _run_line(self, line: str) -> int:
        tokens = self._tokens(line)
        command: list[str] = []
        op = ";"
        for tok in tokens + [";"]:
            if tok in (";", "&&", "||"):
                if command:
                    skip = (op == "&&" and self.status != 0) or (op == "||" and self.status == 0)
                    if not skip:
                        self.status = self._simple(command)
                command, op = [], tok
            else:
                command.append(tok)
        return self.status

    def _glob(self, token: str) -> list[str]:
        if not token.startswith("/") or not any(c in token for c in "*?["):
            return [token]
        parts = token.strip("/").split("/")
        found = [self.sim.root.resolve()]
        for part in parts:
            nxt = []
            for base in found:
                if any(c in part for c in "*?["):
                    nxt.extend(sorted(p for p in base.iterdir() if fnmatch(p.name, part))) if base.is_dir() else None
                elif (base / part).exists():
                    nxt.append(base / part)
            found = nxt
        root = self.sim.root.resolve()
        return ["/" + str(p.relative_to(root)) for p in found] or [token]

    def _simple(self, words: list[str]) -> int:
        argv: list[str] = []
        stdin: bytes | None = None
        redirect_out: str | None = None
        merge_err = to_err = False
        i = 0
        while i < len(words):
            w = words[i].replace("$?", str(self.status))
            if w == "<" and i + 1 < len(words):
                try:
                    stdin = self.sim.path(words[i + 1]).read_bytes()
                except OSError:
                    self.err(f"sh: {words[i + 1]}: No such file or directory\n".encode())
                    return 1
                i += 2
                continue
            if w == ">" and i + 1 < len(words):
                if argv and argv[-1] == "2":  # 2> file
                    argv.pop()
                else:
                    redirect_out = words[i + 1]
                i += 2
                continue
            if w == ">&" and i + 1 < len(words) and argv and argv[-1] == "2":
                argv.pop()
                merge_err = words[i + 1] == "1"
                i += 2
                continue
            if w == ">&" and i + 1 < len(words) and words[i + 1] == "2":  # >&2
                to_err = True
                i += 2
                continue
            argv.extend(self._glob(w))
            i += 1
        captured = bytearray()
        out = captured.extend if redirect_out else (self.err if to_err else self.out)
        err = out if merge_err else self.err
        code = self._exec(argv, stdin, out, err)
        if redirect_out:
            self.sim.write(redirect_out, bytes(captured))
        return code

    def _exec(self, argv: list[str], stdin: bytes | None, out, err) -> int:
        name = argv[0]
        sim = self.sim
        if name == "exit":
            raise _Exit(int(argv[1]) if len(argv) > 1 else self.status)
        if name == "sh" and len(argv) >= 3 and argv[1] == "-c":
            return MiniShell(sim, out, err).run(argv[2])
        if name == "taskset":
            int(argv[1], 16)
            return self._exec(argv[2:], stdin, out, err)
        if name == "echo":
            out((" ".join(argv[1:]) + "\n").encode())
            return 0
        if name in ("true", ":"):
            return 0
        if name == "false":
            return 1
        if name == "sleep":
            time.sleep(float(argv[1]))
            return 0
        if name == "cat":
            code = 0
            if len(argv) == 1 and stdin is not None:
                out(stdin)
            for f in argv[1:]:
                try:
                    out(sim.path(f).read_bytes())
                except (OSError, PermissionError):
                    err(f"cat: {f}: No such file or directory\n".encode())
                    code = 1
            return code
        if name == "ls":
            paths = [a for a in argv[1:] if not a.startswith("-")]
            code = 0
            for p in paths:
                if not sim.path(p).exists():
                    err(f"ls: {p}: No such file or directory\n".encode())
                    code = 1
                elif sim.path(p).is_dir() and "-d" not in argv:
                    out("".join(f"{c.name}\n" for c in sorted(sim.path(p).iterdir())).encode())
                else:
                    out(f"{p}\n".encode())
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
            if text is None:
                err(f"Can't find service: {service}\n".encode())
                return 0
            out(text.encode())
            return 0
        if name == "pm":
            return self._pm(argv, out)
        if name == "am":
            return self._am(argv, out, err)
        if name.startswith("/") or name.startswith("./"):
            return self._binary(argv, out, err)
        err(f"/system/bin/sh: {name}: inaccessible or not found\n".encode())
        return 127

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
        time.sleep(self.sim.bench_seconds)
        err("".join(lines[split:]).encode())
        return 0
