"""`harness run`: parse flags, call the library, print tables."""
from __future__ import annotations

import argparse
import shlex
import sys
from typing import TYPE_CHECKING

from errors import UserError, clean
from harness.store.pending import pending_path
from harness.commands.options import (add_db_arg, add_devices_arg, add_farm_arg, add_peak_probe_arg, add_retrain_arg,
                                      add_task_arg, apply_retrain, celsius, check_db_for_writing, check_folder, count,
                                      csv_list, default_db, duration, load_devices_arg, positive_int, positive_seconds,
                                      seconds, thread_count, input_shape)

if TYPE_CHECKING:
    from harness.farm.coordinator import Farm
    from harness.live.server import Events
    from harness.planning.plan import Plan

# What a stored plan fixes: these flags cannot change a resumed run (start a new run to change them).
PLAN_FLAGS = {"devices": "--devices", "models": "--models", "variants": "--variants", "quick": "--quick",
              "threads": "--threads", "min_runs": "--runs", "min_s": "--min-seconds", "max_s": "--max-seconds",
              "warmup_runs": "--warmup-runs", "warmup_s": "--warmup-seconds", "cooldown_s": "--cooldown",
              "cooldown_until_c": "--cooldown-until", "delegate": "--delegate", "images": "--images",
              "no_peak_probe": "--no-peak-probe", "repeat": "--repeat", "input_shape": "--input-shape",
              "sustained_s": "--sustained", "sustained_window_s": "--window", "retrain": "--retrain",
              "task": "--task", "pool": "--pool"}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="convert the model set into variants and benchmark them on every device")
    add_devices_arg(p)
    add_farm_arg(p)
    p.add_argument("--pool", metavar="NAME[,NAME]",
                   help="measure on these pools (a device's `pool:` in devices.yaml): each job runs once, on "
                        "whichever device of its pool is free, and moves to another one if its device goes offline")
    p.add_argument("--models", help="comma-separated zoo names or model files (default: srcnn,fsrcnn,squeezenet)")
    p.add_argument("--variants", help="comma-separated passes (default: fp32,fp16,dr_int8,int8)")
    p.add_argument("--threads", type=thread_count, help="interpreter threads (overrides devices file)")
    p.add_argument("--runs", type=positive_int, dest="min_runs", help="minimum timed runs (default 50)")
    p.add_argument("--min-seconds", type=seconds, dest="min_s", help="minimum timed seconds (default 1)")
    p.add_argument("--max-seconds", type=positive_seconds, dest="max_s", help="maximum timed seconds (default 150)")
    p.add_argument("--warmup-runs", type=count, dest="warmup_runs", help="warm-up runs (default 1)")
    p.add_argument("--warmup-seconds", type=seconds, dest="warmup_s", help="warm-up seconds (default 0.5)")
    p.add_argument("--cooldown", type=seconds, dest="cooldown_s", help="seconds to rest between jobs (default 2)")
    p.add_argument("--cooldown-until", type=celsius, dest="cooldown_until_c",
                   help="also wait until the hottest zone is below this many C")
    p.add_argument("--sustained", type=duration, dest="sustained_s", metavar="DURATION",
                   help="sustained mode: run each model this long without stopping (10m, 90s, 1h) and record "
                        "latency and temperatures in windows: cold vs steady p50, time to the first throttle")
    p.add_argument("--window", type=duration, dest="sustained_window_s", metavar="DURATION",
                   help="sustained mode: window length (default: the duration / 20)")
    p.add_argument("--delegate", choices=["xnnpack", "none", "gpu", "nnapi"], help="delegate (default xnnpack)")
    add_db_arg(p)
    p.add_argument("--quick", action="store_true", help="two variants, short windows: about a minute")
    p.add_argument("--repeat", type=positive_int, default=None, metavar="N",
                   help="measure each job N times, interleaved across variants (A B C A B C); "
                        "prints the run-to-run spread of the N medians")
    p.add_argument("--input-shape", action="append", type=input_shape, metavar="NAME=1x224x224x3",
                   help="the shape to run an input with a dynamic dimension at (repeatable; by input name)")
    p.add_argument("--resume", metavar="RUN_ID", help="continue an interrupted run; measure only what is missing")
    p.add_argument("--cache-dir", help="artifact cache (default ~/.cache/harness/artifacts)")
    p.add_argument("--images", help="folder of your own images for calibration and accuracy")
    add_task_arg(p)
    add_retrain_arg(p)
    add_peak_probe_arg(p)
    p.add_argument("--no-progress", action="store_true", help="plain log lines instead of a progress bar")
    p.add_argument("--verbose", action="store_true",
                   help="show TensorFlow, converter and transport logs here (default: a log file named at the end)")
    p.add_argument("--live", nargs="?", const="127.0.0.1:8765", metavar="HOST:PORT",
                   help="follow the run in a browser (default 127.0.0.1:8765; other hosts get a token)")
    p.add_argument("--on-device", metavar="SERIAL", help="follow the run on this Android phone (implies --live): "
                   "adb reverse to the live server, then the companion app's Live screen or the browser")
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    db_path = args.db or default_db()
    farm = None
    if args.farm:
        if args.devices:
            raise UserError("--farm: the farm's devices are its agents' devices; drop --devices")
        from harness.farm.coordinator import Farm

        farm = Farm(args.farm)
    try:
        return _run(args, db_path, farm)
    finally:
        if farm is not None:
            farm.close()


