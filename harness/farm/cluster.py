"""Joining the Ray cluster, and the farm's registry of agents (a detached actor on the head node).

Every way in goes through `connect`: an unreachable address, a port that is not a Ray head, a missing
or wrong farm token or a Ray version mismatch is one UserError line (exit 2), never a Ray traceback.

Every farm runs with Ray's token authentication (`RAY_AUTH_MODE=token`): the token is read by Ray
itself from `$RAY_AUTH_TOKEN`, the file `$RAY_AUTH_TOKEN_PATH` or `~/.ray/auth_token`, never from a
flag, and never printed.
"""
from __future__ import annotations

import logging
import os
import socket
import sys
import time
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, cast

from errors import UserError
from harness.farm.shapes import AgentEntry, DeviceSpec, RayNode, RegistryHandle

if TYPE_CHECKING:
    from collections.abc import Callable

NAMESPACE = "harness"
REGISTRY_NAME = "harness-farm-registry"
# Bumped when the messages between coordinator and agent change shape; with the harness version it
# must match on both sides.
PROTOCOL = 2  # 2: registry stopped/has, node labels, job_moved (agents of protocol 1 died with a TypeError)
# Ray gives the head node this resource; the registry lives there, so it outlives any agent.
HEAD_RESOURCE = "node:__internal_head__"
# Every agent's node starts with one resource named so (plus a random suffix): in Ray's node table, an agent node
# is one that has it, its NodeName is the agent's name, and its `device:<name>` resources are its devices.
AGENT_MARK = "harness-agent:"
# And Ray node labels (`ray start --labels`): the agent's name (when it fits a label's characters), how many devices
# it serves and a digest of their specs, so what Ray's node table says can be checked against the registry's entry.
LABEL_NAME, LABEL_DEVICES, LABEL_DIGEST = "harness-agent", "harness-devices", "harness-digest"
_LABEL_VALUE = r"[a-zA-Z0-9]([a-zA-Z0-9_.-]{0,61}[a-zA-Z0-9])?"  # Ray's (ray/_private/label_utils.py)


def devices_digest(devices: dict[str, DeviceSpec]) -> str:
    """An agent's devices (names and specs as its devices file says), in 16 hex characters."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(devices, sort_keys=True, default=str).encode()).hexdigest()[:16]


def node_labels(name: str, devices: dict[str, DeviceSpec]) -> dict[str, str]:
    """The labels an agent's node starts with (a name Ray's label syntax refuses stays only in the NodeName)."""
    import re

    labels = {LABEL_DEVICES: str(len(devices)), LABEL_DIGEST: devices_digest(devices)}
    if re.fullmatch(_LABEL_VALUE, name):
        labels[LABEL_NAME] = name
    return labels


def device_resource(name: str) -> str:
    """The custom resource an agent advertises for each device it owns; a job needs one unit."""
    return f"device:{name}"


def shown(value: str, limit: int = 80) -> str:
    """A user's value in a message: bounded, control characters escaped."""
    text = value if len(value) <= limit else value[:limit] + "..."
    return ascii(text)[1:-1] if not text.isprintable() else text


def parse_address(address: str, flag: str) -> tuple[str, int]:
    """HEAD:PORT, checked before anything connects."""
    host, sep, port = (address or "").strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"{flag} {shown(address)}: expected HEAD:PORT (the Ray head's address, e.g. 10.0.0.5:6379)")
    return host.strip("[]"), int(port)


def check_reachable(address: str, flag: str, timeout_s: float = 5.0) -> str:
    """One TCP connect first: Ray itself would retry for a long time before it gives up."""
    host, port = parse_address(address, flag)
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise UserError(f"{flag} {shown(address)}: cannot reach the Ray head ({why}); "
                        "is `harness farm up` (or `ray start --head`) running there?") from None
    return f"{host}:{port}"


def is_loopback(address: str | None) -> bool:
    """127.0.0.0/8, ::1 or `localhost`: an address only this host reaches."""
    import ipaddress

    if not address:
        return False
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


@contextmanager
def loopback_kept(host: str) -> Iterator[None]:
    """Ray replaces a loopback address by the host's LAN address wherever it reads one
    (`resolve_ip_for_localhost`). A head held to loopback (`farm up --bind 127.0.0.1`) listens on loopback
    only, so a process joining it keeps the address as given while it connects."""
    if not is_loopback(host):
        yield
        return
    from ray._private import services

    saved = services.resolve_ip_for_localhost

    def as_given(host: str) -> str:
        return host

    services.resolve_ip_for_localhost = as_given
    try:
        yield
    finally:
        services.resolve_ip_for_localhost = saved


