#!/usr/bin/env python3
"""On-device benchmark runner for every Linux target: one JSON job in, one JSON result out on stdout.

It imports only the standard library, numpy and a LiteRT interpreter, so the same file can be
pushed to any Linux target (Raspberry Pi, Jetson, an arm64 userland) and run by the local
target as a subprocess. Every latency sample is kept; statistics are computed on the host.

Usage: python3 runner.py --job job.json   (or --job - to read the job from stdin)
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import sys
import time
import traceback

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing; mypy reads the name as True
if TYPE_CHECKING:  # annotations only, never run: a board's bare Python imports nothing here
    from collections.abc import Callable, Iterable, Sequence
    from types import FrameType, ModuleType
    from typing import TypedDict

    class Timing(TypedDict, total=False):
        """The job keys timed_loop reads (every runner in rpi/ shares the loop)."""
        warmup_runs: int
        warmup_s: float
        min_runs: int
        min_s: float
        max_s: float
        max_runs: int
        sample_interval_s: float
        sustained_s: float
        window_s: float

    class Job(Timing, total=False):
        """A runner job: DEFAULT_JOB's keys, the required model_path and the optional sustained keys."""
        model_path: str
        threads: int
        delegate: str
        delegate_library: str | None
        input_shapes: dict[str, list[int]] | None
        seed: int
        thermal_glob: str
        ignore_sensors: list[str]
        cpufreq_glob: str
        op_profiling: bool
        op_profile_runs: int

    class TensorDetail(TypedDict, total=False):
        """One entry of the interpreter's get_input_details() / get_tensor_details()."""
        name: str
        index: int
        shape: Sequence[int]
        shape_signature: Sequence[int]
        dtype: type

    class OpDetail(TypedDict):
        """One node of the interpreter's _get_ops_details()."""
        op_name: str
        index: int
        inputs: Sequence[int]
        outputs: Sequence[int]

    class Interpreter:
        """What the runner uses of a LiteRT / tflite-runtime / tf.lite Interpreter (none of the three ships
        type information)."""
        def get_input_details(self) -> list[TensorDetail]: ...
        def get_tensor_details(self) -> list[TensorDetail]: ...
        def _get_ops_details(self) -> list[OpDetail]: ...
        def resize_tensor_input(self, index: int, shape: list[int]) -> None: ...
        def allocate_tensors(self) -> None: ...
        def set_tensor(self, index: int, value: object) -> None: ...
        def invoke(self) -> None: ...

    Sample = Callable[[str], None]  # sample(phase): one temperature and clock reading
    # (total, idle, steal) CPU seconds, runnable tasks, CPUs, this process's CPU seconds
    Counters = tuple[float, float, float, int | None, int, float]

SCHEMA_VERSION = 4  # kept equal to harness.store.results.SCHEMA_VERSION (a test checks)

DEFAULT_JOB: Job = {
    "threads": 1,
    "delegate": "xnnpack",  # xnnpack (the default CPU delegate) | none (reference kernels) | gpu/nnapi with:
    "delegate_library": None,  # an external delegate's shared library, loaded with load_delegate
    "input_shapes": None,  # {"input_name": [1, 224, 224, 3]} for models with dynamic dims
    "seed": 0,
    "warmup_runs": 1,
    "warmup_s": 0.5,
    "min_runs": 50,
    "min_s": 1.0,
    "max_s": 150.0,
    "max_runs": 0,  # 0: no cap besides max_s
    "sample_interval_s": 0.5,
    "thermal_glob": "/sys/class/thermal/thermal_zone*",
    "ignore_sensors": [],  # zone names (prefixes) that are not temperatures on this board (Jetson PMIC-Die)
    "cpufreq_glob": "/sys/devices/system/cpu/cpu[0-9]*/cpufreq",
    "op_profiling": False,  # a per-op profile pass after the timed runs (litert_profile.py, next to this file)
    "op_profile_runs": 20,
}
# Optional job keys (not in DEFAULT_JOB, so contracts/jobs/basic.json and the apps' job types stay as they are):
# "sustained_s" > 0 is sustained mode (`harness run --sustained`): the timed loop runs that long without
# stopping and records where each "window_s" window ended, [t_s on the sampler's clock, runs done];
# Ctrl-C (SIGINT) or SIGTERM ends it early and the runs so far are the result ("interrupted": true).
# Optional result keys, where the target has /proc/stat: host_others_cpu_pct, host_steal_pct, host_run_queue
# (what else used the target's CPUs during the timed window; the host flags such a row `host busy`).


