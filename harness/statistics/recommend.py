"""Which variant to ship on each device: the Pareto front, the budget, one choice and every rejection.

Pure functions of stored rows and a Budget. Per (device, model): every variant becomes a Candidate
(its latency, accuracy kept against fp32 with the interval when stored, size, peak memory, energy per
inference, sustained figures when a sustained run measured them); the Pareto front is taken over what
was measured; a variant is judged against the budget in a fixed order and the first budget it breaks is
its reason. The rules refuse to recommend from a row flagged invalid, from accuracy "not measured" when an
accuracy budget is set, or from an inconclusive verdict, and say so.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from harness.planning.budget import AccuracyDrop, Budget
from harness.statistics.compare import model_label
from harness.store.results import Measurement
from harness.store.row_fields import facts, number

TIE_BAND = 0.03  # p50s within 3 % are a tie (this host's run-to-run noise); accuracy, then size decide
FRACTION_METRICS = ("top1", "map50")  # accuracy kept as a fraction: a drop in points is x100
DELTA_KEYS = {"psnr_db": "psnr_delta_fp32_db", "top1": "top1_delta_fp32", "map50": "map50_delta_fp32"}
METRIC_NAMES = {"psnr_db": "PSNR", "top1": "top-1", "map50": "mAP@0.5"}


@dataclass(frozen=True)
class AccuracyChange:
    """The variant's accuracy minus fp32's on the same examples; `low`/`high` the 95 % interval when stored."""

    metric: str  # psnr_db | top1 | map50
    change: float  # in the metric's unit (dB, or a fraction)
    low: float | None = None
    high: float | None = None
    reference: float | None = None  # fp32's value, for a drop in % of it
    reference_itself: bool = False  # the fp32 row: no change by definition, not a measured interval

    @property
    def worst(self) -> float:
        """The interval's end worse for the variant (the point change when no interval is stored)."""
        return self.low if self.low is not None else self.change

    def loss(self, unit: str) -> float | None:
        """The worst-end loss in `unit` (pt, dB, %); None when the metric cannot be read in it."""
        if unit == "pt":
            return -self.worst * 100 if self.metric in FRACTION_METRICS else None
        if unit == "dB":
            return -self.worst if self.metric == "psnr_db" else None
        if unit == "%" and self.reference:
            return -self.worst / abs(self.reference) * 100
        return None

    def text(self) -> str:
        if self.reference_itself:
            return f"{METRIC_NAMES.get(self.metric, self.metric)}: the fp32 reference"
        scale, unit = (100.0, " pt") if self.metric in FRACTION_METRICS else (1.0, " dB")
        out = f"{self.change * scale:+.2f}{unit}"
        if self.low is not None and self.high is not None:
            out += f" (95% {self.low * scale:+.2f} to {self.high * scale:+.2f})"
        else:
            out += " (no interval)"
        return out


@dataclass(frozen=True)
class Candidate:
    device: str
    model: str
    variant: str
    p50_ms: float | None
    p99_ms: float | None
    accuracy: AccuracyChange | None
    size_mb: float | None
    memory_mb: float | None
    energy_mj: float | None
    valid: bool = True
    invalid_why: str | None = None
    steady_p50_ms: float | None = None  # sustained run: the last minutes
    steady_p99_ms: float | None = None
    sustained_s: float | None = None  # how long the sustained run lasted
    inconclusive: str | None = None  # why the verdict on this key is inconclusive (a nightly series)
    runs: tuple[str, ...] = ()
    series: tuple[tuple[str, float | None, float | None], ...] = ()  # (night, p50, p99 used) per night

    @property
    def p50_used(self) -> float | None:
        """What the latency budget and the choice use: the steady state when a sustained run measured it."""
        return max(v for v in (self.p50_ms, self.steady_p50_ms) if v is not None) \
            if self.p50_ms is not None or self.steady_p50_ms is not None else None

    @property
    def p99_used(self) -> float | None:
        vals = [v for v in (self.p99_ms, self.steady_p99_ms) if v is not None]
        return max(vals) if vals else None


