"""`harness devices [list|setup]`: which devices answer, with their facts; prepare boards."""
from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from errors import UserError
from harness.commands.options import add_devices_arg, add_farm_arg, load_devices_arg, tcp_port

if TYPE_CHECKING:
    from harness.planning.config import Device


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    d = sub.add_parser("devices", help="which devices answer, with their facts; `devices setup` prepares boards; "
                                       "`devices discover` lists attached phones as devices.yaml entries")
    d.add_argument("action", nargs="?", default="list", choices=["list", "setup", "discover"],
                   help="list (default); setup: prepare boards (venv, runtime, runner); "
                        "discover: attached adb devices as ready-to-paste devices.yaml entries")
    d.add_argument("--adb-port", type=tcp_port, default=5037, help="adb server port for discover (default 5037)")
    add_devices_arg(d)
    add_farm_arg(d)
    d.add_argument("--json", action="store_true", help="print facts as JSON (all of them)")
    from harness.reporting.render import add_format_arg

    add_format_arg(d)
    d.set_defaults(func=cmd_devices)


SSH_KINDS = ("raspberry_pi", "jetson")


def readiness(dev: Device, facts: Mapping[str, object]) -> tuple[str, str | None]:
    """("ok", None), or ("not set up", what is missing and the command that fixes it)."""
    missing = []
    if "runtime" in facts and not facts.get("runtime"):
        missing.append("no TFLite interpreter")
    if "numpy" in facts and facts.get("numpy") is None:
        missing.append("no numpy")
    if not missing:
        return "ok", None
    if dev.kind in SSH_KINDS:
        fix = "`harness devices setup` installs them"
    else:
        python = getattr(dev, "python", None) or "this Python"
        fix = f"pip install ai-edge-litert numpy into {python}"
    return "not set up", f"{', '.join(missing)}: {fix}"


def cmd_devices(args: argparse.Namespace) -> int:
    import json

    from devices.registry import build_target

    if args.farm:
        return _farm_devices(args)
    if args.action == "discover":
        return _discover(args.adb_port)
    devices = load_devices_arg(args.devices)
    rows: list[dict[str, object]] = []
    worst = 0
    for dev in devices.enabled:
        try:
            target = build_target(dev)
            try:
                if args.action == "setup":
                    from devices.setup import setup_target

                    facts = setup_target(target)
                else:
                    facts = target.facts()
            finally:
                target.close()
            status, problem = readiness(dev, facts)
            row: dict[str, object] = {"device": dev.name, "kind": dev.kind, "status": status, **facts}
            if problem:
                worst = 1
                row["problem"] = problem
            rows.append(row)
        except UserError:
            raise
        except Exception as exc:
            worst = 1
            msg = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            prefix = f"{dev.name}: "
            rows.append({"device": dev.name, "kind": dev.kind, "status": "unreachable",
                         "error": msg[len(prefix):] if msg.startswith(prefix) else msg})
    load = None
    if any(r["kind"] == "local" for r in rows):  # a job on this host shares its CPUs with everything else
        from harness.orchestration.hostload import current_load

        load = current_load()
        for r in rows:
            if r["kind"] == "local":
                r["host_load"] = load
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        from harness.reporting.tables import print_devices, print_setup_steps

        print_devices([{k: v for k, v in r.items() if k != "host_load"} for r in rows], args.format)
        if args.action == "setup":
            print_setup_steps(rows)
        if load is not None and args.format == "table":
            from harness.orchestration.hostload import load_text

            import textwrap

            print(textwrap.fill(load_text(load), width=100, subsequent_indent="  "))
    if args.action == "setup":
        _setup_notes(rows, args.devices or "devices.yaml")
    return worst


def _farm_devices(args: argparse.Namespace) -> int:
    """Every host and device of the farm, busy or free, with the facts each agent gave at join."""
    import json

    from harness.farm.coordinator import Farm

    if args.action != "list" or args.devices:
        raise UserError("--farm: only `harness devices list` (set boards up on their own host, without --farm)")
    farm = Farm(args.farm)
    try:
        rows = farm.describe()
    finally:
        farm.close()
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        from harness.reporting.tables import print_devices

        print_devices(rows, args.format)
    # An agent stopped on purpose (SIGTERM, Ctrl-C) is not a fault; a host that died or froze ("host down") is.
    return 0 if rows and all(r["status"] in ("free", "busy", "stopped") for r in rows) else 1


NOTHING = "nothing to install"


def _setup_notes(rows: list[dict[str, object]], where: str) -> None:
    """One plain line when no device needed anything (print_setup_steps lists what each one did)."""
    import sys

    from errors import clean

    def nothing_done(steps: object) -> bool:
        return any(str(step).startswith(NOTHING) for step in steps) if isinstance(steps, list) and steps else True

    ok = [r for r in rows if r["status"] == "ok"]
    if ok and all(nothing_done(r.get("setup")) for r in ok):
        print(f"nothing to set up: no board reached over ssh among {len(ok)} device(s) of {clean(where)} "
              "(`devices setup` prepares Raspberry Pi and Jetson boards)", file=sys.stderr)


def _discover(port: int) -> int:
    """Attached adb devices and iPhones, each with a devices.yaml entry to paste."""
    import sys

    from devices.discover import adb_devices, ios_udids, ios_yaml_entry, yaml_entry
    from errors import DeviceError

    entries: list[str] = []
    problems = 0
    finders: tuple[tuple[str, Callable[[], list[str]]], ...] = (
        ("adb", lambda: [yaml_entry(d, port) for d in adb_devices(port=port)]),
        ("ios", lambda: [ios_yaml_entry(u, i) for i, u in enumerate(ios_udids())]))
    for _what, find in finders:
        try:
            entries += find()
        except DeviceError as exc:
            problems += 1
            print(f"harness: {exc}", file=sys.stderr)
    if not entries:
        print("no phone attached (plug one in with USB debugging on, `adb connect HOST:PORT`, or an unlocked, "
              "trusted iPhone)", file=sys.stderr)
        return 1 if problems == 2 else 0
    print("# paste under `devices:` in devices.yaml")
    for entry in entries:
        print(entry)
    return 0
