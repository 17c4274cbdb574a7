"""`harness report`: one self-contained HTML page (figures inlined, no outside assets) or Markdown.

The HTML opens offline and from a mail attachment: styles are inline and every figure is an SVG
data URI. The Markdown is short enough for a pull-request comment or a chat message.
"""
from __future__ import annotations

import time
from collections.abc import Sequence

from harness.reporting import plots
from harness.reporting.html_parts import CSS, _e, _figure, _table
from harness.reporting.kept import KEPT_HEADERS, kept_rows
from harness.statistics.compare import (COMPARISON_HEADERS, KeyComparison, accuracy_name, accuracy_of,
                                        comparison_notes, comparison_rows, model_label)
from harness.store.results import SCHEMA_VERSION, Measurement, RunInfo
from harness.reporting.tables import (COMPUTE_PLAN_HEADERS, SINGLE_OP_HEADERS, accuracy_cell, compute_plan_rows,
                                      op_profile_headers, op_profile_note, size_text, spread_text, top_ops,
                                      top_single_ops, validity_flags)




def _ms(us: float | None) -> str:
    return "-" if us is None else f"{us / 1000:.3f}"


def _num(v: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if v is None else fmt.format(v)


def _validity(m: Measurement) -> str:
    if m.validity is None:
        return "-"
    return "ok" if m.validity.valid else "⚠ " + ", ".join(validity_flags(m))


# --- the tables under the figures -------------------------------------------------------------

def latency_rows(rows: Sequence[Measurement]) -> list[list[str]]:
    return [[m.device, model_label(m.model), m.variant, size_text(m.model_size_bytes), _ms(m.p50_us),
             _ms(m.p90_us), _ms(m.p99_us), spread_text(m), str(m.runs or "-"),
             _num(m.peak_rss_mb), _validity(m)] for m in plots.ok_rows(rows)]


LATENCY_HEADERS = ["device", "model", "variant", "size", "p50 ms", "p90 ms", "p99 ms", "spread", "runs", "peak MB",
                   "validity"]


def farm_run(run: RunInfo, rows: Sequence[Measurement]) -> bool:
    """Rows driven from another host than the run's (a device farm): tables then name each row's host."""
    return any(m.host and m.host != run.host for m in rows)


def with_hosts(headers: list[str], cells: list[list[str]], rows: Sequence[Measurement],
               on: bool) -> tuple[list[str], list[list[str]]]:
    """A leading host column, one cell per row in the order of `rows`, when `on`."""
    if not on:
        return headers, cells
    return ["host"] + headers, [[m.host or "-"] + c for m, c in zip(rows, cells)]


def ratio_rows(rows: Sequence[Measurement]) -> list[list[str]]:
    return [[r.device, model_label(r.model), r.variant, _num(r.speedup, "{:.2f}×"), _num(r.size_ratio, "{:.2f}×")]
            for r in plots.ratios(rows)]


def accuracy_rows(rows: Sequence[Measurement]) -> list[list[str]]:
    out = []
    ok = [(m, accuracy_of(m)) for m in plots.ok_rows(rows)]
    ok = [(m, a) for m, a in ok if a is not None]
    for key in dict.fromkeys((m.device, m.model) for m, _ in ok):
        mine = [(m, a) for m, a in ok if (m.device, m.model) == key]
        front = plots.pareto_front([(m.p50_us, a[1]) for m, a in mine])
        for i, (m, (name, value)) in enumerate(mine):
            out.append([m.device, model_label(m.model), m.variant, accuracy_name(name), f"{value:.4g}", _ms(m.p50_us),
                        "yes" if i in front else ""])
    return out


def energy_rows(rows: Sequence[Measurement]) -> list[list[str]]:
    return [[m.device, model_label(m.model), m.variant, _num(m.avg_power_mw), _num(m.energy_per_inference_mj, "{:.4g}"),
             ", ".join(sorted({p.source for p in m.power_samples if p.source})) or "-"]
            for m in plots.ok_rows(rows) if m.energy_per_inference_mj is not None]


def temperature_rows(rows: Sequence[Measurement]) -> list[list[str]]:
    return [[m.device, model_label(m.model), m.variant, _num(m.temp_before_c), _num(m.temp_after_c),
             _num(m.temp_max_c), "yes" if m.validity and not m.validity.no_throttling else "no"]
            for m in plots.ok_rows(rows) if m.temp_max_c is not None]


def _counts(rows: Sequence[Measurement]) -> tuple[int, int]:
    ok = sum(1 for m in rows if m.status == "ok")
    return ok, len(rows) - ok


def _verdicts(comparison: Sequence[KeyComparison]) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in comparison:
        out[c.verdict] = out.get(c.verdict, 0) + 1
    return out


def _when(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) if t else "-"


# --- the two formats ----------------------------------------------------------------------------

def render_html(run: RunInfo, rows: Sequence[Measurement], *, comparison: Sequence[KeyComparison] | None = None,
                baseline_id: str | None = None, notes: Sequence[str] = (), timeline: Measurement | None = None) -> str:
    """The whole page as one string; `comparison` adds a section against `baseline_id`, `timeline` one row's
    power and temperature over its run."""
    from harness import __version__

    ok, errors = _counts(rows)
    devices = list(dict.fromkeys(m.device for m in rows))
    models = list(dict.fromkeys(model_label(m.model) for m in rows))
    chips = [f"{ok} measured", f"{errors} errors", f"{len(devices)} devices", f"{len(models)} models"]
    kept = kept_rows(rows)
    if comparison is not None:
        chips += [f"{n} {v}" for v, n in _verdicts(comparison).items()]
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>harness report · {_e(run.run_id)}</title><style>{CSS}</style></head><body>",
        f"<header><h1>Benchmark report</h1><p class=\"meta\">run <code>{_e(run.run_id)}</code> · {_e(run.status)}"
        f" · {_e(_when(run.created_at))} · host {_e(run.host)} · git <code>{_e(run.git_revision or '-')}</code></p>",
        '<ul class="chips">' + "".join(f"<li>{_e(c)}</li>" for c in chips) + "</ul>",
        "".join(f'<p class="note warn">{_e(n)}</p>' for n in notes),
        "</header>",
    ]
    if not rows:
        parts.append('<p class="note">This run has no measurements yet.</p>')
    if comparison is not None:
        cells = comparison_rows(comparison)
        parts += [f"<section id=\"comparison\"><h2>Against run {_e(baseline_id)}</h2>",
                  '<p class="note">Change of median latency with a 95% interval (runs as the unit with repeats, '
                  "blocks of samples with one run a side); a change counts when the interval excludes zero and "
                  "it is over the threshold.</p>",
                  "".join(f'<p class="note warn">{_e(n)}</p>' for n in comparison_notes(comparison)),
                  _table(COMPARISON_HEADERS, cells, [r[3] for r in cells]), "</section>"]
    parts += [
        '<section id="latency"><h2>Latency</h2>',
        _figure(plots.latency_figure(rows), "p50 latency per variant and device with p90 and p99 whiskers",
                "No successful measurement to plot."),
        _table(*with_hosts(LATENCY_HEADERS, latency_rows(rows), plots.ok_rows(rows), farm_run(run, rows))),
        "</section>",
        '<section id="ratios"><h2>Speed-up and size against fp32</h2>',
        _figure(plots.ratio_figure(rows), "speed-up and size ratio against the fp32 baseline",
                "No fp32 baseline measured beside other variants in this run."),
        _table(["device", "model", "variant", "speed-up", "size ratio"], ratio_rows(rows)), "</section>",
        '<section id="accuracy"><h2>Accuracy against latency</h2>',
        _figure(plots.pareto_figure(rows), "accuracy against latency with the Pareto front",
                "No accuracy figures in this run (metrics such as accuracy, top1 or psnr_db)."),
        _table(["device", "model", "variant", "metric", "value", "p50 ms", "Pareto front"], accuracy_rows(rows)),
        _table(KEPT_HEADERS, kept) if kept else "",
        "</section>",
        '<section id="energy"><h2>Energy per inference</h2>',
        _figure(plots.energy_figure(rows), "energy per inference",
                "No power readings in this run (they come from tegrastats, battery or an external meter)."),
        _table(["device", "model", "variant", "avg power mW", "mJ / inference", "source"], energy_rows(rows)),
        "</section>",
        '<section id="temperature"><h2>Temperature over the run</h2>',
        _figure(plots.temperature_figure(rows), "hottest thermal zone over the run",
                "No temperature readings in this run (the device exposes no thermal zones)."),
        _table(["device", "model", "variant", "before °C", "after °C", "max °C", "throttled"], temperature_rows(rows)),
        "</section>",
    ]
    if timeline is not None:
        from harness.reporting.timeline import section_html

        parts.append(section_html(timeline, _e))
    profiled = [m for m in rows if m.status == "ok" and ((m.extra or {}).get("op_profile")
                                                         or (m.extra or {}).get("op_profile_error"))]
    if profiled:
        parts.append('<section id="op-profile"><h2>Where the time goes (top ops by time)</h2>' + "".join(
            f"<h3>{_e(m.device)} {_e(model_label(m.model))}/{_e(m.variant)}</h3>"
            + (f"<p>{_e(op_profile_note(m.extra['op_profile'], m.p50_us))}</p>"
               + _table(op_profile_headers(m.extra["op_profile"]),
                        top_ops(m.extra["op_profile"], m.metrics.get("macs_by_op")))
               + (f"<p>Slowest single ops</p>{_table(SINGLE_OP_HEADERS, singles)}"
                  if (singles := top_single_ops(m.extra["op_profile"])) else "")
               if m.extra.get("op_profile") else f"<p>{_e(m.extra['op_profile_error'])}</p>")
            for m in profiled) + "</section>")
    if placed := compute_plan_rows(plots.ok_rows(rows)):
        parts.append('<section id="compute-plan"><h2>Where Core ML ran the ops (MLComputePlan)</h2>'
                     + _table(COMPUTE_PLAN_HEADERS, placed) + "</section>")
    if plots.ok_rows(rows):  # sustained figures and what to ship (harness.reporting.recommendation)
        from harness.reporting.recommendation import report_sections

        parts += report_sections(run.plan, rows)
    failed = [m for m in rows if m.status != "ok"]
    if failed:
        parts.append('<section id="errors"><h2>Errors</h2>' + _table(*with_hosts(
            ["device", "model", "variant", "error"],
            [[m.device, model_label(m.model), m.variant, m.error or "-"] for m in failed], failed,
            farm_run(run, rows))) + "</section>")
    invalid = [m for m in plots.ok_rows(rows) if m.validity and not m.validity.valid]
    if invalid:
        parts.append('<section id="validity"><h2>Validity notes</h2><ul>' + "".join(
            f"<li>{_e(m.device)} {_e(model_label(m.model))}/{_e(m.variant)}: {_e('; '.join(m.validity.notes))}</li>"
            for m in invalid) + "</ul></section>")
    parts.append(f"<footer><p>harness {_e(__version__)} · schema {SCHEMA_VERSION} · written "
                 f"{_e(_when(time.time()))}</p></footer></body></html>")
    return "\n".join(parts)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in rows]
    return out


