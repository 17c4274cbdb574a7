"""Compare two runs key by key: the change of median latency with a confidence interval.

The interval comes from a bootstrap of the ratio of medians over the raw samples (scipy.stats.bootstrap,
seeded, so the same runs always give the same answer), and the Mann-Whitney U p-value is shown beside
it. A change counts only when the interval excludes zero *and* the change is larger than a practical
threshold: with thousands of samples a 0.3 % shift is "significant" and still not worth a report.
Memory, energy and accuracy changes are shown beside, without a verdict of their own.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from harness.store.results import Measurement

# Names of quality metrics, best first; the first one a measurement has is its "accuracy".
# The converters also store the task's main figure as plain `accuracy`; the named key wins, so a
# reader sees "PSNR dB" rather than "accuracy".
ACCURACY_KEYS = ("psnr_db", "psnr", "top1", "top1_accuracy", "map50", "accuracy", "ssim")
# metric key -> (name, unit, task): what a reader is told next to the number.
ACCURACY_METRICS: dict[str, tuple[str, str, str]] = {
    "psnr_db": ("PSNR", "dB", "super-resolution"),
    "psnr": ("PSNR", "dB", "super-resolution"),
    "ssim": ("SSIM", "", "super-resolution"),
    "top1": ("top-1", "", "classification"),
    "top1_accuracy": ("top-1", "", "classification"),
    "map50": ("mAP@0.5", "", "detection"),
    "accuracy": ("accuracy", "", "other"),
}


def accuracy_name(key: str) -> str:
    """`PSNR dB`, `SSIM`, `top-1`, `mAP@0.5`: the metric and its unit as a reader says it."""
    name, unit, _ = ACCURACY_METRICS.get(key, (key, "", "other"))
    return f"{name} {unit}".strip()


def accuracy_task(key: str) -> str:
    return ACCURACY_METRICS.get(key, (key, "", "other"))[2]


def accuracy_text(key: str, value: float) -> str:
    """`PSNR 27.41 dB`, `top-1 0.612`, `mAP@0.5 0.430`."""
    name, unit, _ = ACCURACY_METRICS.get(key, (key, "", "other"))
    number = f"{value:.2f}" if unit == "dB" else f"{value:.3f}"
    return f"{name} {number}" + (f" {unit}" if unit else "")
DEFAULT_THRESHOLD = 0.02


def accuracy_of(m: Measurement) -> tuple[str, float] | None:
    for key in ACCURACY_KEYS:
        v = m.metrics.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            return key, float(v)
    return None


def model_label(model: str) -> str:
    """A model file path shows as its file name; a zoo name as itself."""
    return Path(model).name if ("/" in model or model.endswith((".tflite", ".keras", ".h5"))) else model


@dataclass(frozen=True)
class LatencyChange:
    median_a_us: float | None
    median_b_us: float | None
    change: float | None  # median_b / median_a - 1
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n_a: int
    n_b: int
    verdict: str  # faster | slower | unchanged | unknown
    basis: str  # samples | p50 only | none


def compare_samples(a: Sequence[float], b: Sequence[float], *, threshold: float = DEFAULT_THRESHOLD,
                    confidence: float = 0.95, n_resamples: int = 1000, seed: int = 0,
                    max_samples: int = 1000) -> LatencyChange:
    """Change of the median from samples `a` to samples `b`; pure and deterministic for a seed."""
    from scipy import stats

    xa = np.asarray(a, dtype=float)
    xb = np.asarray(b, dtype=float)
    if len(xa) < 2 or len(xb) < 2:
        raise ValueError("need at least two samples on each side")
    rng = np.random.default_rng(seed)
    # Thousands of samples add nothing to an interval on a median but time; keep a random subset.
    if len(xa) > max_samples:
        xa = rng.choice(xa, max_samples, replace=False)
    if len(xb) > max_samples:
        xb = rng.choice(xb, max_samples, replace=False)
    med_a, med_b = float(np.median(xa)), float(np.median(xb))

    def ratio(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        r: np.ndarray = np.median(y, axis=axis) / np.median(x, axis=axis) - 1.0
        return r

    res = stats.bootstrap((xa, xb), ratio, vectorized=True, paired=False, n_resamples=n_resamples,
                          confidence_level=confidence, method="percentile", rng=rng, batch=250)
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    p = float(stats.mannwhitneyu(xa, xb, alternative="two-sided").pvalue)
    change = med_b / med_a - 1.0
    if low > 0 and change > threshold:
        verdict = "slower"
    elif high < 0 and change < -threshold:
        verdict = "faster"
    else:
        verdict = "unchanged"
    return LatencyChange(med_a, med_b, change, low, high, p, len(a), len(b), verdict, "samples")


def compare_measurements(a: Measurement, b: Measurement, *, threshold: float = DEFAULT_THRESHOLD,
                         seed: int = 0) -> LatencyChange:
    """Samples when both sides kept them; tools that print only statistics give p50 against p50."""
    if len(a.latencies_us) >= 2 and len(b.latencies_us) >= 2:
        return compare_samples(a.latencies_us, b.latencies_us, threshold=threshold, seed=seed)
    if a.p50_us and b.p50_us:
        change = b.p50_us / a.p50_us - 1.0
        verdict = "slower" if change > threshold else "faster" if change < -threshold else "unchanged"
        return LatencyChange(a.p50_us, b.p50_us, change, None, None, None, len(a.latencies_us),
                             len(b.latencies_us), verdict, "p50 only")
    return LatencyChange(a.p50_us, b.p50_us, None, None, None, None, 0, 0, "unknown", "none")


@dataclass(frozen=True)
class KeyComparison:
    device: str
    model: str
    variant: str
    status: str  # compared | only in A | only in B | error in A | error in B | error in both
    latency: LatencyChange | None = None
    rss_a_mb: float | None = None
    rss_b_mb: float | None = None
    energy_a_mj: float | None = None
    energy_b_mj: float | None = None
    accuracy_name: str | None = None
    accuracy_a: float | None = None
    accuracy_b: float | None = None
    p99_a_us: float | None = None  # None: the tool did not measure p99 (never p95 in its place)
    p99_b_us: float | None = None

    @property
    def verdict(self) -> str:
        return self.latency.verdict if self.latency else self.status

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["verdict"] = self.verdict
        d["accuracy_metric"] = accuracy_name(self.accuracy_name) if self.accuracy_name else None
        return d


def compare_runs(rows_a: Iterable[Measurement], rows_b: Iterable[Measurement], *,
                 threshold: float = DEFAULT_THRESHOLD, seed: int = 0) -> list[KeyComparison]:
    """One entry per (device, model, variant) seen in either run, in run B's order first."""
    a = {m.key: m for m in rows_a}
    b = {m.key: m for m in rows_b}
    keys = list(b) + [k for k in a if k not in b]
    out: list[KeyComparison] = []
    for key in keys:
        ma, mb = a.get(key), b.get(key)
        if ma is None or mb is None:
            out.append(KeyComparison(*key, status="only in B" if ma is None else "only in A"))
            continue
        bad = [side for side, m in (("A", ma), ("B", mb)) if m.status != "ok"]
        if bad:
            out.append(KeyComparison(*key, status="error in both" if len(bad) == 2 else f"error in {bad[0]}"))
            continue
        acc_a, acc_b = accuracy_of(ma), accuracy_of(mb)
        acc_name = acc_b[0] if acc_b else (acc_a[0] if acc_a else None)
        out.append(KeyComparison(
            *key, status="compared", latency=compare_measurements(ma, mb, threshold=threshold, seed=seed),
            rss_a_mb=ma.peak_rss_mb, rss_b_mb=mb.peak_rss_mb,
            energy_a_mj=ma.energy_per_inference_mj, energy_b_mj=mb.energy_per_inference_mj,
            accuracy_name=acc_name,
            accuracy_a=acc_a[1] if acc_a and acc_a[0] == acc_name else None,
            accuracy_b=acc_b[1] if acc_b and acc_b[0] == acc_name else None,
            p99_a_us=ma.p99_us, p99_b_us=mb.p99_us,
        ))
    return out


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:+.1%}"


