"""A lab host in the farm: it joins the Ray cluster as a node with one `device:<name>` resource per
device it owns, tells the registry its devices and their facts, and runs the coordinator's jobs
(DeviceWorker actors, one per device) with the device's transport on this host.
"""
from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, cast

from errors import UserError
from harness.farm.cluster import (
    AGENT_MARK,
    NAMESPACE,
    PROTOCOL,
    device_resource,
    harness_version,
    is_loopback,
    node_labels,
    ray_nodes,
    registry,
    shown,
)
from harness.farm.node import NO_LOG_MONITOR, last_error, ray_cli, start_failed, start_node, stop_node
from harness.farm.shapes import AgentEntry, Artifact, DeviceSpec, Facts, WorkerHandle, WorkerStatus

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from types import ModuleType

    from devices.job import RawRun
    from harness.planning.config import DevicesFile

FACTS_TIMEOUT_S = 30.0
# A device's facts (OS, runtime versions, memory) are read again before a job once they are this old, so a
# phone updated or a board re-flashed while its agent serves shows in the next rows, not only after a rejoin
# ($HARNESS_FARM_FACTS_MAX_AGE_S on the agent moves it; 0: before every job).
FACTS_MAX_AGE_S = 600.0


def facts_max_age_s() -> float:
    try:
        return max(0.0, float(os.environ.get("HARNESS_FARM_FACTS_MAX_AGE_S", FACTS_MAX_AGE_S)))
    except ValueError:
        return FACTS_MAX_AGE_S
