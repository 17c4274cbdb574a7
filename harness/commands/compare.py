"""`harness compare`: change of median latency per device/model/variant between two runs."""
from __future__ import annotations

import argparse
import json

from errors import UserError
from harness.commands.options import add_db_arg, default_db, fraction, open_db, rounds_arg

INTERLEAVED_ROUNDS_DEFAULT = 5


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    c = sub.add_parser("compare", help="change of median latency per device/model/variant between two runs")
    c.add_argument("run_a", metavar="RUN_A", help="the earlier run (baseline)")
    c.add_argument("run_b", metavar="RUN_B", help="the later run")
    add_db_arg(c)
    c.add_argument("--threshold", type=fraction, default=0.02, help="smallest change that counts (default 0.02 = 2%%)")
    from harness.reporting.render import add_format_arg

    add_format_arg(c)
    c.add_argument("--json", action="store_true", help="print JSON (the full comparison records)")
    c.add_argument("--fail-on-slower", action="store_true", help="exit 1 when anything is slower")
    c.add_argument("--remeasure", type=rounds_arg, nargs="?", const=INTERLEAVED_ROUNDS_DEFAULT, metavar="ROUNDS",
                   help="measure both runs' model files again side by side on the device that measured them, "
                        "whole rounds interleaved (A B A B ...), and judge on the paired rounds: two runs "
                        f"measured apart do not share the host's level (default {INTERLEAVED_ROUNDS_DEFAULT} "
                        "rounds, 3-50)")
    c.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.statistics.compare import COMPARISON_HEADERS, compare_runs, comparison_notes, comparison_rows

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
    extra_notes: list[str] = []
    if args.remeasure:
        from harness.orchestration.interleave import remeasure_runs

        items, extra_notes, new_run = remeasure_runs(args.db or default_db(), args.run_a, args.run_b,
                                                     rounds=args.remeasure, threshold=args.threshold)
        extra_notes.insert(0, f"measured again side by side ({args.remeasure} interleaved rounds, run "
                              f"{new_run or '-'}); verdicts on the paired rounds, not on the stored runs")
    if args.json:
        print(json.dumps([c.to_dict() for c in items], indent=1))
    else:
        from harness.reporting.render import emit, render

        styles = {"slower": "bold red", "faster": "bold green", "inconclusive": "yellow"}
        emit(render(args.format, COMPARISON_HEADERS, comparison_rows(items), title=f"{args.run_a} → {args.run_b}",
                    styles=[styles.get(c.verdict) for c in items]))
        if args.format != "table":
            return 1 if args.fail_on_slower and any(c.verdict == "slower" for c in items) else 0
        counts: dict[str, int] = {}
        for c in items:
            counts[c.verdict] = counts.get(c.verdict, 0) + 1
        print(", ".join(f"{n} {v}" for v, n in counts.items()))
        for note in extra_notes + comparison_notes(items):
            print(f"note: {note}")
    slower = any(c.verdict == "slower" for c in items)
    return 1 if slower and args.fail_on_slower else 0
