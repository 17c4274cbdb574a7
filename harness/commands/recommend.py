"""`harness recommend`: which variant to ship on each device, under a budget, from stored results."""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from errors import UserError, clean

if TYPE_CHECKING:
    from harness.planning.budget import Budget
    from harness.store.db import ResultsDB
    from harness.store.results import Measurement

BUDGET_FLAGS = {"p50_ms": "--p50", "p99_ms": "--p99", "accuracy_drop": "--accuracy-drop", "size_mb": "--size",
                "memory_mb": "--memory", "energy_mj": "--energy"}
NIGHT_SKIP = ("nightly:interrupted", "nightly:confirm")  # not nights of their own
DEFAULT_NIGHTS = 5


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from harness.reporting.render import add_format_arg

    p = sub.add_parser("recommend", help="which variant to ship on each device under a latency, size and "
                                         "accuracy budget (Pareto front, the choice, every rejection)")
    p.add_argument("--db", default=None, help="results database (default: results.db or $HARNESS_DB)")
    p.add_argument("--run", action="append", metavar="RUN_ID",
                   help="run to judge (repeat to pool runs, e.g. a plain run and a --sustained one; "
                        "default: the latest run)")
    p.add_argument("--nightly", action="store_true",
                   help="the nightly series (the last --nights nights): each variant judged at its worst "
                        "night, recommended only when present and valid on every night and its latest "
                        "verdict against the night before is not inconclusive")
    p.add_argument("--nights", type=int, default=DEFAULT_NIGHTS, metavar="N",
                   help=f"with --nightly: how many recent nights the series holds (default {DEFAULT_NIGHTS}; "
                        "fewer when fewer are stored)")
    p.add_argument("--devices", metavar="FILE",
                   help="devices file with `budget:` per device (default: the budgets stored with the run)")
    for key, flag in BUDGET_FLAGS.items():
        example = {"p50_ms": "20ms", "p99_ms": "30ms", "accuracy_drop": "0.5pt, 0.3dB or 1%",
                   "size_mb": "5MB", "memory_mb": "100MB", "energy_mj": "2mJ"}[key]
        p.add_argument(flag, dest=f"budget_{key}", metavar="VALUE",
                       help=f"budget on every device, over devices.yaml's (e.g. {example})")
    add_format_arg(p)
    p.add_argument("--html", metavar="FILE", help="also write the recommendation with a Pareto plot per device")
    p.set_defaults(func=cmd_recommend)


def flag_budget(args: argparse.Namespace) -> Budget:
    """The budget flags, each parsed; a bad one is one line naming the flag as typed."""
    from harness.planning.budget import AccuracyDrop, BudgetError, budget_of, parse_value

    values: dict[str, float | AccuracyDrop] = {}
    for key, flag in BUDGET_FLAGS.items():
        raw = getattr(args, f"budget_{key}", None)
        if raw is None:
            continue
        try:
            values[key] = parse_value(key, raw)
        except BudgetError as exc:
            raise UserError(f"{flag}: {exc}") from None
    return budget_of(values)


def file_budgets(devices: Sequence[Mapping[str, object]], where: str) -> dict[str, Budget]:
    """{device name: Budget} from devices entries (a devices file's, or a run's stored plan)."""
    from harness.planning.budget import BudgetError, parse_budget

    out = {}
    for d in devices:
        if d.get("budget"):
            try:
                out[str(d.get("name"))] = parse_budget(d["budget"])
            except BudgetError as exc:
                raise UserError(f"{where}: device {clean(str(d.get('name')), 60)}: budget.{exc}") from None
    return out


def _nightly(db: ResultsDB, count: int = DEFAULT_NIGHTS) -> tuple[list[str], dict[tuple[str, str, str], str]]:
    """The last `count` nights (oldest first) and, per key, why the latest night's verdict against the
    night before is inconclusive."""
    from harness.statistics.compare import compare_runs

    nights = [r for r in db.runs() if (r.label or "").startswith("nightly:") and r.label not in NIGHT_SKIP]
    if not nights:
        raise UserError(f"--nightly: {clean(str(db.path))} has no nightly runs (run `harness nightly` first)")
    nights.sort(key=lambda r: r.created_at)
    latest = nights[-1]
    inconclusive: dict[tuple[str, str, str], str] = {}
    if latest.label == "nightly:uncomparable":
        for m in db.measurements(latest.run_id):
            inconclusive[(m.device, m.model, m.variant)] = f"night {latest.run_id} labelled uncomparable"
    elif len(nights) >= 2:
        for k in compare_runs(db.measurements(nights[-2].run_id), db.measurements(latest.run_id)):
            if k.verdict == "inconclusive":
                why = k.latency.reason if k.latency and k.latency.reason else "within the noise"
                inconclusive[(k.device, k.model, k.variant)] = f"vs night {nights[-2].run_id}: {why}"
    return [r.run_id for r in nights[-count:]], inconclusive