def _run(args: argparse.Namespace, db_path: str, farm: Farm | None) -> int:
    from harness.orchestration import orchestrate
    from harness.planning.plan import make_plan
    from harness.orchestration.progress import ProgressPrinter
    from harness.reporting.tables import print_run_tables

    cache_dir = check_folder("--cache-dir", args.cache_dir, create=True)
    if args.resume:
        plan = _resumed_plan(args, db_path, farm)
    else:
        apply_retrain(args)
        images = check_folder("--images", args.images)
        devices = farm.devices_file() if farm is not None else load_devices_arg(args.devices)
        overrides = {k: getattr(args, k) for k in
                     ("threads", "min_runs", "min_s", "max_s", "warmup_runs", "warmup_s", "cooldown_s",
                      "cooldown_until_c", "delegate", "sustained_s", "sustained_window_s")}
        plan = make_plan(devices, models=csv_list(args.models, "--models"),
                         variants=csv_list(args.variants, "--variants"), quick=args.quick,
                         overrides=overrides, image_dir=str(images) if images else None,
                         peak_probe=not args.no_peak_probe, repeat=args.repeat or 1,
                         input_shapes=dict(args.input_shape or []), task=args.task,
                         pools=tuple(csv_list(args.pool, "--pool") or ()))
    check_db_for_writing(db_path)  # a damaged or foreign file is refused before anything is converted
    printer = ProgressPrinter(enabled=not args.no_progress)
    events: Events = printer.event
    live, phone = None, None
    if args.on_device and not args.live:
        args.live = "127.0.0.1:8765"
    if args.live:
        from harness.live.server import start_live

        live, events = start_live(db_path, args.live, printer.event)
    from harness.orchestration.quiet import quiet_logs

    try:
        if args.on_device and live is not None:  # --on-device started the live server just above
            from harness.live.phone import open_on_phone

            try:
                phone = open_on_phone(args.on_device, args.devices, live)
            except UserError as exc:
                if exc.exit_code == 2:
                    raise  # bad input: nothing runs
                # The phone cannot show the page: the measurements matter more than the view of them.
                print(f"harness: warning: {exc}; measuring without the live view on the phone", file=sys.stderr)
        with quiet_logs(args.verbose) as log_path, printer:
            summary = orchestrate.run(plan, db_path, resume=args.resume, events=events,
                                      cache_dir=cache_dir, targets=farm)
    finally:
        if phone is not None:
            phone.close()
        if live is not None:
            live.stop()
    print_run_tables(summary.run_id, db_path)
    if summary.results and any((m.extra or {}).get("sustained") for m in summary.results):
        from harness.reporting.sustained import lines

        print("\n".join(lines(summary.results)))
    if plan.repeat > 1:
        from harness.reporting.tables import print_repeat_spread

        print_repeat_spread(summary.run_id, db_path)
    print(f"run {summary.run_id}: {summary.measured} measured, {summary.errors} errors, "
          f"{summary.skipped} already done, {summary.converted} converted; database {db_path}")
    if log_path is not None:
        print(f"logs (TensorFlow, converter, transports): {log_path}", file=sys.stderr)
    farm_arg = f" --farm {shlex.quote(args.farm)}" if farm is not None else ""
    resume = f"harness run --resume {shlex.quote(summary.run_id)}{farm_arg} --db {shlex.quote(str(db_path))}"
    if summary.kept:
        print(f"{summary.kept} measurements could not be stored and are kept in "
              f"{shlex.quote(str(pending_path(db_path)))}: `{resume}` stores them without measuring again")
    if summary.interrupted:
        print(f"interrupted: resume with `{resume}`")
        return 130
    return 1 if summary.errors or summary.kept else 0  # README: 1 when some rows failed (a farm's dead host too)


def _resumed_plan(args: argparse.Namespace, db_path: str, farm: Farm | None) -> Plan:
    """The stored plan of run `--resume`; flags that would change it are refused, not ignored."""
    from harness.commands.options import open_db
    from harness.planning.plan import Plan

    given = [flag for dest, flag in PLAN_FLAGS.items() if getattr(args, dest, None) not in (None, False)]
    if given:
        raise UserError(f"--resume: cannot be combined with {', '.join(given)} (a resumed run keeps its stored "
                        "plan; start a new run to change it)")
    db = open_db(db_path)
    try:
        run = db.get_run(args.resume)
        stored = run.plan
        hosts = sorted({m.host for m in db.measurements(args.resume) if m.host and m.host != run.host})
    finally:
        db.close()
    if "models" not in stored or "devices" not in stored:
        what = f" from a {clean(stored['imported'], 40)} log" if "imported" in stored else ""
        raise UserError(f"--resume {clean(args.resume, 60)}: run was imported{what}, not planned by "
                        "`harness run`; there is nothing to resume")
    if hosts and farm is None:  # its devices live on the agents, not here
        raise UserError(f"--resume {clean(args.resume, 60)}: this run was measured on a device farm (hosts "
                        f"{clean(', '.join(hosts[:5]), 120)}); resume it with --farm HEAD:PORT")
    plan = Plan.from_dict(stored)
    if plan.pools and farm is not None:  # a pool's devices are whichever of its members are live now
        from dataclasses import replace

        from harness.planning.plan import pool_members

        plan = replace(plan, devices=pool_members(farm.devices_file(), plan.pools, "--resume"))
    return plan