@dataclass(frozen=True)
class Judged:
    candidate: Candidate
    status: str  # chosen | meets budget | rejected | invalid | not judged
    reason: str
    on_front: bool


@dataclass(frozen=True)
class Recommendation:
    device: str
    model: str
    budget: Budget
    chosen: Candidate | None
    reason: str  # the one line: why this variant, or why none
    judged: tuple[Judged, ...] = field(default_factory=tuple)


def _num(v: object) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _us_to_ms(us: object) -> float | None:
    """A stored microsecond figure in ms; None where it is not a number."""
    value = number(us)
    return value / 1000.0 if value is not None else None


def accuracy_change(m: Measurement, resamples: int = 2000) -> AccuracyChange | None:
    """Against fp32: the paired interval from per-example scores where they are stored
    (harness.statistics.accuracy_change, when this build has it), else the stored point change; fp32
    itself is the reference (no change). None: not measured."""
    metrics = m.metrics or {}
    found = next(((k, v) for k in DELTA_KEYS if (v := _num(metrics.get(k))) is not None), None)
    if found is None:
        return None
    metric, value = found
    if m.variant.split("@", 1)[0] == "fp32":
        return AccuracyChange(metric, 0.0, 0.0, 0.0, value, reference_itself=True)
    per = metrics.get("per_example")
    if isinstance(per, dict) and per.get("fp32"):
        try:
            from harness.statistics import accuracy_change as paired  # type: ignore[attr-defined,unused-ignore]

            got = paired.changes_of(per, resamples=resamples).get("fp32")  # type: ignore[attr-defined,unused-ignore]
        except (ImportError, AttributeError, ValueError):
            got = None
        if got is not None:
            return AccuracyChange(metric, float(got.change), float(got.low), float(got.high),
                                  float(got.comparison_value))
    delta = _num(metrics.get(DELTA_KEYS[metric]))
    if delta is None:
        return None
    return AccuracyChange(metric, delta, reference=value - delta)


def _memory_mb(m: Measurement) -> float | None:
    """The model's own peak where measured (RSS above the process before loading), else the tool's."""
    for v in (m.peak_rss_delta_mb, m.peak_footprint_mb, m.peak_rss_mb):
        if _num(v) is not None:
            return float(v)  # type: ignore[arg-type]
    return None


def candidates(rows: Iterable[Measurement], inconclusive: Mapping[tuple[str, str, str], str] | None = None,
               resamples: int = 2000) -> list[Candidate]:
    """One candidate per (device, model, variant) from ok rows: latency, size, memory and energy from the
    newest row without sustained figures (else the sustained one), steady state from the newest sustained
    row. A key is valid only when the rows it rests on are."""
    by_key: dict[tuple[str, str, str], list[Measurement]] = {}
    for m in rows:
        if m.status == "ok":
            by_key.setdefault((m.device, model_label(m.model), m.variant), []).append(m)
    out = []
    for key, mine in by_key.items():
        mine.sort(key=lambda m: (m.finished_at or 0.0))
        sus = [m for m in mine if (m.extra or {}).get("sustained")]
        plain = [m for m in mine if not (m.extra or {}).get("sustained")]
        base = (plain or sus)[-1]
        used = [base] + ([sus[-1]] if sus and sus[-1] is not base else [])
        bad = [m for m in used if m.validity is not None and not m.validity.valid]
        why = None
        if bad:
            flags = sorted({f for m in bad for f in (m.validity.flags() if m.validity else [])})
            why = f"row flagged invalid ({', '.join(flags) or 'validity'}) in run {bad[0].run_id}"
        s = facts(sus[-1].extra, "sustained") if sus else None
        us = 1000.0
        out.append(Candidate(
            device=key[0], model=key[1], variant=key[2],
            p50_ms=base.p50_us / us if base.p50_us is not None else None,
            p99_ms=base.p99_us / us if base.p99_us is not None else None,
            accuracy=accuracy_change(base, resamples),
            size_mb=base.model_size_bytes / 1e6 if base.model_size_bytes else None,
            memory_mb=_memory_mb(base),
            energy_mj=_num(base.energy_per_inference_mj),
            valid=not bad, invalid_why=why,
            steady_p50_ms=_us_to_ms(s.get("steady_p50_us")) if s else None,
            steady_p99_ms=_us_to_ms(s.get("steady_p99_us")) if s else None,
            sustained_s=_num(s.get("duration_s")) if s else None,
            inconclusive=(inconclusive or {}).get(key),
            runs=tuple(dict.fromkeys(m.run_id for m in used)),
        ))
    return out


