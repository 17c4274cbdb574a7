"""`harness history`: one device and model across runs, with step detection."""
from __future__ import annotations

import argparse

from harness.commands.options import add_db_arg, fraction, open_db


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    h = sub.add_parser("history", help="one device and model across runs, with step detection")
    add_db_arg(h)
    h.add_argument("--device", required=True, help="device name as in devices.yaml (or stored rows)")
    h.add_argument("--model", required=True, help="zoo name, model file path, or the file's name")
    h.add_argument("--variant", help="only this variant")
    h.add_argument("--metric", default="p50",
                   help="p50 (default), p90, p95, p99, peak_rss, peak_rss_delta, peak_footprint, "
                   "board_ram, energy, accuracy")
    h.add_argument("--threshold", type=fraction, default=None,
                   help="smallest relative step that counts (default 0.05; 0.005 for accuracy)")
    h.add_argument("--json", action="store_true", help="print JSON (same as --format json)")
    from harness.reporting.render import add_format_arg

    add_format_arg(h)
    h.set_defaults(func=cmd_history)


def cmd_history(args: argparse.Namespace) -> int:
    from harness.statistics.history import collect, render_json, render_text

    db = open_db(args.db)
    try:
        model, histories = collect(db, args.device, args.model, metric=args.metric, variant=args.variant,
                                   threshold=args.threshold)
    finally:
        db.close()
    if args.json or args.format == "json":
        print(render_json(args.device, model, args.metric, histories))
    elif args.format in ("md", "csv"):
        from harness.reporting.render import emit, render
        from harness.statistics.history import HISTORY_HEADERS, history_rows

        emit(render(args.format, HISTORY_HEADERS, history_rows(histories), title=f"{args.device} · {args.metric}"))
    else:  # plain lines at their natural width: no cell is ever cut
        print(render_text(args.device, model, args.metric, histories))
    return 0