def interpreter_module() -> tuple[ModuleType, str, str]:
    """The TFLite interpreter module, its package name and version: ai-edge-litert, then tflite-runtime,
    then TensorFlow's own copy. Public so the converters score variants through the same interpreter.

    Raises ImportError naming what to install when none of the three is there.
    """
    try:
        from ai_edge_litert import interpreter as mod

        import ai_edge_litert

        return mod, "ai-edge-litert", getattr(ai_edge_litert, "__version__", "unknown")
    except ImportError:
        pass
    try:
        from tflite_runtime import interpreter as mod

        import tflite_runtime

        return mod, "tflite-runtime", getattr(tflite_runtime, "__version__", "unknown")
    except ImportError:
        pass
    try:
        import tensorflow as tf
    except ImportError:
        raise ImportError(NO_INTERPRETER) from None
    return tf.lite, "tensorflow.lite", tf.__version__


NO_INTERPRETER = ("no TFLite interpreter on this machine: neither ai-edge-litert, tflite-runtime nor tensorflow "
                  "imports (pip install ai-edge-litert numpy)")


def _proc_status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Writing 5 to clear_refs resets VmHWM (Linux >= 4.0), so the peak covers only the model."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _ignored(name: str, ignore: Iterable[str] | None) -> bool:
    upper = name.upper()
    return any(upper.startswith(str(prefix).upper()) for prefix in ignore or ())


def read_thermal_zones(pattern: str, ignore: Iterable[str] | None = ()) -> dict[str, float]:
    """Read every thermal zone as {type: celsius}: the one reader for every Linux target (the host asks
    boards through `runner.py --thermal`). Zones that fail to read are skipped; a second zone of the
    same type is keyed `type:thermal_zoneN`. `ignore` names sensors that are not temperatures (prefixes,
    any case), and sentinels at or below -100 C (-256 C on Jetsons) mean "no reading"."""
    temps: dict[str, float] = {}
    for zone in sorted(glob.glob(pattern)):
        try:
            with open(os.path.join(zone, "temp")) as fh:
                raw = fh.read().strip()
            try:
                with open(os.path.join(zone, "type")) as fh:
                    name = fh.read().strip()
            except OSError:
                name = os.path.basename(zone)
            value = float(raw)
        except (OSError, ValueError):
            continue
        # Kernels report millidegrees; a few report degrees. -256 C style sentinels are dropped.
        celsius = value / 1000.0 if abs(value) > 200 else value
        if celsius <= -100 or _ignored(name, ignore):
            continue
        key = name if name not in temps else f"{name}:{os.path.basename(zone)}"
        temps[key] = round(celsius, 2)
    return temps


