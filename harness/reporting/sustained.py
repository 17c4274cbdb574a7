"""Sustained runs in the report and the run's output: latency and temperature against time, per row."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from harness.statistics.compare import model_label
from harness.statistics.sustained import SustainedSummary, sustained_text
from harness.store.results import Measurement

if TYPE_CHECKING:
    from matplotlib.figure import Figure

HEADERS = ["device", "model", "variant", "cold p50 ms", "steady p50 ms", "steady / cold", "first throttle s",
           "cause", "start °C", "reached °C", "duration s", "interrupted"]


def sustained_of(m: Measurement) -> SustainedSummary | None:
    data = (m.extra or {}).get("sustained")
    return SustainedSummary.from_dict(data) if isinstance(data, dict) and data.get("windows") is not None else None


def rows(ms: Sequence[Measurement]) -> list[list[str]]:
    def f(v: float | None, fmt: str = "{:.3g}") -> str:
        return fmt.format(v) if v is not None else ""

    out = []
    for m in ms:
        s = sustained_of(m)
        if s is None:
            continue
        out.append([m.device, model_label(m.model), m.variant, f(s.cold_p50_us and s.cold_p50_us / 1000),
                    f(s.steady_p50_us and s.steady_p50_us / 1000), f(s.steady_over_cold, "{:.2f}"),
                    f(s.first_throttle_s, "{:.1f}"), s.throttle_cause or "", f(s.temp_start_c, "{:.1f}"),
                    f(s.temp_reached_c, "{:.1f}"), f(s.duration_s, "{:.1f}"), "yes" if s.interrupted else "no"])
    return out


def lines(ms: Sequence[Measurement]) -> list[str]:
    """One line per sustained row, for the end of `harness run`."""
    return [f"sustained {m.device} {model_label(m.model)}/{m.variant}: {sustained_text(s)}"
            for m in ms if (s := sustained_of(m)) is not None]


def figure(m: Measurement, s: SustainedSummary) -> Figure | None:
    """p50 of each window and the hottest zone against time in the loop; the first throttle event marked."""
    import matplotlib

    from harness.reporting.plots import RC, WIDTH_IN

    pts = [w for w in s.windows if w.p50_us is not None]
    if not pts:
        return None
    minutes = s.duration_s >= 180
    scale = 60.0 if minutes else 1.0
    with matplotlib.rc_context(RC):
        from matplotlib.figure import Figure

        fig = Figure(figsize=(WIDTH_IN, 3.2), layout="constrained")
        ax = fig.subplots()
        ax.plot([w.end_s / scale for w in pts], [(w.p50_us or 0) / 1000 for w in pts], marker=".", color="#1f77b4",
                label="p50 of the window, ms")
        ax.set_xlabel("minutes into the loop" if minutes else "seconds into the loop")
        ax.set_ylabel("p50 ms", color="#1f77b4")
        ax.spines[["top"]].set_visible(False)
        hot = [w for w in s.windows if w.hottest_c is not None]
        if hot:
            ax2 = ax.twinx()
            ax2.plot([w.end_s / scale for w in hot], [w.hottest_c or 0 for w in hot], color="#d62728", lw=1.2)
            ax2.set_ylabel("hottest zone °C", color="#d62728")
        if s.first_throttle_s is not None:
            ax.axvline(s.first_throttle_s / scale, color="#333333", ls="--", lw=1)
            ax.annotate("first throttle", (s.first_throttle_s / scale, ax.get_ylim()[1]), textcoords="offset points",
                        xytext=(4, -12), fontsize=9)
        ax.set_title(f"{m.device} · {model_label(m.model)}/{m.variant}: {sustained_text(s)}", loc="left", wrap=True)
    return fig


def section_html(ms: Sequence[Measurement]) -> str:
    """`<section id="sustained">`, empty when no row was measured in sustained mode."""
    import io

    from harness.reporting.html_parts import _figure, _table

    found = [(m, s) for m in ms if (s := sustained_of(m)) is not None]
    if not found:
        return ""
    parts = ['<section id="sustained"><h2>Sustained: latency and temperature over time</h2>']
    for m, s in found:
        fig = figure(m, s)
        svg = None
        if fig is not None:
            buf = io.StringIO()
            fig.savefig(buf, format="svg", metadata={"Date": None})
            svg = buf.getvalue()
        parts.append(_figure(svg, f"{m.device} {model_label(m.model)}/{m.variant}: window p50 and hottest zone "
                             f"over time; {sustained_text(s)}", "No window latency to plot."))
    parts.append(_table(HEADERS, rows(ms)) + "</section>")
    return "\n".join(parts)