def token_file() -> Path:
    """Where Ray looks for the farm's token file (and `harness farm up` writes a new one)."""
    return Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token").expanduser()


def have_token() -> bool:
    if os.environ.get("RAY_AUTH_TOKEN", "").strip():
        return True
    try:
        return bool(token_file().read_text().strip())
    except OSError:
        return False


def secure_env(env: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """The environment every farm process (and the `ray start` it runs) has: token authentication on,
    no usage stats sent anywhere."""
    target = os.environ if env is None else env
    target["RAY_AUTH_MODE"] = "token"
    target.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    return target


def ensure_token() -> str:
    """The head's token: kept if there is one, else a new random one in a file only its owner reads.
    Returns where it is (never the token itself)."""
    import secrets

    path = token_file()
    if os.environ.get("RAY_AUTH_TOKEN", "").strip():
        return "$RAY_AUTH_TOKEN"
    if have_token():
        return f"file {path}"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32))
    return f"file {path}"


NO_TOKEN = ("no farm token on this host: copy the head's token file (`harness farm up` prints where it is) to "
            "~/.ray/auth_token here (mode 600), or point $RAY_AUTH_TOKEN_PATH at it")


TOKEN_REFUSED = ("the head refused this host's farm token; copy the head's token file to ~/.ray/auth_token here "
                 "(or point $RAY_AUTH_TOKEN_PATH at it)")


def check_ray_head(address: str, flag: str, timeout_s: float = 8.0) -> str:
    """TCP first, then a gRPC handshake: a port where something else listens (a web server, an sshd, a
    program that never answers) is refused in seconds, where Ray itself would wait for minutes."""
    target = check_reachable(address, flag, timeout_s=min(timeout_s, 5.0))
    import grpc

    channel = grpc.insecure_channel(target)
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout_s)
    except grpc.FutureTimeoutError:
        raise UserError(f"{flag} {shown(address)}: something listens there but it is not a Ray head (no gRPC "
                        f"answer within {timeout_s:.0f} s); check the port `harness farm up` printed") from None
    finally:
        channel.close()
    return target


def token_refused(target: str, timeout_s: float = 10.0) -> bool:
    """Whether the head refuses this host's token, asked with one authenticated call (the GCS's `GetClusterId`,
    which carries the token like every call of Ray's): a wrong token is then one line within a second, where
    `ray.init` (a driver) and `ray start` (an agent's node) retry their GCS connection for 20 tries or more
    before they give up (30-75 s measured). False on any other outcome (no answer, an older head): Ray's own
    connect then says what it says. The token mode must be set (`secure_env`) before this is called."""
    try:
        import grpc
        from ray._private.grpc_utils import init_grpc_channel
        from ray._raylet import Config  # type: ignore[attr-defined]  # (a Cython class ray's _raylet.pyi omits)
        from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc
    except ImportError:
        return False
    Config.initialize("")  # this process may have read Ray's settings before RAY_AUTH_MODE was set
    try:
        channel = init_grpc_channel(target)
    except Exception:  # no token Ray can load: its own connect says why
        return False
    try:
        stub = gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel)  # type: ignore[no-untyped-call]
        stub.GetClusterId(gcs_service_pb2.GetClusterIdRequest(), timeout=timeout_s)  # type: ignore[attr-defined]
    except grpc.RpcError as exc:
        return bool(exc.code() == grpc.StatusCode.UNAUTHENTICATED)
    finally:
        channel.close()
    return False


@contextmanager
def native_stderr_to_log(name: str) -> Iterator[Path]:
    """Ray's C++ core writes warnings straight to file descriptor 2 while it connects (on a host with no
    default route: `Failed to determine local IP via external connectivity ...`); they go to a log file."""
    from harness.orchestration.quiet import default_log_dir

    folder = default_log_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab", buffering=0) as log:
        os.dup2(log.fileno(), 2)
        try:
            yield path
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def harness_version() -> str:
    from harness import __version__

    return __version__