def read_cpufreq(pattern: str) -> dict[str, dict[str, int]]:
    """{cpuN: {"cur": MHz, "max": MHz}} from cpufreq sysfs (scaling_cur_freq, scaling_max_freq in kHz);
    empty where the kernel exposes no cpufreq (containers, some VMs)."""
    out: dict[str, dict[str, int]] = {}
    for policy in sorted(glob.glob(pattern)):
        cur = _read_first(os.path.join(policy, "scaling_cur_freq"))
        if not cur or not cur.isdigit():
            continue
        entry = {"cur": int(cur) // 1000}
        cap = _read_first(os.path.join(policy, "scaling_max_freq"))
        if cap and cap.isdigit():
            entry["max"] = int(cap) // 1000
        name = os.path.basename(os.path.dirname(policy.rstrip("/"))) or policy
        out[name if name not in out else policy] = entry
    return out


def run_sampler(thermal_glob: str, ignore: Iterable[str] | None = (), cpufreq_glob: str | None = None,
                origin: float | None = None) -> tuple[Sample, list[list[object]], list[list[object]]]:
    """A `sample(phase)` function and the two lists it fills: [t_s, phase, {zone: C}] temperatures and
    [t_s, phase, {cpu: {cur, max}}] clocks, so the host sees a clock that fell during the run.
    `origin` (time.monotonic()) is t = 0; the timed loop's sustained windows use the same one."""
    t_origin = time.monotonic() if origin is None else origin
    temps: list[list[object]] = []
    freqs: list[list[object]] = []

    def sample(phase: str) -> None:
        t = round(time.monotonic() - t_origin, 3)
        reading = read_thermal_zones(thermal_glob, ignore) if thermal_glob else {}
        if reading:
            temps.append([t, phase, reading])
        clocks = read_cpufreq(cpufreq_glob) if cpufreq_glob else {}
        if clocks:
            freqs.append([t, phase, clocks])

    return sample, temps, freqs


def thermal_sampler(pattern: str, ignore: Iterable[str] | None = ()) -> tuple[Sample, list[list[object]]]:
    """A `sample(phase)` function and the list it fills with [t_s, phase, {zone: C}] readings."""
    sample, temps, _ = run_sampler(pattern, ignore)
    return sample, temps


def delegated_ops(ops: Sequence[OpDetail]) -> tuple[int, int, list[str]]:
    """Count original ops and those a delegate replaced, from the interpreter's node list.

    Delegate kernels appear as extra DELEGATE nodes; an original op is delegated when it lies
    between a DELEGATE node's input and output tensors.
    """
    original = [op for op in ops if op["op_name"] != "DELEGATE"]
    delegates = [op for op in ops if op["op_name"] == "DELEGATE"]
    producer: dict[int, OpDetail] = {}
    for op in original:
        for t in op["outputs"]:
            producer[int(t)] = op
    taken: dict[int, OpDetail] = {}
    for d in delegates:
        boundary = {int(t) for t in d["inputs"]}
        stack = [int(t) for t in d["outputs"]]
        seen: set[int] = set()
        while stack:
            t = stack.pop()
            if t in seen or t in boundary or t not in producer:
                continue
            seen.add(t)
            op = producer[t]
            taken[op["index"]] = op
            stack.extend(int(i) for i in op["inputs"] if int(i) >= 0)
    cpu_ops = sorted({op["op_name"] for op in original if op["index"] not in taken})
    return len(taken), len(original), cpu_ops


def _make_inputs(interp: Interpreter, seed: int, np: ModuleType) -> None:
    rng = np.random.default_rng(seed)
    for detail in interp.get_input_details():
        shape = [int(s) for s in detail["shape"]]
        dtype = detail["dtype"]
        if np.issubdtype(dtype, np.floating):
            data = rng.random(shape, dtype=np.float32).astype(dtype)
        elif np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            lo, hi = max(info.min, -128), min(info.max, 255)
            data = rng.integers(lo, hi + 1, size=shape).astype(dtype)
        elif dtype == np.bool_:
            data = rng.random(shape) > 0.5
        else:
            raise ValueError(f"unsupported input dtype {dtype} for {detail['name']}")
        interp.set_tensor(detail["index"], data)


class _Stop(Exception):
    """SIGTERM in a sustained loop: end it like Ctrl-C, keeping the runs measured so far."""


def _stop_on_term(signum: int, frame: FrameType | None) -> None:
    raise _Stop()


def cpu_counters(text: str | None = None, own_s: float | None = None, tick: int | None = None) -> Counters | None:
    """(total, idle, steal) CPU seconds summed over all CPUs from /proc/stat, runnable tasks, CPUs, and this
    process's own CPU seconds (all its threads); None where there is no /proc/stat (macOS, iOS).
    `text`, `own_s` and `tick` are for tests (a recorded /proc/stat)."""
    import resource

    if text is None:
        try:
            with open("/proc/stat") as f:
                text = f.read()
        except OSError:
            return None
    if tick is None:
        tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = idle = steal = 0.0
    running: int | None = None
    cpus = 0
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0] == "cpu":
            # guest and guest_nice are already counted in user and nice: only the first eight fields.
            vals = [float(x) for x in parts[1:9]] + [0.0] * max(0, 8 - len(parts[1:9]))
            total, idle, steal = sum(vals) / tick, (vals[3] + vals[4]) / tick, vals[7] / tick
        elif parts and parts[0].startswith("cpu") and parts[0][3:].isdigit():
            cpus += 1
        elif len(parts) > 1 and parts[0] == "procs_running" and parts[1].isdigit():
            running = int(parts[1])
    if own_s is None:
        me = resource.getrusage(resource.RUSAGE_SELF)
        own_s = me.ru_utime + me.ru_stime
    return total, idle, steal, running, max(cpus, 1), own_s


