"""devices.yaml, validated once at load into typed objects; every problem is one UserError line."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from devices import config as models
from devices.config import BenchSettings, DeviceBase, SshBenchmarkModel, SshDevice, delegate_problem
from errors import UserError, clean, quote

__all__ = ["AndroidDevice", "BenchSettings", "Device", "DeviceBase", "DeviceConfig", "DevicesFile", "IosDevice",
           "JetsonDevice", "LocalDevice", "RaspberryPiDevice", "SshBenchmarkModel", "SshDevice", "delegate_problem",
           "load_devices", "local_only", "parse_devices"]

DEVICE_KINDS = ("local", "raspberry_pi", "jetson", "android", "ios")
MAX_FILE_BYTES = 1 << 20  # a devices file is a few kB; anything near this is not one
MAX_YAML_NODES = 100_000  # nodes after alias expansion: a billion-laughs file stops here, at once


# The device models live in devices/config.py (beside the platforms that read them); harness composes them,
# adding the budget check (harness/planning/budget.py), under the names every caller imports from here.
class _Budgeted(BaseModel):
    @field_validator("budget", check_fields=False)
    @classmethod
    def _budget(cls, v: dict[str, float | str] | None) -> dict[str, float | str] | None:
        from harness.planning.budget import BudgetError, parse_budget

        try:
            parse_budget(v)
        except BudgetError as exc:
            raise ValueError(str(exc)) from None
        return v


class LocalDevice(_Budgeted, models.LocalDevice):
    __doc__ = models.LocalDevice.__doc__


class RaspberryPiDevice(_Budgeted, models.RaspberryPiDevice):
    __doc__ = models.RaspberryPiDevice.__doc__


class JetsonDevice(_Budgeted, models.JetsonDevice):
    __doc__ = models.JetsonDevice.__doc__


class AndroidDevice(_Budgeted, models.AndroidDevice):
    __doc__ = models.AndroidDevice.__doc__


class IosDevice(_Budgeted, models.IosDevice):
    __doc__ = models.IosDevice.__doc__


Device = LocalDevice | RaspberryPiDevice | JetsonDevice | AndroidDevice | IosDevice
DeviceConfig = Annotated[Device, Field(discriminator="kind")]


class DevicesFile(BaseModel):
    """The whole devices.yaml: optional shared `defaults` for bench settings, then the devices."""

    model_config = ConfigDict(extra="forbid")

    defaults: dict[str, object] = Field(default_factory=dict)  # BenchSettings fields, each device's starting point
    devices: list[DeviceConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> DevicesFile:
        seen: set[str] = set()
        for dev in self.devices:
            if dev.name in seen:
                raise ValueError(f"device name '{dev.name}' appears twice")
            seen.add(dev.name)
        return self

    @property
    def enabled(self) -> list[Device]:
        return [d for d in self.devices if d.enabled]


def _loc(loc: tuple[int | str, ...], data: object) -> str:
    """Turn a pydantic error location into `devices[1] (name: pi).kind`."""
    out = ""
    node: object = data
    for part in loc:
        if isinstance(part, int):
            name = (node[part].get("name")
                    if isinstance(node, list) and part < len(node) and isinstance(node[part], dict) else None)
            out += f"[{part}]" + (f" ({clean(name, 40)})" if isinstance(name, str) and name else "")
            node = node[part] if isinstance(node, list) and part < len(node) else None
        elif part in DEVICE_KINDS:
            continue  # discriminator tag that pydantic inserts in the location
        else:
            out += ("." if out else "") + clean(str(part), 60)
            node = node.get(part) if isinstance(node, dict) else None
    return out or "(top level)"


def _format(err: ErrorDetails, data: object) -> str:
    where = _loc(tuple(err["loc"]), data)
    if err["type"] == "union_tag_invalid":
        ctx = err.get("ctx", {})
        kinds = ", ".join(DEVICE_KINDS)
        return f"{where}.kind: unknown device kind {quote(ctx.get('tag'), 60)} (expected one of {kinds})"
    if err["type"] == "union_tag_not_found":
        return f"{where}: missing field 'kind' (one of {', '.join(DEVICE_KINDS)})"
    if err["type"] == "missing":
        return f"{where}: missing required field"
    if err["type"] == "extra_forbidden":
        return f"{where}: unknown field"
    msg = err["msg"].removeprefix("Value error, ")
    value = err.get("input")
    return f"{where}: {msg} (got {quote(value)})" if not isinstance(value, (dict, list)) else f"{where}: {msg}"


def parse_devices(data: object, source: str = "devices.yaml") -> DevicesFile:
    """Validate already-parsed YAML; `defaults` fill every device's bench settings."""
    if data is None:
        raise UserError(f"{source}: empty file (expected a mapping with a 'devices' list)")
    if not isinstance(data, dict):
        raise UserError(f"{source}: expected a mapping with a 'devices' list, got {type(data).__name__}")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise UserError(f"{source}: defaults: expected a mapping")
    try:
        BenchSettings(**defaults)
    except ValidationError as exc:
        raise UserError(f"{source}: defaults.{_format(exc.errors()[0], defaults)}") from None
    devices = data.get("devices")
    if isinstance(devices, list):
        merged = []
        for dev in devices:
            if isinstance(dev, dict):
                dev = dict(dev)
                bench = dev.get("bench") or {}
                dev["bench"] = {**defaults, **bench} if isinstance(bench, dict) else bench
            merged.append(dev)
        data = {**data, "devices": merged}
    try:
        return DevicesFile(**data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise UserError(f"{source}: {_format(first, data)}") from None


def load_devices(path: str | os.PathLike[str]) -> DevicesFile:
    """Read and validate a devices file; a missing or malformed file is a UserError."""
    p = Path(path)
    name = clean(str(path))
    if not p.exists():
        raise UserError(f"{name}: no such file")
    if p.is_dir():
        raise UserError(f"{name}: a folder, not a devices file")
    try:
        with p.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise UserError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise UserError(f"{name}: larger than {MAX_FILE_BYTES >> 20} MiB; not a devices file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise UserError(f"{name}: not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line})") from None
    return parse_devices(safe_yaml(text, name), name)


