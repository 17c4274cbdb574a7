"""`harness results`: read the database as a table, CSV, JSON or Parquet."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from errors import UserError, clean


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("results", help="show stored measurements (table, csv, json, parquet)")
    p.add_argument("--db", default=None, help="results database (default: results.db or $HARNESS_DB)")
    p.add_argument("--run", help="run id (default: the latest run)")
    p.add_argument("--all", action="store_true", help="every run, not only the latest")
    p.add_argument("--runs", action="store_true", help="list runs instead of measurements")
    p.add_argument("--format", choices=["table", "csv", "json", "parquet"], default="table")
    p.add_argument("--out", help="write to this file (required for parquet)")
    p.set_defaults(func=cmd_results)


def cmd_results(args: argparse.Namespace) -> int:
    from harness.commands.options import default_db, open_db
    from harness.store.export import to_frame

    path = args.db or default_db()
    if args.format == "parquet" and not args.out:
        raise UserError("--format parquet: give --out FILE (Parquet is binary)")
    if args.out and Path(args.out).is_dir():
        raise UserError(f"--out {clean(args.out)}: a folder; give a file name")
    db = open_db(path)
    try:
        if args.runs:
            for r in db.runs():
                n = len(db.measurements(r.run_id))
                print(f"{r.run_id}  {r.status:<11} {n:>4} rows  git {r.git_revision or '-'}  host {r.host}")
            return 0
        run_id = None if args.all else (args.run or db.latest_run_id())
        if run_id is None:
            raise UserError(f"{clean(path)}: the database has no runs yet")
        if args.run:
            db.get_run(args.run)
        rows = db.measurements(run_id)
    finally:
        db.close()
    if args.format == "table":
        from harness.reporting.tables import print_measurements

        print_measurements(rows, title_prefix=f"run {run_id} · " if run_id else "")
        return 0
    if args.format == "json":
        text = json.dumps([m.to_dict() for m in rows], indent=1)
        _write(text, args.out)
        return 0
    frame = to_frame(rows)
    if args.format == "csv":
        _write(frame.to_csv(index=False), args.out)
    else:
        try:
            frame.to_parquet(args.out, index=False)
        except OSError as exc:
            raise UserError(f"--out {clean(args.out)}: {exc.strerror or exc}") from None
    return 0


def _write(text: str, out: str | None) -> None:
    if out:
        try:
            Path(out).write_text(text)
        except OSError as exc:
            raise UserError(f"--out {clean(out)}: {exc.strerror or exc}") from None
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
