"""The coordinator's side of the farm: which agent serves which device, and a Target for each device
whose calls run on that agent (a DeviceWorker actor holding the device's resource).

The orchestrator drives these targets exactly as it drives local ones (one thread per device, results
stored as they arrive), so single-host mode and the farm share every rule about error rows and resume.
Artifacts travel through Ray's object store, once per run, and only to agents that lack them.
"""
from __future__ import annotations

import platform
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

from errors import DeviceError, UserError
from harness.orchestration.measure import RowOrigin
from harness.farm.cluster import (NAMESPACE, PROTOCOL, connect, device_resource, harness_version, ray_nodes,
                                  registry, shown)
from harness.farm.shapes import AgentEntry, Artifact, WorkerHandle

if TYPE_CHECKING:
    from collections.abc import Callable

    from ray import ObjectRef
    from ray.actor import ActorHandle

    from devices.job import JobSpec, RawRun
    from harness.farm.agent import DeviceWorker
    from harness.planning.config import BenchSettings, DeviceConfig, DevicesFile

R = TypeVar("R")

GRACE_S = 30.0  # beyond a job's own timeout (enforced on the agent) before the coordinator gives up on it


class Farm:
    """A connection to the cluster and the registry; offers `build` and `origin` like LocalTargets."""

    def __init__(self, address: str, *, flag: str = "--farm", grace_s: float = GRACE_S) -> None:
        self.address = address
        self.flag = flag
        self.grace_s = grace_s
        self.ray = connect(address, flag)
        self._registry = registry()
        self._lock = threading.Lock()
        self._blobs: dict[str, ObjectRef[bytes]] = {}
        self._hashes: dict[tuple[str, int, int], str] = {}
        self._targets: list[RemoteTarget] = []
        self.bytes_sent = 0
        self.stop: threading.Event | None = None
        self.entries = self.refresh()

    # -- who serves what ---------------------------------------------------------------------------
    def refresh(self) -> list[AgentEntry]:
        """The registry's view now, checked against this coordinator's versions."""
        import ray

        self.entries = ray.get(self._registry.agents.remote())
        mine = (harness_version(), PROTOCOL)
        for e in self.entries:
            if e["alive"] and not e.get("rebuilt") and (e.get("harness_version"), e.get("protocol")) != mine:
                raise UserError(f"{self.flag} {shown(self.address)}: version mismatch: agent {shown(e['name'])} runs "
                                f"harness {e.get('harness_version')} (protocol {e.get('protocol')}), this coordinator "
                                f"harness {mine[0]} (protocol {mine[1]}); install the same version on every host")
        return self.entries

    def owner(self, device: str) -> AgentEntry | None:
        return next((e for e in self.entries if e["alive"] and not e.get("rebuilt") and device in e["devices"]), None)

    def devices_file(self) -> DevicesFile:
        """Every device of every live agent, as one devices file: the farm's plan."""
        from harness.planning.config import parse_devices

        # (a node rebuilt from Ray's node table has no device specs to plan with until its agent registers again)
        devices = [d for e in self.entries if e["alive"] and not e.get("rebuilt") for d in e["devices"].values()]
        if not devices:
            raise UserError(f"{self.flag} {shown(self.address)}: no agent has joined the farm yet "
                            "(run `harness agent --devices FILE --address HEAD:PORT` on each lab host)")
        return parse_devices({"devices": devices}, "farm devices")

    def describe(self) -> list[dict[str, object]]:
        """Every host and device, busy or free: `harness devices --farm`."""
        rows: list[dict[str, object]] = []
        for e in sorted(self.entries, key=lambda e: e["name"]):
            for name, dev in e["devices"].items():
                facts = dict(e.get("facts", {}).get(name) or {})
                status = facts.pop("status", "ok")
                if e.get("stopped_at"):
                    status = "stopped"  # stopped on purpose (SIGTERM, Ctrl-C): not a fault
                elif not e["alive"]:
                    status = "host down"
                elif status == "ok":
                    status = "busy" if self.busy(name) else "free"
                pool = {"pool": dev["pool"]} if dev.get("pool") else {}  # `run --pool` takes any free one of them
                rebuilt = {"registry": e["rebuilt"]} if e.get("rebuilt") else {}
                rows.append({"host": e["name"], "device": name, "kind": dev.get("kind"), **pool, "status": status,
                             **rebuilt, **facts})
        return rows

    def busy(self, device: str) -> bool:
        """Whether the device's worker is running a job now (no worker: nothing runs, the unit is free)."""
        import ray

        from harness.farm.agent import worker_name

        try:
            # (Ray types a handle's methods as Never: WorkerHandle says which calls it answers, with their types)
            worker = cast(WorkerHandle, ray.get_actor(worker_name(device), namespace=NAMESPACE))
            return bool(ray.get(worker.status.remote(), timeout=10)["busy"])
        except Exception:
            available: Callable[[], dict[str, float]] = ray.available_resources  # (untyped in Ray)
            return available().get(device_resource(device), 0) < 1

    # -- the orchestrator's interface -------------------------------------------------------------------
    def attach(self, stop: threading.Event) -> None:
        """The run's stop flag: a waiting call gives up (and frees its device) when Ctrl-C sets it."""
        self.stop = stop

    def build(self, device: DeviceConfig) -> RemoteTarget:
        owner = self.owner(device.name)
        if owner is None:
            raise DeviceError(device.name, "no live agent serves it (its host left the farm)")
        target = RemoteTarget(self, device, owner)
        with self._lock:
            self._targets.append(target)
        return target

    def origin(self, device: str) -> RowOrigin:
        """The agent that serves the device, and its facts as of the join (a row keeps the job's own first)."""
        owner = next((e for e in self.entries if device in e["devices"]), None)
        if owner is None:
            return RowOrigin(host=platform.node())
        return RowOrigin(host=owner["name"], device_facts=(owner.get("facts") or {}).get(device))

    # -- artifacts ---------------------------------------------------------------------------------
    def sha(self, path: Path) -> str:
        import hashlib

        from devices.transport import file_sha256

        st = path.stat()
        key = (str(path), st.st_mtime_ns, st.st_size)
        if key not in self._hashes:
            self._hashes[key] = file_sha256(path) if path.is_file() else hashlib.sha256(_tar(path)).hexdigest()
        return self._hashes[key]

    def blob(self, sha: str, path: Path) -> ObjectRef[bytes]:
        """The artifact's bytes in the object store, put once per run however many agents need them."""
        import ray

        with self._lock:
            if sha not in self._blobs:
                data = path.read_bytes() if path.is_file() else _tar(path)
                self._blobs[sha] = ray.put(data)
                self.bytes_sent += len(data)
            return self._blobs[sha]

    def close(self) -> None:
        for t in list(self._targets):
            t.close()
        self._blobs.clear()