def safe_yaml(text: str, source: str) -> object:
    """yaml.safe_load with alias expansion bounded: a billion-laughs file is refused before it is built."""
    loader = None
    try:
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, source, {}, set(), {"aliased": False})
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or (str(exc).splitlines() or ["?"])[0]
        raise UserError(f"{source}:{where}: malformed YAML: {clean(problem)}") from None
    except RecursionError:
        raise UserError(f"{source}: YAML nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


def _expanded_size(node: yaml.Node, source: str, memo: dict[int, int], active: set[int],
                   seen: dict[str, bool]) -> int:
    """Nodes the document holds once every alias is expanded; refused past MAX_YAML_NODES. A key given twice
    in one mapping is refused too (YAML keeps the last and drops the first without a word)."""
    key = id(node)
    if key in memo:
        seen["aliased"] = True  # a node reached twice: an alias
        return memo[key]
    if key in active:
        raise UserError(f"{source}: line {node.start_mark.line + 1}: a YAML alias refers to itself")
    active.add(key)
    size = 1
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            size += _expanded_size(child, source, memo, active, seen)
            if size > MAX_YAML_NODES:
                break
    elif isinstance(node, yaml.MappingNode):
        keys: dict[str, int] = {}
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge":
                if k.value in keys:
                    raise UserError(f"{source}: line {k.start_mark.line + 1}: key {quote(k.value, 60)} appears "
                                    f"twice in one mapping (first on line {keys[k.value]}); YAML would silently "
                                    "drop the first")
                keys[k.value] = k.start_mark.line + 1
            size += _expanded_size(k, source, memo, active, seen) + _expanded_size(v, source, memo, active, seen)
            if size > MAX_YAML_NODES:
                break
    active.discard(key)
    if size > MAX_YAML_NODES:
        if not seen["aliased"]:
            raise UserError(f"{source}: more than {MAX_YAML_NODES} values; a devices file holds a few entries "
                            "(is this the right file?)")
        raise UserError(f"{source}: YAML aliases expand to more than {MAX_YAML_NODES} values "
                        "(an alias bomb?); write the devices out")
    memo[key] = size
    return size


def local_only() -> DevicesFile:
    """The plan's default when no devices file is given: this host."""
    return DevicesFile(devices=[LocalDevice(name="local", kind="local")])


SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "devices.schema.json"


def devices_schema() -> dict[str, object]:
    """JSON Schema of devices.yaml, from these models, for editors (yaml-language-server) and CI.

    Regenerate the shipped copy with `python -m harness.planning.config`.
    """
    schema: dict[str, object] = DevicesFile.model_json_schema()
    defs, properties = schema["$defs"], schema["properties"]
    assert isinstance(defs, dict) and isinstance(properties, dict)  # pydantic's layout of a model's schema
    defs.setdefault("BenchSettings", BenchSettings.model_json_schema())
    properties["defaults"] = {
        "$ref": "#/$defs/BenchSettings",
        "description": "bench settings every device starts from (a device's own `bench` wins)",
    }
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "harness devices.yaml", **schema}


def schema_text() -> str:
    import json

    return json.dumps(devices_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    SCHEMA_PATH.parent.mkdir(exist_ok=True)
    SCHEMA_PATH.write_text(schema_text())
    print(f"wrote {SCHEMA_PATH}")
