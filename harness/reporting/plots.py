"""The report's figures (matplotlib, SVG text) and the derived numbers they show.

Figures are drawn on `matplotlib.figure.Figure` objects without pyplot, so nothing global changes and
no display is needed. Each figure function returns SVG text, or None when the run holds nothing it
could show (no fp32 baseline, no accuracy, no power or temperature readings): the report says so.
"""
from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING
from collections.abc import Callable, Sequence

from harness.statistics.compare import accuracy_name, accuracy_of, accuracy_task, model_label
from harness.store.results import Measurement

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

PALETTE = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#be185d", "#4b5563")
BASELINE = "fp32"


def _ordered(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(values))


def ok_rows(rows: Sequence[Measurement]) -> list[Measurement]:
    return [m for m in rows if m.status == "ok" and m.p50_us is not None]


@dataclass(frozen=True)
class Ratio:
    device: str
    model: str
    variant: str
    speedup: float | None  # fp32 p50 / variant p50 on the same device
    size_ratio: float | None  # variant size / fp32 size


def ratios(rows: Sequence[Measurement]) -> list[Ratio]:
    """Speed-up and size ratio of every non-baseline variant against fp32 on the same device."""
    base = {(m.device, m.model): m for m in ok_rows(rows) if m.variant == BASELINE}
    out = []
    for m in ok_rows(rows):
        b = base.get((m.device, m.model))
        if m.variant == BASELINE or b is None:
            continue
        speed = b.p50_us / m.p50_us if b.p50_us and m.p50_us else None
        size = m.model_size_bytes / b.model_size_bytes if m.model_size_bytes and b.model_size_bytes else None
        out.append(Ratio(m.device, m.model, m.variant, speed, size))
    return out


def pareto_front(points: Sequence[tuple[float, float]]) -> set[int]:
    """Indices of points (latency, accuracy) that no other point beats on both: lower latency
    and higher accuracy, at least as good on one and better on the other."""
    front = set()
    for i, (lat, acc) in enumerate(points):
        dominated = any(
            (l2 <= lat and a2 >= acc) and (l2 < lat or a2 > acc) for j, (l2, a2) in enumerate(points) if j != i
        )
        if not dominated:
            front.add(i)
    return front


# Sizes chosen for a phone: a 6.5 in figure shown 520 px wide keeps 11 pt text near 12 px.
RC: dict[RcKeyType, object] = {"font.size": 11, "axes.titlesize": 11, "legend.fontsize": 9, "legend.title_fontsize": 9,
      "xtick.labelsize": 9.5, "ytick.labelsize": 9.5, "svg.fonttype": "none", "svg.hashsalt": "harness"}
WIDTH_IN = 6.5


def _drawn(fn: Callable[..., Figure | None]) -> Callable[..., str | None]:
    """Run a figure function under the report's style and return its SVG text (or None)."""

    @functools.wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> str | None:
        import matplotlib

        with matplotlib.rc_context(RC):
            fig = fn(*args, **kwargs)
            if fig is None:
                return None
            buf = io.StringIO()
            fig.savefig(buf, format="svg", metadata={"Date": None})
        return buf.getvalue()

    return wrapper


def _figure(height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(WIDTH_IN, height), layout="constrained")


MAX_LABEL_CHARS = 14


