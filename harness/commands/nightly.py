"""`harness nightly`: run the farm plan, compare with the last good night, confirm, report."""
from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from errors import UserError
from harness.commands.options import (add_db_arg, add_farm_arg, add_peak_probe_arg, check_db_for_writing, check_folder,
                                      csv_list, default_db, fraction, open_db, positive_int)

if TYPE_CHECKING:
    from harness.farm.coordinator import Farm
    from harness.planning.config import DevicesFile


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    n = sub.add_parser("nightly", help="run the farm plan, compare with the last good night, confirm, report")
    n.add_argument("--devices", metavar="FILE", help="the farm's devices file (required unless --accept)")
    add_farm_arg(n)
    n.add_argument("--pool", metavar="NAME[,NAME]",
                   help="measure on these pools (a device's `pool:` in devices.yaml), as `run --pool` does: each job "
                        "once, on whichever device of its pool is free; nights are compared per device that ran them")
    add_db_arg(n)
    n.add_argument("--models", help="comma-separated zoo names or model files (default: srcnn,fsrcnn,squeezenet)")
    n.add_argument("--variants", help="comma-separated passes (default: fp32,fp16,dr_int8,int8)")
    n.add_argument("--quick", action="store_true", help="two variants, short windows")
    n.add_argument("--out-dir", default="reports", help="where the HTML and Markdown reports go (default reports/)")
    n.add_argument("--threshold", type=fraction, default=0.02, help="smallest slowdown that counts (default 0.02)")
    n.add_argument("--repeat", type=positive_int, default=None, metavar="N",
                   help="measure each job N times, interleaved (default 3: one run a night cannot tell a "
                        "slowdown from this host's run-to-run noise)")
    n.add_argument("--cache-dir", help="artifact cache")
    add_peak_probe_arg(n)
    n.add_argument("--accept", metavar="RUN_ID", help="make this run the baseline (an intended slowdown) and exit")
    n.add_argument("--verbose", action="store_true",
                   help="show TensorFlow, converter and transport logs here (default: a log file named at the end)")
    n.set_defaults(func=cmd_nightly)


def cmd_nightly(args: argparse.Namespace) -> int:
    from harness.orchestration.nightly import ACCEPTED

    if args.accept:
        db = open_db(args.db)
        try:
            db.get_run(args.accept)
            db.set_run_label(args.accept, ACCEPTED)
        finally:
            db.close()
        print(f"run {args.accept} is now the baseline for the next night; the history starts again there")
        return 0
    if bool(args.devices) == bool(args.farm):
        raise UserError("nightly: give --devices FILE (the farm's devices file) or --farm HEAD:PORT, one of them")
    from harness.planning.config import load_devices

    farm = None
    if args.farm:
        from harness.farm.coordinator import Farm

        farm = Farm(args.farm)
    try:
        return _nightly(args, farm, farm.devices_file() if farm is not None else load_devices(args.devices))
    finally:
        if farm is not None:
            farm.close()


def _nightly(args: argparse.Namespace, farm: Farm | None, devices: DevicesFile) -> int:
    from harness.orchestration.nightly import NIGHTLY_REPEAT, run_nightly
    from harness.planning.plan import make_plan
    from harness.orchestration.progress import ProgressPrinter

    cache_dir = check_folder("--cache-dir", args.cache_dir, create=True)
    check_folder("--out-dir", args.out_dir, create=True)
    plan = make_plan(devices, models=csv_list(args.models, "--models"),
                     variants=csv_list(args.variants, "--variants"), quick=args.quick,
                     repeat=NIGHTLY_REPEAT if args.repeat is None else args.repeat, peak_probe=not args.no_peak_probe,
                     pools=tuple(csv_list(args.pool, "--pool") or ()))
    db_path = args.db or default_db()
    check_db_for_writing(db_path)  # refuse a damaged file and upgrade an old one before anything runs
    from harness.orchestration.quiet import quiet_logs

    with quiet_logs(args.verbose, name="nightly") as log_path, ProgressPrinter(enabled=False) as printer:
        result = run_nightly(plan, db_path, out_dir=args.out_dir, threshold=args.threshold, events=printer.event,
                             cache_dir=cache_dir, targets=farm)
    if log_path is not None:
        print(f"logs (TensorFlow, converter, transports): {log_path}", file=sys.stderr)
    if result.confirmed:
        print(f"nightly: {len(result.confirmed)} confirmed regression(s)", file=sys.stderr)
    return result.exit_code