SETTLE_S = 45.0  # how long a joining agent waits for a stopped namesake's node (same host) to leave
REGISTERED_CHECK_S = 10.0  # how often a serving agent checks that the registry still has its entry
def artifact_dir() -> Path:
    """Where an agent keeps artifacts by content hash, across runs and nights."""
    if os.environ.get("HARNESS_FARM_CACHE"):
        return Path(os.environ["HARNESS_FARM_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "harness" / "farm-artifacts"


class DeviceWorker:
    """A device's worker on the agent that owns it: a detached Ray actor started at join, holding the
    device's `device:<name>` unit for as long as the agent serves it. The device's transport (local,
    ssh, adb) lives here; its lock makes one job at a time, whichever coordinator asks. Kept across
    runs, so a run pays no worker start-up."""

    def __init__(self, device: DeviceSpec, cache_dir: str | None = None) -> None:
        from devices.registry import build_target
        from harness.planning.config import parse_devices

        self.config = parse_devices({"devices": [device]}, "farm job").devices[0]
        self.cache = Path(cache_dir) if cache_dir else artifact_dir()
        self.target = build_target(self.config)
        self._job = threading.Lock()
        self._facts: Facts | None = None
        self._facts_at = 0.0
        self._facts_max_age_s = facts_max_age_s()

    def host(self) -> str:
        return platform.node()

    def status(self) -> WorkerStatus:
        """Answers at once, even while a job runs (the actor has threads for this)."""
        return {"busy": self._job.locked(), "host": platform.node()}

    def facts(self) -> Facts:
        facts: Facts = dict(self.target.facts(), checked_at_unix_s=round(time.time(), 3))
        self._facts, self._facts_at = facts, time.monotonic()
        return facts

    def _fresh_facts(self) -> Facts | None:
        """The facts as of at most the max age ago, read again here (before the job, under its lock) if older.
        A device whose facts were never read (its join could not) is not asked before every job: a device
        that hangs would spend its job's time budget on them. One that cannot say them now still runs its job."""
        if self._facts is None:
            return None
        if time.monotonic() - self._facts_at > self._facts_max_age_s:
            try:
                self.facts()
            except Exception as exc:
                why = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
                self._facts = {"status": "unreachable", "error": why, "checked_at_unix_s": round(time.time(), 3)}
                self._facts_at = time.monotonic()
        return {"status": "ok", **self._facts}

    def prepare(self) -> None:
        with self._job:
            self.target.prepare()

    def has(self, sha: str) -> bool:
        folder = self._path(sha, "").parent
        return folder.is_dir() and any(not p.name.startswith(".") for p in folder.iterdir())

    def _path(self, sha: str, name: str) -> Path:
        return self.cache / sha[:2] / sha / (Path(name).name or "artifact")

    def _artifact(self, item: Artifact) -> Path:
        """The artifact (a file, or a folder sent as a tar) from this host's cache, or fetched once
        from the object store, checked against its hash and kept."""
        import hashlib
        import io
        import tarfile

        import ray

        sha, name = item["sha"], item["name"]
        path = self._path(sha, name)
        if path.exists():
            return path
        folder = path.parent
        existing = [p for p in folder.iterdir() if not p.name.startswith(".")] if folder.is_dir() else []
        if existing:  # the same bytes under another name: reuse them
            return existing[0]
        if not item["blob"]:
            raise RuntimeError(f"artifact {sha[:12]} is neither cached on {platform.node()} nor sent")
        data = ray.get(item["blob"][0])
        if hashlib.sha256(data).hexdigest() != sha:
            raise RuntimeError(f"artifact {sha[:12]} arrived corrupted on {platform.node()}")
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{os.getpid()}-{threading.get_ident()}.part"
        if item.get("dir"):
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                tar.extractall(tmp, filter="data")  # no absolute paths, links out or devices
        else:
            tmp.write_bytes(data)
        os.replace(tmp, path)
        return path

    def benchmark(self, model: Artifact, companions: dict[str, Artifact],
                  origins: dict[str, Mapping[str, object]], bench: dict[str, object],
                  input_shapes: dict[str, list[int]] | None, seed: int) -> RawRun:
        """One job; the target's own timeout (bench.timeout_s) bounds it here, on the agent."""
        from devices.target import JobSpec
        from harness.planning.config import BenchSettings

        path = self._artifact(model)
        extra = {kind: self._artifact(item) for kind, item in companions.items()}
        with self._job:
            facts = self._fresh_facts()
            raw = self.target.benchmark(JobSpec(model_path=path, bench=BenchSettings.model_validate(bench),
                                                input_shapes=input_shapes, seed=seed, companions=extra,
                                                companion_origins=origins))
        if facts is not None:
            raw.extra = {**raw.extra, "device_facts": facts}  # as of this job, not as of the agent's join
        return raw

    def cool_down(self, bench: dict[str, object]) -> float:
        from harness.planning.config import BenchSettings

        with self._job:
            return self.target.cool_down(BenchSettings.model_validate(bench))

    def temperatures(self) -> dict[str, float]:
        with self._job:
            return self.target.temperatures()

    def close(self) -> None:
        self.target.close()


def worker_name(device: str) -> str:
    return f"harness-device:{device}"


def spawn_worker(device: DeviceSpec, node_id: str) -> WorkerHandle:
    """The device's worker on its agent's node, or the one already there (named, detached)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    name = str(device["name"])
    handle = ray.remote(DeviceWorker).options(
        name=worker_name(name), namespace=NAMESPACE, lifetime="detached", get_if_exists=True,
        num_cpus=0, resources={device_resource(name): 1}, max_concurrency=4, max_restarts=0,
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
    ).remote(device)
    # (Ray types a handle's methods as Never: WorkerHandle says which calls it answers, with their types)
    return cast(WorkerHandle, handle)


def device_facts(workers: dict[str, WorkerHandle], timeout_s: float = FACTS_TIMEOUT_S) -> dict[str, Facts]:
    """`harness devices` for this agent's devices, asked of their workers at once and bounded:
    a device that does not answer in time is unreachable."""
    import ray

    refs = {name: w.facts.remote() for name, w in workers.items()}
    ray.wait([*refs.values()], num_returns=len(refs), timeout=timeout_s)
    out: dict[str, Facts] = {}
    for name, ref in refs.items():
        try:
            said = ray.get(ref, timeout=0)
            out[name] = {"status": "ok", **said}
        except ray.exceptions.GetTimeoutError:
            out[name] = {"status": "unreachable", "error": f"no facts within {timeout_s:.0f} s"}
        except Exception as exc:
            cause = getattr(exc, "cause", None) or exc
            out[name] = {"status": "unreachable",
                         "error": (str(cause).strip().splitlines() or [type(cause).__name__])[0][:300]}
    return out


def announce(devices_file: DevicesFile, name: str, node_id: str, *, facts: bool = True,
             version: str | None = None, settle_s: float = 0.0) -> AgentEntry:
    """Tell the registry which devices this agent's node serves; a refusal is a UserError."""
    import ray

    enabled = devices_file.enabled
    entry: AgentEntry = {
        "name": name,
        "node_id": node_id,
        "hostname": platform.node(),
        "devices": {d.name: d.model_dump(mode="json") for d in enabled},
        "facts": {},
        "harness_version": version or harness_version(),
        "protocol": PROTOCOL,
        "ray_version": ray.__version__,
        "pid": os.getpid(),
        "pid_started": process_started(os.getpid()),
    }
    reg = registry()
    deadline = time.monotonic() + settle_s
    while True:
        refusal = ray.get(reg.register.remote(entry))  # first: a refused device gets no worker
        # The same name on this very host: a service manager's stop-then-start, where the stopped agent's
        # node leaves within Ray's health-check time. A namesake on another host is refused at once.
        if not refusal or "already joined" not in refusal or time.monotonic() > deadline:
            break
        # (a namesake that said it stopped is still waited for: its node and workers are on their way out)
        namesake = [e for e in ray.get(reg.agents.remote())
                    if e["name"] == name and e["node_id"] != node_id and (e["alive"] or e.get("stopped_at"))]
        if not namesake or namesake[0].get("hostname") != platform.node() or serving_here(namesake[0]):
            break
        time.sleep(1.0)
    if refusal:
        raise UserError(f"agent {shown(name)}: {refusal}")
    workers = _workers_up(entry["devices"], node_id, name)
    if facts:
        entry["facts"] = device_facts(workers)
        ray.get(reg.register.remote(entry))
    return entry


def process_started(pid: int) -> int | None:
    """When this host's process `pid` started (clock ticks since boot, /proc/PID/stat): with the pid, it names one
    process, where a pid alone may since have been given to another. None where there is no such process or no
    /proc (not Linux)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def serving_here(entry: AgentEntry) -> bool:
    """Whether a namesake's agent process still runs on this host and has not said it stopped: it serves, so a
    second agent of its name is refused at once. A namesake that stopped (SIGTERM), or whose process is gone
    (SIGKILL: its node leaves within Ray's health checks), or that did not say its process (an older agent), is
    waited for up to SETTLE_S, as a service manager's restart needs; a live one was waited for too, 45 s for
    nothing before its refusal."""
    pid, started = entry.get("pid"), entry.get("pid_started")
    if entry.get("stopped_at") or not entry.get("alive") or not pid or started is None:
        return False
    return process_started(pid) == started


def _workers_up(devices: dict[str, DeviceSpec], node_id: str, name: str,
                timeout_s: float = 300.0) -> dict[str, WorkerHandle]:
    """The devices' workers, up on this node. A worker of the same name may still be the one of a namesake agent
    stopped a moment ago (a service manager's stop-then-start): its node has left, and Ray frees the name only
    once the actor's death is processed; until then the handle answers with RayActorError, so ask again."""
    import ray

    deadline = time.monotonic() + timeout_s
    while True:
        workers = {n: spawn_worker(d, node_id) for n, d in devices.items()}
        try:
            ray.get([w.host.remote() for w in workers.values()], timeout=max(1.0, deadline - time.monotonic()))
            return workers
        except ray.exceptions.GetTimeoutError:
            raise UserError(f"agent {shown(name)}: the device workers did not start within {timeout_s:.0f} s") from None
        except ray.exceptions.RayActorError as exc:
            if time.monotonic() > deadline:
                raise UserError(f"agent {shown(name)}: a device worker did not start: {type(exc).__name__}") from None
            time.sleep(1.0)


def node_resources(devices_file: DevicesFile) -> dict[str, float]:
    return {device_resource(d.name): 1.0 for d in devices_file.enabled}


def _wait_for_node(name: str, mark: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float) -> str:
    """This agent's own node, found by the one-off resource it started with: never another agent's node
    that happens to carry the same name (that agent is then refused at announce, not silently replaced)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise UserError(f"agent {shown(name)}: {start_failed(log)}")
        for n in ray_nodes():
            if n.get("Alive") and mark in (n.get("Resources") or {}):
                return str(n["NodeID"])
        time.sleep(0.5)
    raise UserError(f"agent {shown(name)}: the node did not join within {timeout_s:.0f} s: {last_error(log)}")


def _connect_when_up(address: str, name: str, proc: subprocess.Popen[bytes], log: Path,
                     timeout_s: float) -> ModuleType:
    """A driver needs a raylet on its own host: on a lab host that is the node `ray start` is starting."""
    from harness.farm.cluster import TOKEN_REFUSED, connect

    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise UserError(f"agent {shown(name)}: {start_failed(log)}")
        try:
            return connect(address, "--address")
        except UserError as exc:
            import ray

            ray.shutdown()
            if time.monotonic() > deadline or TOKEN_REFUSED in str(exc):
                raise
            time.sleep(1.0)


def run_agent(devices_file: DevicesFile, address: str, *, name: str, num_cpus: int = 1, node_ip: str | None = None,
              object_store_mb: int = 100, extra_args: list[str] | None = None,
              out: Callable[..., None] = print) -> int:
    """`harness agent`: start this host's node, announce it, serve until stopped (Ctrl-C or SIGTERM)."""
    from harness.farm.cluster import NO_TOKEN, TOKEN_REFUSED, check_ray_head, have_token, secure_env, token_refused

    target = check_ray_head(address, "--address")
    secure_env()  # for this process and the `ray start` below
    if not have_token():
        raise UserError(f"agent {shown(name)}: {NO_TOKEN}")
    if token_refused(target):  # before `ray start`, which would retry the refused token for a minute
        raise UserError(f"agent {shown(name)}: {TOKEN_REFUSED}")
    folder = Path(tempfile.mkdtemp(prefix="harness-agent-"))  # `ray start`'s output, one log per try
    mark = f"{AGENT_MARK}{uuid.uuid4().hex}"
    resources = {**node_resources(devices_file), mark: 1.0}
    specs = {d.name: d.model_dump(mode="json") for d in devices_file.enabled}  # as announce sends them
    # A loopback head (a try on one machine): this node stays on loopback too, where the head listens.
    argv = ray_cli(keep_loopback=is_loopback(node_ip) or is_loopback(target.rpartition(":")[0]))
    argv += ["start", f"--address={target}", f"--num-cpus={num_cpus}", f"--node-name={name}",
             f"--resources={json.dumps(resources)}",
             "--labels=" + ",".join(f"{k}={v}" for k, v in node_labels(name, specs).items()),
             f"--object-store-memory={object_store_mb * 1024 * 1024}", "--block", NO_LOG_MONITOR,
             "--disable-usage-stats"]
    if node_ip:
        argv.append(f"--node-ip-address={node_ip}")
    argv += list(extra_args or [])
    stopping = threading.Event()

    def stop(*_: object) -> None:
        stopping.set()

    def up(proc: subprocess.Popen[bytes], log: Path) -> tuple[ModuleType, str]:
        ray = _connect_when_up(target, name, proc, log, 120.0)
        for s in old:  # again: ray.init installs its own SIGTERM handler
            signal.signal(s, stop)
        return ray, _wait_for_node(name, mark, proc, log, 120.0)

    old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    proc: subprocess.Popen[bytes] | None = None
    try:
        # One node starts at a time on a host (see node_start_lock); once more if Ray's start timed out.
        proc, log, (_, node_id) = start_node(argv, folder, up, what=f"agent {shown(name)}",
                                               note=lambda line: out(line, flush=True), one_at_a_time=True,
                                               stopping=stopping)
        entry = announce(devices_file, name, node_id, settle_s=SETTLE_S)
        ok = sum(1 for f in entry["facts"].values() if f.get("status") == "ok")
        out(f"agent {name} joined {target} with {len(entry['devices'])} device(s) "
            f"({ok} answering): {', '.join(entry['devices'])}", flush=True)
        checked = time.monotonic()
        while not stopping.is_set() and proc.poll() is None:
            stopping.wait(1.0)
            if time.monotonic() - checked > REGISTERED_CHECK_S:
                _still_registered(entry)
                checked = time.monotonic()
        if proc.poll() is not None and not stopping.is_set():
            raise UserError(f"agent {shown(name)}: the Ray node stopped: {last_error(log)}")
        _say_stopped(name, node_id)
        return 0
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        try:
            import ray as _ray

            _ray.shutdown()
        except Exception:
            pass
        if proc is not None:
            stop_node(proc)


def _still_registered(entry: AgentEntry) -> None:
    """The registry's entry for this agent, registered again if it was lost (a registry that lost its stored
    entries; meanwhile listings rebuild this agent from Ray's node table, without device specs). Best effort."""
    import ray

    try:
        reg = registry()
        if not ray.get(reg.has.remote(entry["node_id"]), timeout=10):
            ray.get(reg.register.remote(entry), timeout=10)
    except Exception:
        pass


def _say_stopped(name: str, node_id: str) -> None:
    """A clean stop (SIGTERM, Ctrl-C) is told to the registry before the node goes: `devices --farm` then lists
    the agent as stopped, not as a host that went down. Best effort and bounded: the stop goes on regardless."""
    import ray

    try:
        ray.get(registry().stopped.remote(name, node_id), timeout=10)
    except Exception:
        pass