def _short(text: str, limit: int = MAX_LABEL_CHARS) -> str:
    """A tick label line cut to `limit` characters (the full names are in the tables)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _tick_labels(ax, labels: Sequence[str]) -> None:
    """Category labels that stay apart: each line shortened, stood upright when there are many
    (a label turned 90° takes a line's height of width, whatever the name's length)."""
    shown = ["\n".join(_short(part) for part in label.split("\n")) for label in labels]
    ax.set_xticks(range(len(labels)), shown, rotation=90 if len(labels) > 4 else 0)


def _wide(n_labels: int, per_label_in: float = 0.55) -> float:
    """Figure width for `n_labels` categories side by side: never narrower than the page width."""
    return max(WIDTH_IN, per_label_in * n_labels)


def _style(ax, ylabel: str) -> None:
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)


@_drawn
def latency_figure(rows: Sequence[Measurement]) -> Figure | None:
    """p50 bars per variant and device, one panel per model; whiskers reach p90 (thick) and p99."""
    rows = ok_rows(rows)
    if not rows:
        return None
    models = _ordered([m.model for m in rows])
    devices = _ordered([m.device for m in rows])
    fig = _figure(2.9 * len(models) + 0.4)
    axes = fig.subplots(len(models), 1, squeeze=False)[:, 0]
    width = 0.8 / len(devices)
    for ax, model in zip(axes, models):
        mine = [m for m in rows if m.model == model]
        variants = _ordered([m.variant for m in mine])
        for d, device in enumerate(devices):
            xs, p50, up90, up99 = [], [], [], []
            for v_i, variant in enumerate(variants):
                m = next((m for m in mine if m.device == device and m.variant == variant), None)
                if m is None or m.p50_us is None:  # a tool that printed no median: nothing to draw
                    continue
                xs.append(v_i - 0.4 + width * (d + 0.5))
                p50.append(m.p50_us / 1000)
                up90.append(max(0.0, ((m.p90_us or m.p50_us) - m.p50_us) / 1000))
                up99.append(max(0.0, ((m.p99_us or m.p50_us) - m.p50_us) / 1000))
            if not xs:
                continue
            color = PALETTE[d % len(PALETTE)]
            ax.bar(xs, p50, width * 0.9, color=color, alpha=0.85, label=device)
            ax.errorbar(xs, p50, yerr=[[0] * len(xs), up99], fmt="none", ecolor="#111827", elinewidth=0.8,
                        capsize=3)
            ax.errorbar(xs, p50, yerr=[[0] * len(xs), up90], fmt="none", ecolor="#111827", elinewidth=2.2,
                        capsize=0)
        ax.set_xticks(range(len(variants)), variants)
        ax.set_title(model_label(model), loc="left")
        _style(ax, "latency, ms")
        if len(devices) > 1 or model == models[0]:
            ax.legend(frameon=False, title="bar p50 · whiskers p90, p99")
    return fig


@_drawn
def ratio_figure(rows: Sequence[Measurement]) -> Figure | None:
    """Speed-up (left) and size ratio (right) of each variant against fp32; 1.0 is the baseline."""
    rs = ratios(rows)
    if not rs:
        return None
    devices = _ordered([r.device for r in rs])
    labels = _ordered([f"{model_label(r.model)}\n{r.variant}" for r in rs])
    from matplotlib.figure import Figure

    # Two panels side by side each get half the width: stack them when the labels are many.
    many = len(labels) > 4
    fig = Figure(figsize=(_wide(len(labels)) if many else WIDTH_IN, 7.6 if many else 3.8), layout="constrained")
    ax_s, ax_z = fig.subplots(2, 1) if many else fig.subplots(1, 2)
    width = 0.8 / len(devices)
    for d, device in enumerate(devices):
        mine = [r for r in rs if r.device == device and r.speedup is not None]
        xs = [labels.index(f"{model_label(r.model)}\n{r.variant}") - 0.4 + width * (d + 0.5) for r in mine]
        ax_s.bar(xs, [r.speedup for r in mine], width * 0.9, color=PALETTE[d % len(PALETTE)], label=device)
    sizes = {}
    for r in rs:
        if r.size_ratio is not None:
            sizes.setdefault(f"{model_label(r.model)}\n{r.variant}", r.size_ratio)
    ax_z.bar([labels.index(k) for k in sizes], list(sizes.values()), 0.6, color="#6b7280")
    for ax, title in ((ax_s, "speed-up vs fp32 (×, higher is faster)"), (ax_z, "size vs fp32 (×, lower is smaller)")):
        ax.axhline(1.0, color="#111827", lw=0.8, ls="--")
        _tick_labels(ax, labels)
        ax.set_title(title, loc="left")
        _style(ax, "ratio")
    ax_s.legend(frameon=False)
    return fig


@_drawn
def pareto_figure(rows: Sequence[Measurement]) -> Figure | None:
    """Accuracy against p50 latency, one panel per task (PSNR dB and top-1 never share an axis);
    per device and model the Pareto front is drawn and ringed."""
    pts = [(m, accuracy_of(m)) for m in ok_rows(rows)]
    pts = [(m, a) for m, a in pts if a is not None]
    if not pts:
        return None
    metrics = _ordered([a[0] for _, a in pts])  # one metric a panel: psnr_db, top1, map50...
    fig = _figure(3.6 * len(metrics) + 0.3)
    axes = fig.subplots(len(metrics), 1, squeeze=False)[:, 0]
    groups = _ordered([(m.device, m.model) for m, _ in pts])
    for ax, metric in zip(axes, metrics):
        for g_i, (device, model) in enumerate(groups):
            mine = [(m, a) for m, a in pts if (m.device, m.model) == (device, model) and a[0] == metric]
            if not mine:
                continue
            xy = [(m.p50_us / 1000, a[1]) for m, a in mine]
            color = PALETTE[g_i % len(PALETTE)]
            ax.scatter([x for x, _ in xy], [y for _, y in xy], color=color, s=28, zorder=3,
                       label=f"{device} · {model_label(model)}")
            for i, ((x, y), (m, _)) in enumerate(zip(xy, mine)):  # alternate sides so close labels stay apart
                ax.annotate(m.variant, (x, y), textcoords="offset points", xytext=(6, 4 if i % 2 == 0 else -13))
            front = sorted(xy[i] for i in pareto_front(xy))
            ax.scatter([x for x, _ in front], [y for _, y in front], s=150, facecolors="none", edgecolors=color,
                       zorder=2)
            if len(front) > 1:
                ax.step([x for x, _ in front], [y for _, y in front], where="post", color=color, lw=1, ls="--")
        ax.set_xlabel("p50 latency, ms (lower is better)")
        _style(ax, f"{accuracy_name(metric)} (higher is better)")
        ax.set_title(f"{accuracy_task(metric)}: {accuracy_name(metric)} against latency · ringed points form "
                     "the Pareto front", loc="left", wrap=True)
        ax.legend(frameon=False)
    return fig


@_drawn
def energy_figure(rows: Sequence[Measurement]) -> Figure | None:
    rows = [m for m in ok_rows(rows) if m.energy_per_inference_mj is not None]
    if not rows:
        return None
    labels = _ordered([f"{model_label(m.model)}\n{m.variant}" for m in rows])
    devices = _ordered([m.device for m in rows])
    from matplotlib.figure import Figure

    fig = Figure(figsize=(_wide(len(labels)), 3.8 if len(labels) > 4 else 3.4), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(devices)
    for d, device in enumerate(devices):
        mine = [m for m in rows if m.device == device]
        xs = [labels.index(f"{model_label(m.model)}\n{m.variant}") - 0.4 + width * (d + 0.5) for m in mine]
        ax.bar(xs, [m.energy_per_inference_mj for m in mine], width * 0.9, color=PALETTE[d % len(PALETTE)],
               label=device)
    _tick_labels(ax, labels)
    ax.set_title("energy per inference (average power × mean latency)", loc="left")
    _style(ax, "mJ")
    ax.legend(frameon=False)
    return fig


def temperature_series(rows: Sequence[Measurement]) -> dict[str, list[tuple[float, float]]]:
    """Per device: (seconds since the run's first job, hottest zone °C), in time order."""
    timed = [m for m in rows if m.temperatures and m.started_at is not None]
    if not timed:
        return {}
    t0 = min(m.started_at for m in timed)
    out: dict[str, list[tuple[float, float]]] = {}
    for m in sorted(timed, key=lambda m: m.started_at):
        for s in m.temperatures:
            if s.zones_c:
                out.setdefault(m.device, []).append((m.started_at - t0 + s.t_s, max(s.zones_c.values())))
    for series in out.values():
        series.sort()
    return out


@_drawn
def temperature_figure(rows: Sequence[Measurement]) -> Figure | None:
    series = temperature_series(rows)
    if not series:
        return None
    fig = _figure(3.2)
    ax = fig.subplots()
    for d, (device, pts) in enumerate(series.items()):
        ax.plot([t for t, _ in pts], [c for _, c in pts], marker=".", ms=3, lw=1.2,
                color=PALETTE[d % len(PALETTE)], label=device)
    ax.set_xlabel("seconds since the first job")
    ax.set_title("hottest thermal zone over the run", loc="left")
    _style(ax, "°C")
    ax.legend(frameon=False)
    return fig