def _delta(a: float | None, b: float | None, fmt: str) -> str:
    if a is None and b is None:
        return "-"
    if a is None or b is None:
        return f"{'-' if a is None else fmt.format(a)} → {'-' if b is None else fmt.format(b)}"
    fa, fb = fmt.format(a), fmt.format(b)
    return fa if fa == fb else f"{fa} → {fb}"


def _p99(a_us: float | None, b_us: float | None) -> str:
    """p99 side by side in ms; a side whose tool printed no p99 says so."""
    side = ["not measured" if x is None else f"{x / 1000:.3f}" for x in (a_us, b_us)]
    return "not measured" if a_us is None and b_us is None else f"{side[0]} → {side[1]}"


def comparison_rows(items: Sequence[KeyComparison]) -> list[list[str]]:
    """Text cells for a terminal or Markdown table, shared by `compare` and the nightly report."""
    rows = []
    for c in items:
        lat = c.latency
        if lat is None:
            rows.append([c.device, model_label(c.model), c.variant, c.status, "-", "-", "-", "-", "-", "-", "-", "-"])
            continue
        ci = "-" if lat.ci_low is None else f"[{lat.ci_low:+.1%}, {lat.ci_high:+.1%}]"
        p = "-" if lat.p_value is None else f"{lat.p_value:.2g}"
        meds = "-" if lat.median_a_us is None or lat.median_b_us is None else \
            f"{lat.median_a_us / 1000:.3f} → {lat.median_b_us / 1000:.3f}"
        acc = _delta(c.accuracy_a, c.accuracy_b, "{:.4g}")
        rows.append([c.device, model_label(c.model), c.variant, lat.verdict, _pct(lat.change), ci, meds,
                     _p99(c.p99_a_us, c.p99_b_us), p,
                     _delta(c.rss_a_mb, c.rss_b_mb, "{:.1f}"), _delta(c.energy_a_mj, c.energy_b_mj, "{:.3g}"),
                     acc if c.accuracy_name is None else f"{accuracy_name(c.accuracy_name)} {acc}"])
    return rows


COMPARISON_HEADERS = ["device", "model", "variant", "verdict", "change", "95% CI", "p50 ms A → B", "p99 ms A → B",
                      "MWU p",
                      "peak MB", "energy mJ", "accuracy"]
