"""`harness report`, `compare`, `history`, `nightly` and `serve`: reading results back out."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from harness.errors import UserError


def _db_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", default=None, help="results database (default: results.db or $HARNESS_DB)")


def open_db(path_arg: str | None):
    """An existing results database; a note on stderr when an older schema was just upgraded."""
    from harness.cmd_run import default_db
    from harness.db import ResultsDB

    path = path_arg or default_db()
    if not Path(path).exists():
        raise UserError(f"{path}: no results database (run `harness run` first, or pass --db)")
    db = ResultsDB(path)
    if db.upgraded_from is not None:
        print(f"harness: upgraded {path} from schema {db.upgraded_from} to {db.schema_version}; "
              "every row is kept", file=sys.stderr)
    return db


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write one run as a self-contained HTML page or a Markdown summary")
    _db_arg(p)
    p.add_argument("--run", help="run id (default: the latest run)")
    p.add_argument("--format", choices=["html", "md"], default=None,
                   help="html (default; md when --out ends in .md)")
    p.add_argument("--out", help="file to write (default: report.html, or stdout for md)")
    p.add_argument("--against", metavar="RUN_ID", help="add a comparison with this earlier run")
    p.set_defaults(func=cmd_report)

    c = sub.add_parser("compare", help="change of median latency per device/model/variant between two runs")
    c.add_argument("run_a", metavar="RUN_A", help="the earlier run (baseline)")
    c.add_argument("run_b", metavar="RUN_B", help="the later run")
    _db_arg(c)
    c.add_argument("--threshold", type=float, default=0.02, help="smallest change that counts (default 0.02 = 2%%)")
    c.add_argument("--json", action="store_true", help="print JSON")
    c.add_argument("--fail-on-slower", action="store_true", help="exit 1 when anything is slower")
    c.set_defaults(func=cmd_compare)

    h = sub.add_parser("history", help="one device and model across runs, with step detection")
    _db_arg(h)
    h.add_argument("--device", required=True)
    h.add_argument("--model", required=True, help="zoo name, model file path, or the file's name")
    h.add_argument("--variant", help="only this variant")
    h.add_argument("--metric", default="p50", help="p50 (default), p90, p99, peak_rss, energy, accuracy")
    h.add_argument("--threshold", type=float, default=None,
                   help="smallest relative step that counts (default 0.05; 0.005 for accuracy)")
    h.add_argument("--json", action="store_true", help="print JSON")
    h.set_defaults(func=cmd_history)

    n = sub.add_parser("nightly", help="run the farm plan, compare with the last good night, confirm, report")
    n.add_argument("--devices", metavar="FILE", help="the farm's devices file (required unless --accept)")
    _db_arg(n)
    n.add_argument("--models", help="comma-separated zoo names or model files (default: srcnn,fsrcnn,squeezenet)")
    n.add_argument("--variants", help="comma-separated passes (default: fp32,fp16,dr_int8,int8)")
    n.add_argument("--quick", action="store_true", help="two variants, short windows")
    n.add_argument("--out-dir", default="reports", help="where the HTML and Markdown reports go (default reports/)")
    n.add_argument("--threshold", type=float, default=0.02, help="smallest slowdown that counts (default 0.02)")
    n.add_argument("--cache-dir", help="artifact cache")
    n.add_argument("--accept", metavar="RUN_ID", help="make this run the baseline (an intended slowdown) and exit")
    n.set_defaults(func=cmd_nightly)

    s = sub.add_parser("serve", help="a local web page and JSON/SSE API that follow runs live")
    _db_arg(s)
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others need a token)")
    s.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    s.add_argument("--token", default=None, help="token for non-loopback binds (default: $HARNESS_TOKEN or random)")
    s.set_defaults(func=cmd_serve)


def _resolve_run(db, run_id: str | None) -> str:
    if run_id:
        db.get_run(run_id)  # UserError naming the id when it is unknown
        return run_id
    latest = db.latest_run_id()
    if latest is None:
        raise UserError(f"{db.path}: the database has no runs yet (run `harness run` first)")
    return latest


def cmd_report(args: argparse.Namespace) -> int:
    from harness.compare import compare_runs
    from harness.report import render_html, render_markdown

    fmt = args.format or ("md" if args.out and args.out.endswith(".md") else "html")
    db = open_db(args.db)
    try:
        run_id = _resolve_run(db, args.run)
        run, rows = db.get_run(run_id), db.measurements(run_id)
        comparison = None
        if args.against:
            db.get_run(args.against)
            comparison = compare_runs(db.measurements(args.against), rows)
    finally:
        db.close()
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


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.compare import COMPARISON_HEADERS, compare_runs, comparison_rows

    db = open_db(args.db)
    try:
        for rid in (args.run_a, args.run_b):
            db.get_run(rid)
        a, b = db.measurements(args.run_a), db.measurements(args.run_b)
    finally:
        db.close()
    if not a and not b:
        raise UserError(f"runs {args.run_a} and {args.run_b} hold no measurements")
    items = compare_runs(a, b, threshold=args.threshold)
    if args.json:
        print(json.dumps([c.to_dict() for c in items], indent=1))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"{args.run_a} → {args.run_b}", title_justify="left")
        for h in COMPARISON_HEADERS:
            table.add_column(h, justify="left" if h in ("device", "model", "variant", "verdict") else "right")
        styles = {"slower": "bold red", "faster": "bold green"}
        for c, row in zip(items, comparison_rows(items)):
            table.add_row(*row, style=styles.get(c.verdict))
        Console().print(table)
        counts: dict[str, int] = {}
        for c in items:
            counts[c.verdict] = counts.get(c.verdict, 0) + 1
        print(", ".join(f"{n} {v}" for v, n in counts.items()))
    slower = any(c.verdict == "slower" for c in items)
    return 1 if slower and args.fail_on_slower else 0


def cmd_history(args: argparse.Namespace) -> int:
    from harness.history import collect, render_json, render_text

    db = open_db(args.db)
    try:
        model, histories = collect(db, args.device, args.model, metric=args.metric, variant=args.variant,
                                   threshold=args.threshold)
    finally:
        db.close()
    render = render_json if args.json else render_text
    print(render(args.device, model, args.metric, histories))
    return 0


def cmd_nightly(args: argparse.Namespace) -> int:
    from harness.nightly import GOOD, run_nightly

    if args.accept:
        db = open_db(args.db)
        try:
            db.get_run(args.accept)
            db.set_run_label(args.accept, GOOD)
        finally:
            db.close()
        print(f"run {args.accept} is now the baseline for the next night")
        return 0
    if not args.devices:
        raise UserError("nightly: give --devices FILE (the farm's devices file)")
    from harness.cmd_run import _csv, default_db
    from harness.config import load_devices
    from harness.plan import make_plan
    from harness.progress import ProgressPrinter

    plan = make_plan(load_devices(args.devices), models=_csv(args.models), variants=_csv(args.variants),
                     quick=args.quick)
    db_path = args.db or default_db()
    if Path(db_path).exists():
        open_db(db_path).close()  # upgrade an old file now, with its note, before anything runs
    with ProgressPrinter(enabled=False) as printer:
        result = run_nightly(plan, db_path, out_dir=args.out_dir, threshold=args.threshold, events=printer.event,
                             cache_dir=Path(args.cache_dir) if args.cache_dir else None)
    if result.confirmed:
        print(f"nightly: {len(result.confirmed)} confirmed regression(s)", file=sys.stderr)
    return result.exit_code


def cmd_serve(args: argparse.Namespace) -> int:
    import time

    from harness.live import LiveServer

    from harness.cmd_run import default_db

    path = args.db or default_db()
    if Path(path).exists():
        open_db(path).close()  # upgrade an old file now, with its note
    token = args.token or os.environ.get("HARNESS_TOKEN") or None
    server = LiveServer(path, host=args.host, port=args.port, token=token).start()
    print(f"harness serve: {server.url}  (Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