def connect(address: str, flag: str = "--farm") -> ModuleType:
    """Join the cluster as a driver (this process); returns the ray module."""
    target = check_ray_head(address, flag)
    secure_env()
    import ray

    if ray.is_initialized():
        return ray
    if not have_token():
        raise UserError(f"{flag} {shown(address)}: {NO_TOKEN}")
    from ray._raylet import Config  # type: ignore[attr-defined]  # (a Cython class ray's _raylet.pyi omits)

    Config.initialize("")  # this process may have imported Ray before RAY_AUTH_MODE was set
    if token_refused(target):
        raise UserError(f"{flag} {shown(address)}: {TOKEN_REFUSED}")
    with native_stderr_to_log("farm-connect") as log, loopback_kept(target.rpartition(":")[0]):
        try:
            ray.init(address=target, namespace=NAMESPACE, log_to_driver=False, logging_level=logging.ERROR,
                     configure_logging=True)
        except Exception as exc:  # ConnectionError, RuntimeError (version mismatch), AuthenticationError, ...
            # A wrong token shows only in the C++ core's lines (ray.init says "Failed to connect").
            said = log.read_text(errors="replace") if log.exists() else ""
            why = TOKEN_REFUSED if "InvalidAuthToken" in said else ray_error_line(exc)
            raise UserError(f"{flag} {shown(address)}: {why}") from None
    if log.exists() and not log.stat().st_size:
        log.unlink()  # nothing said: no file left behind
    keep_cluster_news_off_stdout(ray)
    return ray


def keep_cluster_news_off_stdout(ray: ModuleType) -> None:
    """A Ray driver prints the cluster's error messages (`(raylet) The node ... has been marked dead ...`) on
    its own stdout, from a thread, whenever they come: that would land inside `--json` output and tables.
    They go to a log file instead; the farm reports a lost host itself, as error rows naming it."""
    from ray._private import worker

    from harness.orchestration.quiet import default_log_dir

    path = default_log_dir() / f"farm-cluster-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"

    def to_log(data: dict[str, object], ignore_prefix: bool = False) -> None:
        with open(path, "a", encoding="utf-8", errors="replace") as fh:
            lines = data.get("lines")
            for line in lines if isinstance(lines, list) else []:
                fh.write(f"({data.get('pid')}) {line}\n")

    worker.print_to_stdstream = to_log


def ray_error_line(exc: BaseException) -> str:
    """Ray's long multi-line errors, as one line a user can act on."""
    text = str(exc)
    if "uthentication" in text or "UNAUTHENTICATED" in text:
        return TOKEN_REFUSED
    if "ersion mismatch" in text:
        import ray

        return (f"Ray version mismatch between this host (ray {ray.__version__}) and the cluster; "
                "install the same ray and harness versions on every host")
    if "node_ip_address" in text or "matched Raylet" in text or "raylet" in text.lower():
        return ("this host is not a node of the cluster; run the coordinator on the head host "
                "(or join this host as an agent first)")
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), type(exc).__name__)
    return shown(first, 200)


KV_PREFIX = b"harness-farm/agent/"
KV_HEAD = b"harness-farm/head-version"