def _axes(c: Candidate) -> tuple[float | None, ...]:
    """Lower is better on every axis: p50, p99, accuracy loss (worst end, metric units), size, memory, energy."""
    loss = -c.accuracy.worst if c.accuracy is not None else None
    return (c.p50_used, c.p99_used, loss, c.size_mb, c.memory_mb, c.energy_mj)


def dominates(a: Candidate, b: Candidate) -> bool:
    """`a` is measured wherever `b` is, no worse on any of those axes and better on one."""
    better = False
    for x, y in zip(_axes(a), _axes(b)):
        if y is None:
            continue
        if x is None or x > y:
            return False
        better = better or x < y
    return better


def pareto(cands: Sequence[Candidate]) -> list[Candidate]:
    return [c for c in cands if not any(dominates(o, c) for o in cands if o is not c)]


def _ms(v: float | None) -> str:
    return f"{v:.3g} ms" if v is not None else "-"


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "sustained"
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def first_broken(c: Candidate, budget: Budget) -> str | None:
    """The first budget `c` breaks (or cannot be judged against), in the order of Budget's keys; None: meets all."""
    def latency(name: str, cold: float | None, steady: float | None, limit: float) -> str | None:
        if cold is None and steady is None:
            return f"{name} not measured (budget {limit:g} ms)"
        if steady is not None and steady > limit and (cold is None or cold <= limit):
            return (f"{name} meets {limit:g} ms cold ({_ms(cold)}), {_ms(steady)} after {_when(c.sustained_s)}: "
                    "over budget")
        worst = max(v for v in (cold, steady) if v is not None)
        if worst > limit:
            return f"{name} {_ms(worst)} > {limit:g} ms"
        return None

    if budget.p50_ms is not None and (why := latency("p50", c.p50_ms, c.steady_p50_ms, budget.p50_ms)):
        return why
    if budget.p99_ms is not None:
        if c.p99_ms is None and c.steady_p99_ms is None:
            return f"p99 not measured (budget {budget.p99_ms:g} ms; the tool printed no p99)"
        if why := latency("p99", c.p99_ms, c.steady_p99_ms, budget.p99_ms):
            return why
    if budget.accuracy_drop is not None and (why := _accuracy_broken(c.accuracy, budget.accuracy_drop)):
        return why
    for name, value, limit, unit in (("size", c.size_mb, budget.size_mb, "MB"),
                                     ("peak memory", c.memory_mb, budget.memory_mb, "MB"),
                                     ("energy per inference", c.energy_mj, budget.energy_mj, "mJ")):
        if limit is None:
            continue
        if value is None:
            return f"{name} not measured (budget {limit:g} {unit})"
        if value > limit:
            return f"{name} {value:.3g} {unit} > {limit:g} {unit}"
    return None


