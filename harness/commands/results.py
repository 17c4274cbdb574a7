"""`harness results`: read the database as a table, Markdown, CSV, JSON or Parquet."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from errors import UserError, clean
from harness.commands.options import db_arg

if TYPE_CHECKING:
    from harness.store.db import ResultsDB
    from harness.store.results import Measurement


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from harness.reporting.render import add_format_arg

    p = sub.add_parser("results", help="show stored measurements (table, md, csv, json, parquet)")
    p.add_argument("--db", default=None, type=db_arg, help="results database (default: results.db or $HARNESS_DB)")
    p.add_argument("--run", help="run id (default: the latest run, finished or in progress)")
    p.add_argument("--all", action="store_true", help="every run, not only the latest")
    p.add_argument("--list-runs", action="store_true",
                   help="list runs (id, status, rows, label) instead of measurements")
    p.add_argument("--runs", action="store_true", dest="runs_deprecated",
                   help="deprecated spelling of --list-runs (run's --runs is the minimum number of timed runs)")
    add_format_arg(p, extra=("parquet",))
    p.add_argument("--out", help="write to this file instead of stdout (required for parquet)")
    p.set_defaults(func=cmd_results)


def _runs_rows(db: ResultsDB) -> list[list[str]]:
    rows = []
    for r in db.runs():
        n = len(db.measurements(r.run_id))
        rows.append([r.run_id, r.status, str(n), r.label or "", r.git_revision or "-", r.host])
    return rows


RUNS_HEADERS = ["run", "status", "rows", "label", "git", "host"]


def cmd_results(args: argparse.Namespace) -> int:
    from harness.commands.options import check_not_db, default_db, open_db
    from harness.reporting.render import emit, render

    path = args.db or default_db()
    if args.format == "parquet" and not args.out:
        raise UserError("--format parquet: give --out FILE (Parquet is binary)")
    if args.out and Path(args.out).is_dir():
        raise UserError(f"--out {clean(args.out)}: a folder; give a file name")
    check_not_db("--out", args.out, path)
    if args.runs_deprecated:
        print("harness: note: `results --runs` is now `results --list-runs` (`--runs` stays for a while)",
              file=sys.stderr)
    db = open_db(path)
    try:
        if args.list_runs or args.runs_deprecated:
            if args.format == "parquet":
                raise UserError("--list-runs: --format parquet is for measurements; use table, md, csv or json")
            emit(render(args.format, RUNS_HEADERS, _runs_rows(db), title="runs"), args.out)
            return 0
        if args.all and args.run:
            raise UserError("--all and --run: give one (every run, or that run)")
        run = None
        if not args.all:
            run_id = args.run or db.latest_run_id()
            if run_id is None:
                raise UserError(f"{clean(path)}: the database has no runs yet (run `harness run` first)")
            run = db.get_run(run_id)  # UserError naming the id when it is unknown
        elif not db.runs():
            raise UserError(f"{clean(path)}: the database has no runs yet (run `harness run` first)")
        rows = db.measurements(run.run_id if run else None)
    finally:
        db.close()
    if run is not None and run.status != "finished":
        print(f"harness: run {run.run_id} is {run.status}: {len(rows)} measurements stored so far", file=sys.stderr)
    if args.format in ("table", "md"):
        from harness.reporting.tables import measurements_text

        by_run: dict[str, list[Measurement]] = {}
        for m in rows:
            by_run.setdefault(m.run_id, []).append(m)
        text = "".join(measurements_text(mine, args.format, title_prefix=f"run {rid} · ")
                       for rid, mine in by_run.items())
        emit(text or f"run {run.run_id if run else '(all)'}: no measurements stored yet\n", args.out)
        return 0
    if args.format == "json":
        emit(json.dumps([m.to_dict() for m in rows], indent=1), args.out)
        return 0
    from harness.store.export import to_frame

    frame = to_frame(rows)
    if args.format == "csv":
        emit(frame.to_csv(index=False), args.out)
    else:
        try:
            frame.to_parquet(args.out, index=False)
        except OSError as exc:
            raise UserError(f"--out {clean(args.out)}: {exc.strerror or exc}") from None
    return 0