def load(args: argparse.Namespace) -> tuple[list[Measurement], dict[str, Budget], dict[tuple[str, str, str], str],
                                           list[str]]:
    from harness.commands.options import open_db

    if args.nightly and args.run:
        raise UserError("--nightly and --run: give one (the latest night, or these runs)")
    nights = getattr(args, "nights", DEFAULT_NIGHTS)
    if not 1 <= nights <= 365:
        raise UserError(f"--nights: expected 1 to 365 (got {nights})")
    db = open_db(args.db)
    try:
        inconclusive: dict[tuple[str, str, str], str] = {}
        if args.nightly:
            run_ids, inconclusive = _nightly(db, nights)
        elif args.run:
            run_ids = list(dict.fromkeys(args.run))
            for r in run_ids:
                db.get_run(r)  # UserError naming an unknown id
        else:
            latest = db.latest_run_id()
            if latest is None:
                raise UserError(f"{clean(str(db.path))}: the database has no runs yet (run `harness run` first)")
            run_ids = [latest]
        rows = [m for r in run_ids for m in db.measurements(r)]
        plans = [db.get_run(r).plan for r in run_ids]
    finally:
        db.close()
    if args.devices:
        from harness.planning.config import load_devices

        devices = load_devices(args.devices).model_dump(mode="json")["devices"]
        budgets = file_budgets(devices, clean(args.devices))
    else:
        budgets = {}
        from harness.store.row_fields import facts

        for plan in plans:
            listed = facts(plan, "devices").get("devices")
            budgets.update(file_budgets(listed if isinstance(listed, list) else [], "stored run plan"))
    return rows, budgets, inconclusive, run_ids


def cmd_recommend(args: argparse.Namespace) -> int:
    from harness.planning.budget import Budget
    from harness.reporting import recommendation as out
    from harness.reporting.render import render
    from harness.statistics.recommend import candidates, recommend

    flags = flag_budget(args)  # bad flags fail before the database is read
    if args.html and Path(args.html).is_dir():
        raise UserError(f"--html {clean(args.html)}: a folder; give a file name")
    rows, budgets, inconclusive, run_ids = load(args)
    devices = list(dict.fromkeys(m.device for m in rows))
    merged = {d: budgets.get(d, Budget()).merged(flags) for d in devices}
    if args.nightly:
        from harness.statistics.recommend_series import recommend_series

        recs = recommend_series([(r, [m for m in rows if m.run_id == r]) for r in run_ids], merged, inconclusive)
        title = f"recommendation · nightly series of {len(run_ids)} night(s) {run_ids[0]} .. {run_ids[-1]}"
    else:
        recs = recommend(candidates(rows, inconclusive), merged)
        title = f"recommendation · run {', '.join(run_ids)}"
    if not recs:
        print(f"harness: {title}: no successful measurements to recommend from", file=sys.stderr)
        return 1
    if args.format == "json":
        data = [{"device": r.device, "model": r.model, "budget": r.budget.text(),
                 "chosen": r.chosen.variant if r.chosen else None, "reason": r.reason,
                 "variants": [dict(zip(out.HEADERS[2:], row[2:])) for row in out.rows([r])]} for r in recs]
        sys.stdout.write(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    elif args.format == "csv":
        sys.stdout.write(render("csv", out.HEADERS, out.rows(recs)))
    else:
        sys.stdout.write(render(args.format, out.SUMMARY_HEADERS, out.summary_rows(recs), title=title))
        sys.stdout.write("\n" + render(args.format, out.HEADERS, out.rows(recs), title="every variant"))
    if args.html:
        try:
            Path(args.html).write_text(out.page_html(recs, title))
        except OSError as exc:
            raise UserError(f"--html {clean(args.html)}: {exc.strerror or exc}") from None
        print(f"wrote {args.html}", file=sys.stderr)
    return 0
