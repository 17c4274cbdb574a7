"""`harness recommend` as tables (every format) and as a report section with a Pareto plot per device."""
from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from harness.statistics.recommend import Judged, Recommendation
from harness.store.results import Measurement
from harness.store.row_fields import facts

if TYPE_CHECKING:
    from matplotlib.figure import Figure

HEADERS = ["device", "model", "variant", "status", "p50 ms", "p99 ms", "sustained p50 ms", "accuracy vs fp32",
           "size MB", "peak memory MB", "energy mJ/inf", "pareto", "reason"]
SUMMARY_HEADERS = ["device", "model", "budget", "chosen", "reason"]


def _f(v: float | None, fmt: str = "{:.3g}") -> str:
    return fmt.format(v) if v is not None else ""


def rows(recs: Sequence[Recommendation]) -> list[list[str]]:
    """One row per variant: what it measured (empty where not measured), its status and why."""
    out = []
    for r in recs:
        for j in r.judged:
            c = j.candidate
            sustained = f"{_f(c.steady_p50_ms)} after {c.sustained_s:.0f} s" if c.steady_p50_ms is not None and \
                c.sustained_s is not None else ""
            out.append([c.device, c.model, c.variant, j.status, _f(c.p50_ms), _f(c.p99_ms), sustained,
                        c.accuracy.text() if c.accuracy else "not measured", _f(c.size_mb), _f(c.memory_mb),
                        _f(c.energy_mj), "yes" if j.on_front else "no", j.reason])
    return out


def summary_rows(recs: Sequence[Recommendation]) -> list[list[str]]:
    return [[r.device, r.model, r.budget.text(), r.chosen.variant if r.chosen else "none", r.reason] for r in recs]


def _drawn(fig: Figure | None) -> str | None:
    import io

    import matplotlib

    from harness.reporting.plots import RC

    if fig is None:
        return None
    with matplotlib.rc_context(RC):
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def pareto_figure(rec: Recommendation) -> Figure | None:
    """Accuracy kept (change vs fp32, worst end) against the p50 the budget used, for one device and model:
    front ringed, rejected points grey, the chosen one a star; variants with no accuracy sit on a strip
    at the bottom, labelled so."""
    import matplotlib

    from harness.reporting.plots import WIDTH_IN

    pts = [j for j in rec.judged if j.candidate.p50_used is not None]
    if not pts:
        return None
    from harness.reporting.plots import RC

    with matplotlib.rc_context(RC):
        from matplotlib.figure import Figure

        fig = Figure(figsize=(WIDTH_IN, 3.6), layout="constrained")
        ax = fig.subplots()
        measured = [j for j in pts if j.candidate.accuracy is not None]
        scale = 100.0 if measured and measured[0].candidate.accuracy and \
            measured[0].candidate.accuracy.metric in ("top1", "map50") else 1.0
        floor = min([j.candidate.accuracy.worst * scale for j in measured if j.candidate.accuracy] + [0.0]) - 0.5
        for j in pts:
            c = j.candidate
            y = c.accuracy.worst * scale if c.accuracy else floor
            x = c.p50_used or 0.0
            color = {"chosen": "#d62728", "meets budget": "#1f77b4", "rejected": "#999999"}.get(j.status, "#cccccc")
            marker = "*" if j.status == "chosen" else ("x" if j.status in ("invalid", "not judged") else "o")
            ax.scatter([x], [y], color=color, marker=marker, s=160 if j.status == "chosen" else 36, zorder=3)
            if j.on_front:
                ax.scatter([x], [y], s=190, facecolors="none", edgecolors="#333333", zorder=2)
            label = c.variant + ("" if c.accuracy else " (accuracy not measured)")
            ax.annotate(label, (x, y), textcoords="offset points", xytext=(6, 4))
        if rec.budget.p50_ms is not None:  # the p50 budget on this axis (a p99 budget is judged, not drawn)
            ax.axvline(rec.budget.p50_ms, color="#d62728", ls=":", lw=1)
        unit = "pt" if scale == 100.0 else "dB"
        ax.set_xlabel("p50 ms (steady state where a sustained run measured it; lower is better)")
        ax.set_ylabel(f"accuracy change vs fp32, {unit}\n(worst end of the 95% interval)")
        ax.grid(alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
        chosen = rec.chosen.variant if rec.chosen else "none"
        ax.set_title(f"{rec.device} · {rec.model}: chosen {chosen} (star); ringed: Pareto front", loc="left",
                     wrap=True)
    return fig


def section_html(recs: Sequence[Recommendation]) -> str:
    """`<section id="recommendation">`: per device and model the one-line choice, its plot and every variant."""
    from harness.reporting.html_parts import _figure, _table

    e = html.escape
    parts = ['<section id="recommendation"><h2>What to ship on each device</h2>']
    for r in recs:
        parts.append(f"<h3>{e(r.device)} · {e(r.model)}</h3><p>Budget: {e(r.budget.text())}. "
                     f"<strong>{e(r.chosen.variant if r.chosen else 'No recommendation')}</strong>: {e(r.reason)}</p>")
        chosen = r.chosen.variant if r.chosen else "none"
        parts.append(_figure(_drawn(pareto_figure(r)), f"{r.device} {r.model}: accuracy kept against p50, "
                             f"Pareto front ringed, chosen {chosen} starred", "No latency measured: nothing to plot."))
        parts.append(_table(HEADERS[2:], [row[2:] for row in rows([r])]))
    parts.append("</section>")
    return "\n".join(parts)


def page_html(recs: Sequence[Recommendation], title: str) -> str:
    """The section as a page of its own (`harness recommend --html FILE`)."""
    from harness.reporting.html_parts import CSS

    # The viewport line: without it a phone lays the page out 980 px wide and shrinks it to fit.
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>{section_html(recs)}</body></html>\n")


def judged_of(recs: Sequence[Recommendation]) -> list[Judged]:
    return [j for r in recs for j in r.judged]


def report_sections(plan: Mapping[str, object], ms: Sequence[Measurement]) -> list[str]:
    """What `harness report` shows of this area: the sustained section (when a row has one) and the
    recommendation under the budgets stored with the run (devices.yaml `budget:`; without one, the
    accuracy section's Pareto plot already shows the front and there is nothing to choose against)."""
    from harness.planning.budget import Budget, BudgetError, parse_budget
    from harness.reporting import sustained
    from harness.statistics.recommend import candidates, recommend

    budgets: dict[str, Budget] = {}
    listed = facts(plan, "devices").get("devices")
    for d in listed if isinstance(listed, list) else []:
        if not isinstance(d, dict):
            continue
        try:
            budgets[str(d.get("name"))] = parse_budget(d.get("budget"))
        except BudgetError:  # validated when the run was planned; an older file is judged without one
            continue
    recs = recommend(candidates(ms), budgets) if any(b.items() for b in budgets.values()) else []
    return [s for s in (sustained.section_html(ms), section_html(recs) if recs else "") if s]
