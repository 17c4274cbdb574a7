"""`harness report`: one run as a self-contained HTML page or a Markdown summary."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from errors import UserError
from harness.commands.options import add_db_arg, check_not_db, open_db, resolve_run


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("report", help="write one run as a self-contained HTML page or a Markdown summary")
    add_db_arg(p)
    p.add_argument("--run", help="run id (default: the latest run)")
    p.add_argument("--format", choices=["html", "md"], default=None,
                   help="html (default; md when --out ends in .md)")
    p.add_argument("--out", help="file to write (default: report.html, or stdout for md)")
    p.add_argument("--against", metavar="RUN_ID", help="add a comparison with this earlier run")
    p.add_argument("--timeline", metavar="DEVICE/MODEL/VARIANT",
                   help="html: add power and temperature over the run for this row (every sample it kept)")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from harness.statistics.compare import compare_runs
    from harness.reporting.report import render_html, render_markdown

    fmt = args.format or ("md" if args.out and args.out.endswith(".md") else "html")
    check_not_db("--out", args.out or ("report.html" if fmt == "html" else None), args.db)
    db = open_db(args.db)
    try:
        run_id = resolve_run(db, args.run)
        run, rows = db.get_run(run_id), db.measurements(run_id)
        comparison = None
        if args.against:
            db.get_run(args.against)
            comparison = compare_runs(db.measurements(args.against), rows)
    finally:
        db.close()
    if args.timeline is not None:
        from harness.reporting.timeline import find_row

        if fmt == "md":
            raise UserError("--timeline: the plot needs --format html")
        row = find_row(rows, args.timeline)
        text = render_html(run, rows, comparison=comparison, baseline_id=args.against, timeline=row)
    else:
        render = render_markdown if fmt == "md" else render_html
        text = render(run, rows, comparison=comparison, baseline_id=args.against)
    out = args.out or ("report.html" if fmt == "html" else None)
    if out is None:
        sys.stdout.write(text)
        return 0
    try:
        Path(out).write_text(text)
    except OSError as exc:
        raise UserError(f"--out {out}: {exc.strerror or exc}") from None
    print(f"wrote {out} (run {run_id}, {len(rows)} results)")
    return 0