def _md_profile(m: Measurement) -> list[str]:
    """"Where the time goes" in Markdown for a row without latency (a profile-only trtexec import)."""
    prof, why = (m.extra or {}).get("op_profile"), (m.extra or {}).get("op_profile_error")
    if not prof and not why:
        return []
    lines = ["", f"**Where the time goes: {m.device} {model_label(m.model)}/{m.variant}**", ""]
    lines += ([op_profile_note(prof, m.p50_us), ""] + _md_table(op_profile_headers(prof),
                                                    top_ops(prof, m.metrics.get("macs_by_op")))
              if prof else [str(why)])
    if prof and (singles := top_single_ops(prof)):
        lines += ["", "Slowest single ops:", ""] + _md_table(SINGLE_OP_HEADERS, singles)
    return lines


def render_markdown(run: RunInfo, rows: Sequence[Measurement], *,
                    comparison: Sequence[KeyComparison] | None = None, baseline_id: str | None = None,
                    notes: Sequence[str] = ()) -> str:
    """A summary for a pull request or chat: one table, the comparison if any, the errors."""
    ok, errors = _counts(rows)
    speed = {(r.device, r.model, r.variant): r for r in plots.ratios(rows)}
    lines = [f"### harness · run `{run.run_id}` ({run.status})", "",
             f"{_when(run.created_at)} · host {run.host} · git `{run.git_revision or '-'}` · "
             f"{ok} measured, {errors} errors", ""]
    lines += [f"> {n}" for n in notes] + ([""] if notes else [])
    table = []
    for m in plots.ok_rows(rows):
        r = speed.get(m.key)
        table.append([m.device, model_label(m.model), m.variant, _ms(m.p50_us), _ms(m.p90_us), _ms(m.p99_us),
                      _num(r.speedup if r else None, "{:.2f}×"), size_text(m.model_size_bytes),
                      accuracy_cell(m), _num(m.energy_per_inference_mj, "{:.3g}"),
                      _validity(m)])
    if table:
        lines += _md_table(*with_hosts(["device", "model", "variant", "p50 ms", "p90 ms", "p99 ms", "vs fp32", "size",
                                        "accuracy", "mJ/inf", "valid"],
                                       table, plots.ok_rows(rows), farm_run(run, rows)))
    else:
        lines.append("No successful measurements.")
    kept = kept_rows(rows)
    if kept:
        lines += ["", "**What each variant keeps** (paired bootstrap 95% intervals on the same held-out examples; "
                  "kept only when the interval's worst end is inside the tolerance)", ""]
        lines += _md_table(KEPT_HEADERS, kept)
    if comparison is not None:
        counts = ", ".join(f"{n} {v}" for v, n in _verdicts(comparison).items()) or "nothing to compare"
        lines += ["", f"**Against run `{baseline_id}`:** {counts}", ""]
        lines += _md_table(COMPARISON_HEADERS, comparison_rows(comparison))
        lines += [f"> {n}" for n in comparison_notes(comparison)]
    for m in plots.ok_rows(rows):
        prof, why = (m.extra or {}).get("op_profile"), (m.extra or {}).get("op_profile_error")
        if prof or why:
            lines += ["", f"**Where the time goes: {m.device} {model_label(m.model)}/{m.variant}**", ""]
            lines += ([op_profile_note(prof, m.p50_us), ""] + _md_table(op_profile_headers(prof),
                                                            top_ops(prof, m.metrics.get("macs_by_op")))
                      if prof else [str(why)])
            if prof and (singles := top_single_ops(prof)):
                lines += ["", "Slowest single ops:", ""] + _md_table(SINGLE_OP_HEADERS, singles)
    if placed := compute_plan_rows(plots.ok_rows(rows)):
        lines += ["", "**Where Core ML ran the ops (MLComputePlan)**", ""] + _md_table(COMPUTE_PLAN_HEADERS, placed)
    failed = [m for m in rows if m.status != "ok"]
    if failed:
        lines += ["", "**Errors**", ""]
        lines += [f"- {m.device}{f' @ {m.host}' if farm_run(run, rows) else ''} {model_label(m.model)}/{m.variant}: "
                  f"{m.error}" for m in failed]
    for m in (m for m in rows if m.status == "ok" and m.p50_us is None):  # a profile-only import: no p50
        lines += _md_profile(m)
    return "\n".join(lines) + "\n"
