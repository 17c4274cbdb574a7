"""Power and temperature over the run for one row (`harness report --timeline DEVICE/MODEL/VARIANT`).

Drawn from every sample the row kept: its power samples (the rail or battery its energy came from),
each tegrastats rail and sensor in `series`, or its temperature samples per zone. Placeholders never
reach these series (devices/probes/placeholders.py); the section lists the ones that were left out.
"""
from __future__ import annotations

from typing import TYPE_CHECKING
from collections.abc import Callable, Sequence

from errors import UserError, clean, quote
from harness.reporting.plots import PALETTE, _drawn, _figure, _style
from harness.statistics.compare import model_label
from harness.store.results import Measurement
from harness.store.row_fields import IgnoredSensor, Series, facts, is_ignored_sensors, is_series

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MAX_LINES = 8  # lines per axis; the hottest sensors and the biggest rails are kept


def find_row(rows: Sequence[Measurement], key: str) -> Measurement:
    """The row named DEVICE/MODEL/VARIANT (model as the report shows it, or as stored); exit 2 otherwise."""
    parts = key.split("/")
    if len(parts) < 3:
        raise UserError(f"--timeline {quote(key, 80)}: give DEVICE/MODEL/VARIANT")
    device, variant, model = parts[0], parts[-1], "/".join(parts[1:-1])
    for m in rows:
        if m.device == device and m.variant == variant and model in (m.model, model_label(m.model)):
            return m
    have = ", ".join(f"{m.device}/{model_label(m.model)}/{m.variant}" for m in rows[:6]) or "none"
    raise UserError(f"--timeline {quote(key, 80)}: no such row in this run (rows: {clean(have, 300)})")


def series_of(m: Measurement) -> Series:
    """The row's series: imported ones on the row, a Jetson run's in its tegrastats facts (host clock, made
    relative to the first sample here)."""
    series = m.series
    for where in ("tegrastats", "raspberry_pi"):
        found = facts(m.extra, where).get("series")
        if not series and found and is_series(found):
            series = found
    t = series.get("t_s") or []
    return {**series, "t_s": [ti - t[0] for ti in t]} if t else series


def ignored_of(m: Measurement) -> list[IgnoredSensor]:
    """The placeholders left out of the series: the row's own, else those its target's facts list."""
    if m.ignored_sensors:
        return list(m.ignored_sensors)
    for found in (m.extra.get("ignored_sensors"), facts(m.extra, "tegrastats").get("ignored_sensors")):
        if found and is_ignored_sensors(found):
            return list(found)
    return []


def power_lines(m: Measurement) -> dict[str, list[tuple[float, float]]]:
    """Power over the run, mW: every rail of the row's series, else its power samples (battery, meter)."""
    out: dict[str, list[tuple[float, float]]] = {}
    series = series_of(m)
    t = series.get("t_s") or []
    rails = series.get("rails_mw") or series.get("power_mw") or {}
    for rail, vals in sorted(rails.items(), key=lambda kv: -max((v for v in kv[1] if v is not None), default=0)):
        pts = [(ti, v) for ti, v in zip(t, vals) if v is not None]
        if pts:
            out[f"rail {rail}" if "rails_mw" in series else rail] = pts
    if not out and m.power_samples:
        name = m.energy_source or m.power_samples[0].source or "power"
        out[name] = [(p.t_s, p.power_mw) for p in m.power_samples]
    return dict(list(out.items())[:MAX_LINES])


def temperature_lines(m: Measurement) -> dict[str, list[tuple[float, float]]]:
    """Temperature over the run, °C: each sensor of the series, else each zone of the temperature samples."""
    series = series_of(m)
    t = series.get("t_s") or []
    temps = series.get("temps_c") or {}
    out: dict[str, list[tuple[float, float]]] = {}
    if temps:
        for name, vals in temps.items():
            pts = [(ti, v) for ti, v in zip(t, vals) if v is not None]
            if pts:
                out[name] = pts
    else:
        for s in m.temperatures:
            for zone, c in s.zones_c.items():
                out.setdefault(zone, []).append((s.t_s, c))
    hottest = sorted(out, key=lambda k: -max(c for _, c in out[k]))[:MAX_LINES]
    return {k: out[k] for k in hottest}


@_drawn
def timeline_figure(m: Measurement) -> Figure | None:
    power, temps = power_lines(m), temperature_lines(m)
    if not power and not temps:
        return None
    fig = _figure(5.4 if power and temps else 3.2)
    axes = fig.subplots(2 if power and temps else 1, 1, sharex=True, squeeze=False)[:, 0]
    panels: list[tuple[Axes, dict[str, list[tuple[float, float]]], str, str]] = []
    if power:
        panels.append((axes[0], power, "mW", "power over the run"))
    if temps:
        panels.append((axes[-1], temps, "°C", "temperature over the run (placeholders left out)"))
    for ax, lines, unit, title in panels:
        for i, (name, pts) in enumerate(lines.items()):
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=".", ms=3, lw=1.1,
                    color=PALETTE[i % len(PALETTE)], label=clean(name, 40))
        ax.set_title(title, loc="left")
        _style(ax, unit)
        ax.legend(frameon=False, fontsize=8, ncol=2)
    axes[-1].set_xlabel("seconds (the samples' own clock)")
    return fig


def section_html(m: Measurement, esc: Callable[[object], str]) -> str:
    """The report section for one row: the figure, and the sensors left out as placeholders."""
    svg = timeline_figure(m)
    title = f"{m.device} {model_label(m.model)}/{m.variant}"
    body = svg if svg else ('<p class="note">This row kept no power or temperature samples '
                            "(no tegrastats, battery or thermal zone readings).</p>")
    ignored = "".join(f"<li>{esc(e.get('sensor'))} = {esc(e.get('value'))}: {esc(e.get('reason'))}</li>"
                      for e in ignored_of(m))
    return (f'<section id="timeline"><h2>Power and temperature over the run: {esc(title)}</h2>{body}'
            + (f"<p>Sensors left out as placeholders:</p><ul>{ignored}</ul>" if ignored else "") + "</section>")
