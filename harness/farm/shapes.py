"""What agents, coordinator and registry send each other through Ray, typed once: the JSON shapes (a registry
entry, an artifact, a worker's status, Ray's node table rows) and the calls the farm makes on Ray's actor handles.

Ray's `ActorHandle` types every method as `Never` and `ray.nodes()` is untyped, so without these a misspelt key or
a wrong argument would show only as an error on a lab host. Importing this module does not import Ray.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Generic, NotRequired, ParamSpec, Protocol, TypedDict, TypeVar

if TYPE_CHECKING:
    from ray import ObjectRef

    from devices.job import RawRun

P = ParamSpec("P")
R = TypeVar("R")

# A device as its agent's devices file says it (`DeviceConfig.model_dump(mode="json")`): validated again where used.
DeviceSpec = dict[str, object]
# A device's facts (`Target.facts()`: OS, runtime versions, memory ...) with `status` ("ok", "unreachable"),
# `error` and `checked_at_unix_s` added by the farm: free-form JSON, read by the reports, never by the farm's rules.
Facts = dict[str, object]


class RayNode(TypedDict, total=False):
    """One row of `ray.nodes()` (Ray's node table), the keys the farm reads."""

    NodeID: str
    Alive: bool
    NodeName: str
    NodeManagerHostname: str
    Resources: dict[str, float]
    Labels: dict[str, str]


class AgentEntry(TypedDict):
    """An agent as the registry keeps it (and `agents()` lists it, with `alive`)."""

    name: str
    node_id: str
    hostname: str | None
    devices: dict[str, DeviceSpec]
    facts: dict[str, Facts]
    harness_version: NotRequired[str]
    protocol: NotRequired[int]
    ray_version: NotRequired[str]
    pid: NotRequired[int]  # the agent's process on its host, with its start (agent.process_started)
    pid_started: NotRequired[int | None]
    joined_at: NotRequired[float]
    stopped_at: NotRequired[float]
    alive: NotRequired[bool]  # set by `Registry.agents()` from Ray's node table, never stored
    rebuilt: NotRequired[str]  # why the entry was rebuilt from Ray's node table (no device specs then)
    digest: NotRequired[str | None]  # a rebuilt entry's `harness-digest` label


class Artifact(TypedDict):
    """A model or companion file (or folder, sent as a tar) as an agent receives it: by content hash, with its bytes
    in the object store only when the agent does not keep them already."""

    sha: str
    name: str
    dir: bool
    blob: list[ObjectRef[bytes]]


class WorkerStatus(TypedDict):
    busy: bool
    host: str


class Remote(Protocol, Generic[P, R]):
    """An actor method as its handle offers it: `.remote(...)` returns a reference to its result."""

    def remote(self, *args: P.args, **kwargs: P.kwargs) -> ObjectRef[R]: ...


class WorkerHandle(Protocol):
    """A DeviceWorker actor's handle (harness.farm.agent.DeviceWorker's methods, called through Ray)."""

    host: Remote[[], str]
    status: Remote[[], WorkerStatus]
    facts: Remote[[], Facts]
    prepare: Remote[[], None]
    has: Remote[[str], bool]
    benchmark: Remote[[Artifact, dict[str, Artifact], dict[str, Mapping[str, object]], dict[str, object],
                       dict[str, list[int]] | None, int], RawRun]
    cool_down: Remote[[dict[str, object]], float]
    temperatures: Remote[[], dict[str, float]]


class RegistryHandle(Protocol):
    """The registry actor's handle (harness.farm.cluster.Registry's methods, called through Ray)."""

    info: Remote[[], dict[str, object]]
    register: Remote[[AgentEntry], str | None]
    agents: Remote[[], list[AgentEntry]]
    has: Remote[[str], bool]
    stopped: Remote[[str, str], None]
    leave: Remote[[str], None]