def host_cpu_during(before: Counters | None, after: Counters | None) -> dict[str, float | int | None]:
    """What else used this machine's CPUs during the timed window (harness.orchestration.hostload reads
    the same /proc/stat fields on the host): other processes' busy time as a share of all CPUs' time, the
    hypervisor's steal, and the runnable tasks at the end (this runner's included)."""
    if before is None or after is None or after[0] <= before[0]:
        return {}
    total = after[0] - before[0]
    steal = after[2] - before[2]
    busy = total - (after[1] - before[1]) - steal
    others = max(0.0, min(1.0, (busy - (after[5] - before[5])) / total))
    return {"host_others_cpu_pct": round(100 * others, 1),
            "host_steal_pct": round(100 * max(0.0, min(1.0, steal / total)), 1),
            "host_run_queue": after[3]}


def timed_loop(invoke: Callable[[], object], cfg: Timing, sample: Sample | None = None,
               origin: float | None = None) -> dict[str, object]:
    """First inference, warm-up, then every invoke() timed until min runs and min seconds are both met
    (or max seconds / max runs is hit), as benchmark_model does. Shared by every runner in rpi/.

    `sample(phase)` is called about every `sample_interval_s` while timing (temperatures, between
    invokes, never inside a timed call). Returns the result fields it measured.

    With `sustained_s` > 0 the loop runs that long (min and max seconds both), samples at the end of
    each `window_s` window and records it in "windows"; Ctrl-C or SIGTERM ends it with what was measured.
    """
    sustained = float(cfg.get("sustained_s") or 0)
    if sustained > 0:
        return _sustained_loop(invoke, cfg, sample, origin, sustained)
    out: dict[str, object] = {}
    clock = time.perf_counter_ns
    t0 = clock()
    invoke()
    out["first_inference_us"] = (clock() - t0) / 1000.0

    # Warm-up is bounded by max_s too: `--warmup-runs 1e9` must not outlast the window the user allowed.
    warm_start = time.monotonic()
    warm_cap = warm_start + float(cfg["max_s"])
    warm_end = min(warm_start + float(cfg["warmup_s"]), warm_cap)
    warm = 0
    while (warm < int(cfg["warmup_runs"]) or time.monotonic() < warm_end) and time.monotonic() < warm_cap:
        invoke()
        warm += 1
    out["warmup_runs_done"] = warm

    min_runs, min_s, max_s = int(cfg["min_runs"]), float(cfg["min_s"]), float(cfg["max_s"])
    max_runs, interval = int(cfg["max_runs"]), float(cfg["sample_interval_s"])
    samples: list[float] = []
    cpu_before = cpu_counters()
    wall_start = time.time()
    start = time.monotonic()
    next_sample = start + interval
    while True:
        t0 = clock()
        invoke()
        samples.append((clock() - t0) / 1000.0)
        now = time.monotonic()
        if sample is not None and now >= next_sample:
            sample("run")
            next_sample = now + interval
        elapsed = now - start
        if len(samples) >= min_runs and elapsed >= min_s:
            break
        if elapsed >= max_s or (max_runs and len(samples) >= max_runs):
            break
    out["duration_s"] = round(time.monotonic() - start, 6)
    out["timed_window_unix_s"] = [round(wall_start, 6), round(time.time(), 6)]  # the host keeps power in it
    out["latencies_us"] = [round(x, 3) for x in samples]
    out.update(host_cpu_during(cpu_before, cpu_counters()))
    return out