class Registry:
    """Who serves which device: one entry per agent, kept on the head node.

    A device may be served by one live agent only; an agent whose node died is replaced when an
    agent of that name (or with those devices) joins again. Each entry is also written to the GCS's
    key-value store, so a registry that dies (the memory monitor, a kill) comes back with every entry:
    the actor restarts itself, or the next `registry()` call makes a new one that reads them back.
    """

    def __init__(self, head_version: str | None = None, durable: bool = False) -> None:
        self.durable = durable
        self.entries: dict[str, AgentEntry] = {}
        if durable:
            import json

            from ray.experimental.internal_kv import _internal_kv_get, _internal_kv_list, _internal_kv_put

            if head_version:
                _internal_kv_put(KV_HEAD, head_version.encode(), overwrite=True)
            else:
                stored = _internal_kv_get(KV_HEAD)
                head_version = stored.decode() if stored else None
            for key in _internal_kv_list(KV_PREFIX):
                raw = _internal_kv_get(key)
                if raw:
                    entry = json.loads(raw)
                    self.entries[entry["name"]] = entry
        self.head_version = head_version

    def _store(self, name: str) -> None:
        if not self.durable:
            return
        import json

        from ray.experimental.internal_kv import _internal_kv_del, _internal_kv_put

        key = KV_PREFIX + name.encode()
        if name in self.entries:
            _internal_kv_put(key, json.dumps(self.entries[name]).encode(), overwrite=True)
        else:
            _internal_kv_del(key)

    def _alive(self) -> set[str]:
        return set(self._live_nodes())

    def _live_nodes(self) -> dict[str, RayNode]:
        return {n["NodeID"]: n for n in ray_nodes() if n.get("Alive")}

    def info(self) -> dict[str, object]:
        return {"harness_version": self.head_version, "protocol": PROTOCOL}

    def register(self, entry: AgentEntry) -> str | None:
        """Add an agent; returns why it was refused, or None."""
        if self.head_version and (entry.get("harness_version"), entry.get("protocol")) != (self.head_version, PROTOCOL):
            return (f"version mismatch: agent runs harness {entry.get('harness_version')} (protocol "
                    f"{entry.get('protocol')}), the head harness {self.head_version} (protocol {PROTOCOL})")
        nodes = self._live_nodes()
        alive = set(nodes)
        mine = set(entry["devices"])
        # Ray's node table first: what a live agent node advertises is taken, whatever this registry holds (its
        # entries may be older than a node that joined while it restarted).
        for node_id, node in nodes.items():
            res = node.get("Resources") or {}
            if node_id == entry["node_id"] or not any(k.startswith(AGENT_MARK) for k in res):
                continue
            if node.get("NodeName") == entry["name"]:
                return f"an agent named {entry['name']!r} is already joined (node {node_id[:8]}); pass --name"
            both = sorted(d for d in mine if device_resource(d) in res)
            if both:
                return (f"device {both[0]!r} is already served by agent {node.get('NodeName')!r}; "
                        "a device belongs to one host")
        for name, other in self.entries.items():
            if other["node_id"] not in alive or other["node_id"] == entry["node_id"]:
                continue
            if name == entry["name"]:
                return f"an agent named {name!r} is already joined (node {other['node_id'][:8]}); pass --name"
            both = sorted(mine & set(other["devices"]))
            if both:
                return f"device {both[0]!r} is already served by agent {name!r}; a device belongs to one host"
        self.entries[entry["name"]] = {**entry, "joined_at": time.time()}
        self._store(entry["name"])
        return None

    def leave(self, name: str) -> None:
        self.entries.pop(name, None)
        self._store(name)

    def stopped(self, name: str, node_id: str) -> None:
        """The agent on `node_id` stopped cleanly (its node goes next): kept and marked, so a listing says
        "stopped", not "host down". Another node's entry of that name (a newer agent) is left alone."""
        entry = self.entries.get(name)
        if entry is not None and entry["node_id"] == node_id:
            entry["stopped_at"] = time.time()
            self._store(name)

    def agents(self) -> list[AgentEntry]:
        """Every entry, with `alive` from Ray's view of the nodes now (a cleanly stopped agent is not alive); and
        every live agent node that has no entry (the entries were lost, or it is joining now), rebuilt from Ray's
        node table: its name, its devices (`device:` resources) and their count and digest (its labels). A rebuilt
        one has no device specs (`rebuilt` says so): it is listed, not planned on, until its agent registers."""
        nodes = self._live_nodes()
        out: list[AgentEntry] = [{**e, "alive": e["node_id"] in nodes and not e.get("stopped_at")}
                                 for e in self.entries.values()]
        known = {e["node_id"] for e in self.entries.values()}
        for node_id, node in nodes.items():
            res = node.get("Resources") or {}
            if node_id in known or not any(k.startswith(AGENT_MARK) for k in res):
                continue
            labels = node.get("Labels") or {}
            devices = sorted(k.removeprefix(device_resource("")) for k in res if k.startswith(device_resource("")))
            said = labels.get(LABEL_DEVICES)
            note = "rebuilt from Ray's node table (the registry has no entry)"
            if said is not None and said != str(len(devices)):
                note += f"; its label says {said} device(s)"
            out.append({"name": labels.get(LABEL_NAME) or node.get("NodeName", ""), "node_id": node_id,
                        "hostname": node.get("NodeManagerHostname"), "devices": {d: {"name": d} for d in devices},
                        "facts": {}, "digest": labels.get(LABEL_DIGEST), "rebuilt": note, "alive": True})
        return out

    def has(self, node_id: str) -> bool:
        """Whether the agent on this node has its entry (an agent checks, and registers again if it was lost)."""
        return any(e["node_id"] == node_id for e in self.entries.values())


def registry(head_version: str | None = None) -> RegistryHandle:
    """The registry actor, created on the head node by whoever comes first."""
    import ray

    actor = ray.remote(Registry).options(
        name=REGISTRY_NAME, namespace=NAMESPACE, lifetime="detached", get_if_exists=True,
        num_cpus=0, resources={HEAD_RESOURCE: 0.001}, max_restarts=-1, max_task_retries=3,
    )
    # (Ray types a handle's methods as Never: RegistryHandle says which calls it answers, with their types)
    return cast(RegistryHandle, actor.remote(head_version, durable=True))


def ray_nodes() -> list[RayNode]:
    """Ray's node table now (`ray.nodes()`, which Ray leaves untyped), as the rows the farm reads."""
    import ray

    nodes: Callable[[], list[RayNode]] = ray.nodes
    return nodes()
