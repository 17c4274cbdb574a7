"""Joining the Ray cluster, and the farm's registry of agents (a detached actor on the head node).

Every way in goes through `connect`: an unreachable address or a Ray version mismatch is one UserError
line (exit 2), never a Ray traceback.
"""
from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

from errors import UserError

NAMESPACE = "harness"
REGISTRY_NAME = "harness-farm-registry"
# Bumped when the messages between coordinator and agent change shape; with the harness version it
# must match on both sides.
PROTOCOL = 1
# Ray gives the head node this resource; the registry lives there, so it outlives any agent.
HEAD_RESOURCE = "node:__internal_head__"


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


def harness_version() -> str:
    from harness import __version__

    return __version__


def connect(address: str, flag: str = "--farm") -> Any:
    """Join the cluster as a driver (this process); returns the ray module."""
    target = check_reachable(address, flag)
    import ray

    if ray.is_initialized():
        return ray
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        ray.init(address=target, namespace=NAMESPACE, log_to_driver=False, logging_level=logging.ERROR,
                 configure_logging=True)
    except Exception as exc:  # ConnectionError, RuntimeError (version mismatch), ValueError, ...
        raise UserError(f"{flag} {shown(address)}: {ray_error_line(exc)}") from None
    return ray


def ray_error_line(exc: BaseException) -> str:
    """Ray's long multi-line errors, as one line a user can act on."""
    text = str(exc)
    if "ersion mismatch" in text:
        import ray

        return (f"Ray version mismatch between this host (ray {ray.__version__}) and the cluster; "
                "install the same ray and harness versions on every host")
    if "node_ip_address" in text or "matched Raylet" in text or "raylet" in text.lower():
        return ("this host is not a node of the cluster; run the coordinator on the head host "
                "(or join this host as an agent first)")
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), type(exc).__name__)
    return shown(first, 200)


class Registry:
    """Who serves which device: one entry per agent, kept on the head node.

    A device may be served by one live agent only; an agent whose node died is replaced when an
    agent of that name (or with those devices) joins again.
    """

    def __init__(self, head_version: str | None = None) -> None:
        self.head_version = head_version
        self.entries: dict[str, dict[str, Any]] = {}

    def _alive(self) -> set[str]:
        import ray

        return {n["NodeID"] for n in ray.nodes() if n.get("Alive")}

    def info(self) -> dict[str, Any]:
        return {"harness_version": self.head_version, "protocol": PROTOCOL}

    def register(self, entry: dict[str, Any]) -> str | None:
        """Add an agent; returns why it was refused, or None."""
        if self.head_version and (entry.get("harness_version"), entry.get("protocol")) != (self.head_version, PROTOCOL):
            return (f"version mismatch: agent runs harness {entry.get('harness_version')} (protocol "
                    f"{entry.get('protocol')}), the head harness {self.head_version} (protocol {PROTOCOL})")
        alive = self._alive()
        mine = set(entry["devices"])
        for name, other in self.entries.items():
            if other["node_id"] not in alive or other["node_id"] == entry["node_id"]:
                continue
            if name == entry["name"]:
                return f"an agent named {name!r} is already joined (node {other['node_id'][:8]}); pass --name"
            both = sorted(mine & set(other["devices"]))
            if both:
                return f"device {both[0]!r} is already served by agent {name!r}; a device belongs to one host"
        self.entries[entry["name"]] = dict(entry, joined_at=time.time())
        return None

    def leave(self, name: str) -> None:
        self.entries.pop(name, None)

    def agents(self) -> list[dict[str, Any]]:
        """Every entry, with `alive` from Ray's view of the nodes now."""
        alive = self._alive()
        return [dict(e, alive=e["node_id"] in alive) for e in self.entries.values()]


def registry(head_version: str | None = None) -> Any:
    """The registry actor, created on the head node by whoever comes first."""
    import ray

    actor = ray.remote(Registry).options(
        name=REGISTRY_NAME, namespace=NAMESPACE, lifetime="detached", get_if_exists=True,
        num_cpus=0, resources={HEAD_RESOURCE: 0.001},
    )
    return actor.remote(head_version)