def _sustained_loop(invoke: Callable[[], object], cfg: Timing, sample: Sample | None, origin: float | None,
                    sustained: float) -> dict[str, object]:
    """The timed loop of sustained mode: no warm-up beyond the first inference (the cold start is what
    it measures), `sustained` seconds of back-to-back invokes, a window boundary every `window_s`."""
    import signal

    out: dict[str, object] = {}
    clock = time.perf_counter_ns
    window = float(cfg.get("window_s") or 0) or max(sustained / 20.0, 0.5)
    interval = float(cfg["sample_interval_s"])
    t0 = clock()
    invoke()
    out["first_inference_us"] = (clock() - t0) / 1000.0
    out["warmup_runs_done"] = 0
    samples: list[float] = []
    windows: list[list[float]] = []
    base = time.monotonic() if origin is None else origin
    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, _stop_on_term)
    except ValueError:  # not the main thread: SIGTERM then ends the process as usual
        pass
    cpu_before = cpu_counters()
    wall_start = time.time()
    start = time.monotonic()
    next_sample, next_window = start + interval, start + window
    interrupted = False
    try:
        while True:
            t0 = clock()
            invoke()
            samples.append((clock() - t0) / 1000.0)
            now = time.monotonic()
            if now >= next_window or now - start >= sustained:
                if sample is not None:
                    sample("run")
                windows.append([round(now - base, 3), len(samples)])
                next_window, next_sample = now + window, now + interval
            elif sample is not None and now >= next_sample:
                sample("run")
                next_sample = now + interval
            if now - start >= sustained:
                break
    except (KeyboardInterrupt, _Stop):
        interrupted = True
        now = time.monotonic()
        if not windows or windows[-1][1] != len(samples):
            windows.append([round(now - base, 3), len(samples)])
    finally:
        if interrupted and previous is not None:  # a second signal (Ctrl-C and the host's SIGTERM) must
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # not cut the result short while it is printed
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        elif previous is not None:
            signal.signal(signal.SIGTERM, previous)
    out["duration_s"] = round(time.monotonic() - start, 6)
    out["timed_window_unix_s"] = [round(wall_start, 6), round(time.time(), 6)]
    out["latencies_us"] = [round(x, 3) for x in samples]
    out["sustained_s"] = sustained
    out["window_s"] = window
    out["windows"] = windows
    out["timed_start_s"] = round(start - base, 3)
    out["interrupted"] = interrupted
    out.update(host_cpu_during(cpu_before, cpu_counters()))
    return out


def _load_delegate(mod: ModuleType, library: str) -> object:
    """The interpreter module's load_delegate (TensorFlow keeps it under lite.experimental)."""
    load = getattr(mod, "load_delegate", None) or getattr(getattr(mod, "experimental", None), "load_delegate", None)
    if load is None:
        raise RuntimeError("this interpreter cannot load external delegates (no load_delegate)")
    try:
        return load(library)
    except (ValueError, OSError, RuntimeError) as exc:
        raise RuntimeError(f"delegate_library {library}: could not load: {str(exc).strip()[:300]}") from None


