"""`harness agent`: join this lab host to the farm, serving the devices in its devices file."""
from __future__ import annotations

import argparse
import platform


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    a = sub.add_parser("agent", help="join this host to a device farm (Ray) and serve its devices")
    a.add_argument("--devices", metavar="FILE", required=True, help="the devices attached to this host")
    a.add_argument("--address", metavar="HEAD:PORT", required=True, help="the farm's Ray head (see `harness farm up`)")
    a.add_argument("--name", help="this agent's name in results (default: the host name)")
    a.add_argument("--num-cpus", type=int, default=1, help="CPUs Ray may schedule here (default 1; jobs take none)")
    a.add_argument("--node-ip-address", help="this host's address as the other hosts reach it (default: Ray's guess)")
    a.add_argument("--ray-start-arg", action="append", default=[], metavar="ARG",
                   help="passed to `ray start` (repeatable), e.g. --ray-start-arg=--node-manager-port=6380")
    a.set_defaults(func=cmd_agent)


def cmd_agent(args: argparse.Namespace) -> int:
    from harness.farm.agent import run_agent
    from harness.planning.config import load_devices

    devices = load_devices(args.devices)
    return run_agent(devices, args.address, name=args.name or platform.node(), num_cpus=args.num_cpus,
                     node_ip=args.node_ip_address, extra_args=args.ray_start_arg)