def _accuracy_broken(acc: AccuracyChange | None, drop: AccuracyDrop) -> str | None:
    if acc is None:
        return f"accuracy not measured (budget: drop ≤ {drop}); not recommended without it"
    loss = acc.loss(drop.unit)
    if loss is None:
        return (f"accuracy is {METRIC_NAMES.get(acc.metric, acc.metric)}, the budget is in {drop.unit}: "
                "not comparable")
    if loss > drop.amount + 1e-12:
        end = "worst end of the interval" if acc.low is not None else "point change, no interval"
        unit = "" if drop.unit == "%" else f" {drop.unit}"
        return f"accuracy drop {loss:.3g}{unit}{'%' if drop.unit == '%' else ''} ({end}) > {drop}"
    return None


def _pick(ok: Sequence[Candidate]) -> tuple[Candidate, str]:
    """The fastest; p50s within TIE_BAND are a tie, decided by accuracy loss, then size, then name."""
    fastest = min(c.p50_used or math.inf for c in ok)
    tied = [c for c in ok if (c.p50_used or math.inf) <= fastest * (1 + TIE_BAND)]

    def key(c: Candidate) -> tuple[float, float, str]:
        loss = -c.accuracy.worst if c.accuracy is not None else math.inf
        return (loss, c.size_mb if c.size_mb is not None else math.inf, c.variant)

    best = min(tied, key=key)
    if len(tied) > 1:
        others = ", ".join(c.variant for c in tied if c is not best)
        return best, f"p50 within {TIE_BAND:.0%} of {others} (a tie): kept for its accuracy, then size"
    return best, "fastest"


def recommend(cands: Sequence[Candidate], budgets: Mapping[str, Budget]) -> list[Recommendation]:
    """One recommendation per (device, model), in the order the rows came."""
    groups: dict[tuple[str, str], list[Candidate]] = {}
    for c in cands:
        groups.setdefault((c.device, c.model), []).append(c)
    out = []
    for (device, model), mine in groups.items():
        budget = budgets.get(device, Budget())
        considered = [c for c in mine if c.valid and not c.inconclusive]
        front = pareto(considered)
        verdicts: dict[str, tuple[str, str]] = {}
        for c in mine:
            if not c.valid:
                verdicts[c.variant] = ("invalid", f"not considered: {c.invalid_why}")
            elif c.inconclusive:
                verdicts[c.variant] = ("not judged", f"not considered: verdict inconclusive ({c.inconclusive})")
            elif why := first_broken(c, budget):
                verdicts[c.variant] = ("rejected", why)
        passing = [c for c in considered if c.variant not in verdicts]
        chosen, reason = None, ""
        if passing:
            chosen, how = _pick(passing)
            figures = [f"p50 {_ms(chosen.p50_ms)}"]
            if chosen.steady_p50_ms is not None:
                figures.append(f"{_ms(chosen.steady_p50_ms)} after {_when(chosen.sustained_s)}")
            if chosen.p99_used is not None:
                figures.append(f"p99 {_ms(chosen.p99_used)}")
            figures.append(f"accuracy vs fp32 {chosen.accuracy.text()}" if chosen.accuracy else "accuracy not measured")
            if chosen.size_mb is not None:
                figures.append(f"{chosen.size_mb:.3g} MB")
            scope = f"of {len(passing)} meeting the budget ({budget.text()})" if budget.items() else \
                "no budget given"
            reason = f"{chosen.variant}: {how} {scope}; " + ", ".join(figures)
            verdicts[chosen.variant] = ("chosen", reason)
            for c in passing:
                if c is not chosen:
                    verdicts[c.variant] = ("meets budget", f"meets the budget; {chosen.variant} chosen ({how})")
        else:
            refused = [c for c in mine if not c.valid or c.inconclusive]
            reason = "no variant meets the budget" if considered else "no variant can be judged"
            if refused:
                reason += f" ({len(refused)} not considered: invalid rows or inconclusive verdicts)"
        judged = tuple(Judged(c, *verdicts[c.variant], on_front=c in front) for c in mine)
        out.append(Recommendation(device, model, budget, chosen, reason, judged))
    return out