def run_job(job: Job) -> dict[str, object]:
    """Load the model, warm up, time every invoke(), sample temperatures and clocks; return the result dict."""
    import numpy as np

    cfg: Job = {**DEFAULT_JOB, **job}
    requested, library = cfg["delegate"], cfg.get("delegate_library")
    if requested not in ("xnnpack", "none") and not library:
        raise ValueError(f"delegate {requested} needs delegate_library (its shared library); without one this "
                         "runner has only xnnpack and none, and would run on the CPU")
    mod, runtime, version = interpreter_module()
    result: dict[str, object] = {
        "schema_version": SCHEMA_VERSION,
        "runtime": runtime,
        "runtime_version": version,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "model_path": cfg["model_path"],
        "threads": cfg["threads"],
        "delegate_requested": requested,
        "delegate": None,  # filled below with what actually ran
        "error": None,
    }
    pattern = cfg["thermal_glob"]
    origin = time.monotonic()
    sample, temps, freqs = run_sampler(pattern, cfg.get("ignore_sensors") or (), cfg.get("cpufreq_glob"), origin)

    sample("before")
    rss_reset = _reset_peak_rss()
    rss_base_kb = _proc_status_kb("VmRSS")

    kwargs: dict[str, object] = {"model_path": cfg["model_path"], "num_threads": int(cfg["threads"])}
    if requested == "none" and hasattr(mod, "OpResolverType"):
        kwargs["experimental_op_resolver_type"] = mod.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    if library:
        kwargs["experimental_delegates"] = [_load_delegate(mod, library)]
    t0 = time.perf_counter_ns()
    interp: Interpreter = mod.Interpreter(**kwargs)
    for name, shape in (cfg.get("input_shapes") or {}).items():
        for detail in interp.get_input_details():
            if detail["name"] == name:
                interp.resize_tensor_input(detail["index"], shape)
    interp.allocate_tensors()
    result["init_us"] = (time.perf_counter_ns() - t0) / 1000.0
    for detail in interp.get_input_details():  # a dynamic dimension would be run at size 1: not this model
        sig = detail.get("shape_signature")
        if sig is not None and any(int(x) < 0 for x in list(sig)[1:]) and \
                detail["name"] not in (cfg.get("input_shapes") or {}):
            raise ValueError(f"input {detail['name']!r} has a dynamic shape {[int(x) for x in sig]}; "
                             "give input_shapes or export the model with a fixed shape")
    try:
        n_taken, n_ops, cpu_ops = delegated_ops(interp._get_ops_details())
    except Exception:  # private API: absent in some runtimes
        n_taken, n_ops, cpu_ops = None, None, []
    # The delegate that ran, read from the graph: a delegate that took no op is not named as running.
    if requested == "none":
        ran = "none"
    elif library:
        if n_taken == 0:
            raise RuntimeError(f"delegate_library {library} took none of the model's {n_ops} ops: "
                               "that would be a CPU run under the delegate's name")
        ran = f"external:{os.path.basename(library)}"
    else:
        ran = "none" if n_taken == 0 else "xnnpack"
    result["delegate"] = ran
    if library:
        result["delegate_library"] = library
    result["ops_total"] = n_ops
    result["ops_delegated"] = n_taken if requested != "none" else 0
    result["ops_on_cpu_kernels"] = cpu_ops
    result["inputs"] = [
        {"name": d["name"], "shape": [int(s) for s in d["shape"]], "dtype": np.dtype(d["dtype"]).name}
        for d in interp.get_input_details()
    ]
    _make_inputs(interp, int(cfg["seed"]), np)

    sampling = pattern or cfg.get("cpufreq_glob")
    try:
        result.update(timed_loop(interp.invoke, cfg, sample if sampling else None, origin))
    finally:
        sample("after")

    hwm_kb = _proc_status_kb("VmHWM")
    end_kb = _proc_status_kb("VmRSS")
    if rss_reset and hwm_kb is not None and rss_base_kb is not None:
        result["peak_rss_delta_mb"] = round((hwm_kb - rss_base_kb) / 1024.0, 3)
    else:
        result["peak_rss_delta_mb"] = None
    result["peak_rss_mb"] = round(hwm_kb / 1024.0, 3) if hwm_kb is not None else None
    result["end_rss_mb"] = round(end_kb / 1024.0, 3) if end_kb is not None else None
    result["temperatures"] = temps
    result["cpu_freq"] = freqs
    if cfg.get("op_profiling") and not result.get("interrupted"):
        result.update(op_profile_pass(cfg, interp, ran))
    return result


def op_profile_pass(cfg: Job, interp: Interpreter, ran: str) -> dict[str, object]:
    """The per-op profile, in a child process (litert_profile.py next to this file) after the timed runs
    and memory readings: its time never mixes with the latency samples, and a crash there loses nothing
    measured here. Returns {"op_profile": ...} or {"op_profile_error": "one line"}."""
    import subprocess

    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "litert_profile.py")
    if not os.path.isfile(script):
        return {"op_profile_error": "no per-op profile: litert_profile.py is not next to runner.py"}
    try:
        nodes = [o for o in sorted(interp._get_ops_details(), key=lambda o: o["index"]) if o["op_name"] != "DELEGATE"]
        tensors = {t["index"]: t["name"] for t in interp.get_tensor_details()}
        ops = [o["op_name"] for o in nodes]
        names = [tensors.get(int(o["outputs"][0]), "").split(";")[0] if len(o["outputs"]) else "" for o in nodes]
    except Exception:  # private API: absent in some runtimes; the kernels then keep their own names
        ops, names = None, None
    budget = min(float(cfg["max_s"]), 60.0)  # profiled runs stop here (after one at least), within timeout_s
    job = {"model_path": cfg["model_path"], "threads": cfg["threads"], "delegate": ran, "seed": cfg["seed"],
           "runs": cfg["op_profile_runs"], "max_s": budget, "tflite_ops": ops, "tflite_names": names,
           "input_shapes": {d["name"]: [int(x) for x in d["shape"]] for d in interp.get_input_details()}}
    try:
        res = subprocess.run([sys.executable, script, "--job", "-"], input=json.dumps(job), capture_output=True,
                             text=True, timeout=budget + 60)
    except subprocess.TimeoutExpired:
        return {"op_profile_error": f"no per-op profile: the profile pass ran past {budget + 60:.0f} s"}
    for line in reversed(res.stdout.strip().splitlines()):
        if line.startswith("{"):
            try:
                parsed = json.loads(line)
            except json.JSONDecodeError:
                break
            if isinstance(parsed, dict):  # a line that starts with "{" and parses is an object
                return parsed
            break
    # Its stderr is LiteRT's INFO log, not a reason: the exit status says what happened (-11: a crash).
    return {"op_profile_error": f"no per-op profile: the profile pass exited {res.returncode} without a result"}