def _tar(folder: Path) -> bytes:
    """A folder as an uncompressed tar with fixed order and times, so equal contents hash equal."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for p in sorted(folder.rglob("*")):
            info = tar.gettarinfo(str(p), arcname=str(p.relative_to(folder)))
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if p.is_file():
                with open(p, "rb") as fh:
                    tar.addfile(info, fh)
            elif p.is_dir():
                tar.addfile(info)
    return buf.getvalue()


class RemoteTarget:
    """A device on an agent, seen from the coordinator: the Target methods the orchestrator calls,
    each one a call to the device's worker on its agent."""

    def __init__(self, farm: Farm, device: DeviceConfig, owner: AgentEntry) -> None:
        self.farm = farm
        self.config = device
        self.name = device.name
        self.host = owner["name"]
        self.node_id = owner["node_id"]
        self.spec = owner["devices"][device.name]  # as the agent declared it: paths and keys of its host
        self.actor: WorkerHandle | None = None
        self._prepared = False

    def _spawn(self) -> WorkerHandle:
        """The agent's worker for this device; started again here if a bound had to stop it."""
        from harness.farm.agent import spawn_worker

        return spawn_worker(self.spec, self.node_id)

    def _call(self, method: str, send: Callable[[WorkerHandle], ObjectRef[R]], timeout_s: float | None) -> R:
        """`send(worker)` (the worker's `method`, called through Ray), waited for; bounded by `timeout_s`."""
        import ray
        from ray.exceptions import RayError, RayTaskError

        if self.actor is None:
            self.actor = self._spawn()
            if method != "prepare" and self._prepared:
                self._call("prepare", lambda w: w.prepare.remote(), timeout_s=None)
        ref = send(self.actor)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        try:
            while True:
                ready, _ = ray.wait([ref], timeout=1.0)
                if ready:
                    return ray.get(ref)
                if self.farm.stop is not None and self.farm.stop.is_set():
                    raise RuntimeError("interrupted")  # the job ends on the agent; its result is dropped
                if deadline is not None and time.monotonic() > deadline:
                    self._kill()  # frees the device's resource on its agent
                    raise TimeoutError(f"agent {self.host}: {method} gave no answer within {timeout_s:.0f} s; "
                                       "its worker was stopped and the device freed")
        except RayTaskError as exc:  # the agent's own exception (DeviceError, TransportError, ...)
            cause = exc.cause if isinstance(getattr(exc, "cause", None), BaseException) else None
            if cause is not None and not isinstance(cause, RayError):
                raise cause from None
            lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
            raise RuntimeError(f"agent {self.host}: {(lines or ['failed'])[-1][:300]}") from None
        except RayError as exc:
            self.actor = None
            raise DeviceError(self.name, f"agent {self.host} lost during the job ({type(exc).__name__}: "
                              f"{self._why_lost()})") from None

    def _why_lost(self) -> str:
        try:
            alive = any(n["NodeID"] == self.node_id and n.get("Alive") for n in ray_nodes())
        except Exception:
            alive = False
        return "its worker died" if alive else "its node left the cluster"

    def _kill(self) -> None:
        import ray

        if self.actor is not None:
            try:
                ray.kill(cast("ActorHandle[DeviceWorker]", self.actor), no_restart=True)  # (what the handle is)
            except Exception:
                pass
            self.actor = None

    def prepare(self) -> None:
        self._call("prepare", lambda w: w.prepare.remote(), timeout_s=None)
        self._prepared = True

    def _item(self, path: Path) -> Artifact:
        """An artifact (file, or folder such as a SavedModel) as the agent receives it: by content hash,
        with its bytes only when the agent does not keep them already."""
        sha = self.farm.sha(path)
        has = self._call("has", lambda w: w.has.remote(sha), timeout_s=self.farm.grace_s)
        return {"sha": sha, "name": path.name, "dir": path.is_dir(),
                "blob": [] if has else [self.farm.blob(sha, path)]}

    def benchmark(self, job: JobSpec) -> RawRun:
        model = self._item(Path(job.model_path))
        companions = {kind: self._item(Path(p)) for kind, p in (job.companions or {}).items()}
        origins = dict(job.companion_origins or {})
        bench = job.bench.model_dump()
        return self._call("benchmark", lambda w: w.benchmark.remote(model, companions, origins, bench, job.input_shapes,
                                                                    job.seed),
                          timeout_s=job.bench.timeout_s + self.farm.grace_s)

    def cool_down(self, bench: BenchSettings, stop: threading.Event | None = None) -> float:
        """`stop` is the orchestrator's flag, which the farm already watches (attach): Ctrl-C ends the wait."""
        limit = bench.cooldown_s + (bench.cooldown_max_s if bench.cooldown_until_c is not None else 0)
        settings = bench.model_dump()
        return self._call("cool_down", lambda w: w.cool_down.remote(settings), timeout_s=limit + self.farm.grace_s)

    def temperatures(self) -> dict[str, float]:
        return self._call("temperatures", lambda w: w.temperatures.remote(), timeout_s=self.farm.grace_s)

    def close(self) -> None:
        """The worker stays on its agent for the next run; this coordinator only lets go of it."""
        self.actor = None