def _read_first(path: str) -> str | None:
    try:
        with open(path) as fh:
            return fh.read().strip().strip("\x00")
    except OSError:
        return None


def machine_facts() -> dict[str, object]:
    """What `harness devices` shows: OS, CPU, cores, memory, thermal zones, runtime versions."""
    facts: dict[str, object] = {
        "schema_version": SCHEMA_VERSION,
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cores": os.cpu_count(),
    }
    cpu_model = None
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key = line.split(":")[0].strip().lower()
                if key in ("model name", "hardware", "cpu model") and ":" in line:
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    facts["cpu"] = cpu_model or platform.processor() or platform.machine()
    facts["board"] = _read_first("/proc/device-tree/model")
    mem_kb = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    mem_kb = int(line.split()[1])
    except OSError:
        pass
    facts["memory_mb"] = round(mem_kb / 1024) if mem_kb else None
    facts["thermal_zones"] = read_thermal_zones(DEFAULT_JOB["thermal_glob"])
    freqs: dict[str, int] = {}
    for path in sorted(glob.glob("/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_cur_freq")):
        value = _read_first(path)
        if value and value.isdigit():
            freqs[path.split("/")[5]] = int(value) // 1000
    facts["cpu_freq_mhz"] = freqs
    # Empty is said with its reason, never filled in: a virtual machine has no thermal zones and no cpufreq.
    missing: dict[str, str] = {}
    if not facts["thermal_zones"]:
        zones = glob.glob(DEFAULT_JOB["thermal_glob"])
        missing["thermal_zones"] = (f"{len(zones)} thermal zone(s) under /sys/class/thermal, none readable" if zones
                                    else "no thermal zone under /sys/class/thermal: this kernel reads no "
                                         "temperature sensor here (virtual machines and containers have none)")
    if not freqs:
        missing["cpu_freq_mhz"] = ("no /sys/devices/system/cpu/cpu*/cpufreq: no cpufreq driver on this machine "
                                   "(virtual machines and containers have none), so clocks are not read")
    if missing:
        facts["missing"] = missing
    try:
        import numpy

        facts["numpy"] = numpy.__version__
    except ImportError:
        facts["numpy"] = None
    try:
        _, runtime, version = interpreter_module()
        facts["runtime"], facts["runtime_version"] = runtime, version
    except ImportError as exc:
        facts["runtime"], facts["runtime_version"] = None, f"missing: {exc}"
    return facts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", help="path to a JSON job, or - for stdin")
    parser.add_argument("--facts", action="store_true", help="print this machine's facts as JSON")
    parser.add_argument("--thermal", action="store_true", help="print {zone: C} as JSON (the host's reader)")
    parser.add_argument("--thermal-glob", default=DEFAULT_JOB["thermal_glob"])
    parser.add_argument("--ignore-sensor", action="append", default=[], help="a zone that is not a temperature")
    args = parser.parse_args(argv)
    if args.facts:
        sys.stdout.write(json.dumps(machine_facts()) + "\n")
        return 0
    if args.thermal:
        sys.stdout.write(json.dumps(read_thermal_zones(args.thermal_glob, args.ignore_sensor)) + "\n")
        return 0
    if not args.job:
        parser.error("--job is required")
    try:
        text = sys.stdin.read() if args.job == "-" else open(args.job).read()
        job = json.loads(text)
        if "model_path" not in job:
            raise ValueError("job has no model_path")
        out = run_job(job)
        code = 0
    except Exception as exc:  # the host turns this into a result row with its error
        out = {
            "schema_version": SCHEMA_VERSION,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(limit=5),
        }
        code = 3
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
