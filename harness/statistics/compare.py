"""Compare two runs key by key: the change of median latency with a confidence interval.

Latency samples are not independent draws: consecutive inferences share caches, clocks and
temperature (autocorrelation), and two runs of the same build differ by more than their samples'
spread suggests (run-to-run variance). So the interval is never a bootstrap of single samples:

- with repeats (`harness run --repeat N`, or a nightly's past good nights), the unit is a run: its
  median (the stored p50) is resampled (scipy.stats.bootstrap, seeded; Student's t on log medians
  below 5 runs a side), so run-to-run variance is *measured*;
- with one run per side, blocks of consecutive samples are resampled (a circular block bootstrap), which
  keeps the autocorrelation; the run-to-run variance is then unknown, and the basis says so.

Every sample is used (no subsampling), so the medians shown are the stored p50s. A change counts only
when the interval excludes zero *and* the change is larger than a practical threshold. No p-value is
shown: a Mann-Whitney test over thousands of autocorrelated samples answers "are these two sets of
numbers from one distribution" with p = 1e-20 for any two runs, which is not the question.
A row flagged by its validity checks (unstable, throttled, too short, partly delegated) gives the
verdict "inconclusive", never faster or slower. Memory, energy and accuracy are shown beside.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from collections.abc import Callable, Iterable, Sequence

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
# One run per side: how far the median of one run of an unchanged build moves from another run's on this
# kind of host (a shared 2-core x86 VM). Measured by benchmarks/verdicts.py on real A/A pairs (SRCNN
# 33 and 74 M MACs, XNNPACK, 2 threads, 0.5 s windows; 8 cycles, load 2.0-11.5, CPUs 80-100 % busy):
# over the 18 A/A row pairs where neither row was flagged, |change| median 4.1 %, p90 16 %, p95 36 %,
# max 49 % (over all 126 pairs, flagged included: p95 398 %, which flagged rows never reach: they are
# inconclusive anyway). A single-run change within this is "inconclusive: one run per side";
# `harness run --repeat N` measures the variance instead.
SINGLE_RUN_NOISE = 0.50
SINGLE_RUN_REASON = "inconclusive: one run per side"
# With repeats the interval holds the spread of each side's runs, but the repeats of one `harness run`
# share a level that another invocation seconds later does not: on this host with nothing else running
# (benchmarks/verdicts.py, 8 cycles, load 0.5-3.5), two invocations of one build moved by up to 8.4 %
# (|change| over 10 A/A keys with usable rows: median 1.2 %, max 8.4 %) while each side's 3 repeats
# agreed within 1-3 %, so the t interval excluded zero at +5.5 % and -8.4 % (2 false verdicts in 14 keys
# with a 5 % floor). A smaller change than this is not called from runs measured apart;
# `harness compare --remeasure` measures both builds side by side instead, which cancels the level.
REPEATS_NOISE = 0.10
BOOTSTRAP_MIN_REPEATS = 5  # fewer runs a side: a t interval on log medians instead of a bootstrap


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
    n_a: int  # samples on each side (all of them: nothing is subsampled)
    n_b: int
    verdict: str  # faster | slower | unchanged | inconclusive | unknown
    basis: str  # repeats | blocks | p50 only | none
    repeats_a: int = 1
    repeats_b: int = 1  # runs the verdict used on each side (flagged runs left out are not counted)
    reason: str | None = None  # why a verdict is inconclusive, and which runs were left out
    left_out: tuple[str, ...] = ()  # `B run 2: unstable`: flagged runs the verdict did not use


def _verdict(change: float | None, low: float | None, high: float | None, threshold: float) -> str:
    if change is None:
        return "unknown"
    if low is None or high is None:  # no interval: only the size of the change speaks
        return "slower" if change > threshold else "faster" if change < -threshold else "unchanged"
    if low > 0 and change > threshold:
        return "slower"
    if high < 0 and change < -threshold:
        return "faster"
    if abs(change) > threshold and low <= 0 <= high:
        # A change beyond the threshold that the interval cannot tell from none is not "unchanged": a nightly
        # re-run at +405 % against three baseline runs (one of them 30 % off the others) was called unchanged
        # and its suspect cleared.
        return "inconclusive"
    return "unchanged"


def interval_reason(lat: LatencyChange) -> str | None:
    """Why an interval-based verdict is inconclusive, when nothing else (flags, one run a side) says so."""
    if lat.verdict != "inconclusive" or lat.change is None or lat.ci_low is None or lat.ci_high is None:
        return None
    return (f"the interval [{lat.ci_low:+.1%}, {lat.ci_high:+.1%}] holds no change as well as {lat.change:+.1%}: "
            "too wide to call it")


def block_length(x: np.ndarray) -> int:
    """Block length for a circular block bootstrap: n^(1/3), longer when samples are autocorrelated.

    For an AR(1)-like series with lag-1 correlation rho, the optimal length grows as
    (2 rho / (1 - rho^2))^(2/3) n^(1/3) (Politis and White 2004, Patton et al. 2009).
    """
    n = len(x)
    base = n ** (1 / 3)
    d = x - x.mean()
    denom = float(d @ d)
    rho = float(d[1:] @ d[:-1]) / denom if denom > 0 and n > 2 else 0.0
    rho = min(max(rho, 0.0), 0.95)
    scale = (2 * rho / (1 - rho * rho)) ** (2 / 3) if rho > 0 else 0.0
    return int(min(max(1, math.ceil(base * max(1.0, scale))), max(1, n // 4)))


def block_bootstrap_medians(x: np.ndarray, n_resamples: int, rng: np.random.Generator,
                            block: int | None = None) -> np.ndarray:
    """Medians of `n_resamples` circular block resamples of the series `x` (time order kept)."""
    n = len(x)
    b = block_length(x) if block is None else block
    nb = math.ceil(n / b)
    ext = np.concatenate([x, x[:b]])
    offsets = np.arange(b)
    out = np.empty(n_resamples)
    batch = max(1, 2_000_000 // max(n, 1))
    for s in range(0, n_resamples, batch):
        k = min(batch, n_resamples - s)
        starts = rng.integers(0, n, size=(k, nb))
        idx = (starts[:, :, None] + offsets).reshape(k, nb * b)[:, :n]
        out[s:s + k] = np.median(ext[idx], axis=1)
    return out


def compare_samples(a: Sequence[float], b: Sequence[float], *, threshold: float = DEFAULT_THRESHOLD,
                    confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0,
                    block: int | None = None) -> LatencyChange:
    """One run per side: change of the median, interval from a block bootstrap of each run's samples.

    Samples are in time order; every one of them is used. Pure and deterministic for a seed. `block`
    overrides the block length (1 is the independent-samples bootstrap, for comparison only).
    """
    xa = np.asarray(a, dtype=float)
    xb = np.asarray(b, dtype=float)
    if len(xa) < 2 or len(xb) < 2:
        raise ValueError("need at least two samples on each side")
    rng = np.random.default_rng(seed)
    med_a, med_b = float(np.median(xa)), float(np.median(xb))
    ratios = (block_bootstrap_medians(xb, n_resamples, rng, block)
              / block_bootstrap_medians(xa, n_resamples, rng, block) - 1.0)
    alpha = (1 - confidence) / 2
    low, high = (float(v) for v in np.quantile(ratios, [alpha, 1 - alpha]))
    change = med_b / med_a - 1.0
    return LatencyChange(med_a, med_b, change, low, high, len(xa), len(xb),
                         _verdict(change, low, high, threshold), "blocks")


def compare_repeats(a: Sequence[float], b: Sequence[float], *, threshold: float = DEFAULT_THRESHOLD,
                    confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0,
                    n_a: int = 0, n_b: int = 0) -> LatencyChange:
    """Runs as the unit: `a` and `b` are the medians of each side's repeats, so the interval holds
    the run-to-run variance. The change is the median of B's medians over the median of A's.

    With >= BOOTSTRAP_MIN_REPEATS a side, the medians are bootstrapped (scipy.stats.bootstrap, seeded).
    With fewer, a bootstrap over 2-4 values is far too narrow, so the interval is Student's t on the
    log medians with the run-to-run variance pooled over the sides that have >= 2 repeats (one side
    may have a single run: a nightly re-run against one baseline night). Needs >= 3 runs in all.
    """
    import warnings

    from scipy import stats

    ma = np.asarray(a, dtype=float)
    mb = np.asarray(b, dtype=float)
    if len(ma) < 1 or len(mb) < 1 or len(ma) + len(mb) < 3:
        raise ValueError("need at least three runs in all, one on each side")
    med_a, med_b = float(np.median(ma)), float(np.median(mb))
    change = med_b / med_a - 1.0
    if min(len(ma), len(mb)) >= BOOTSTRAP_MIN_REPEATS:
        def ratio(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
            r: np.ndarray = np.median(y, axis=axis) / np.median(x, axis=axis) - 1.0
            return r

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # identical repeats: a zero-width interval is fine
            res = stats.bootstrap((ma, mb), ratio, vectorized=True, paired=False, n_resamples=n_resamples,
                                  confidence_level=confidence, method="percentile",
                                  rng=np.random.default_rng(seed))
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    else:
        la, lb = np.log(ma), np.log(mb)
        ss = float(((la - la.mean()) ** 2).sum() + ((lb - lb.mean()) ** 2).sum())
        df = len(la) + len(lb) - 2
        sd = math.sqrt(ss / df)
        half = float(stats.t.ppf(0.5 + confidence / 2, df)) * sd * math.sqrt(1 / len(la) + 1 / len(lb))
        centre = float(lb.mean() - la.mean())
        low, high = math.expm1(centre - half), math.expm1(centre + half)
    return LatencyChange(med_a, med_b, change, low, high, n_a, n_b, _verdict(change, low, high, threshold),
                         "repeats", len(ma), len(mb))


def repeat_of(m: Measurement) -> int:
    """The repeat index a row carries (`harness run --repeat N`); 0 for rows measured once."""
    for name in ("repeat", "repeat_index"):
        v = getattr(m, name, None)
        if isinstance(v, int):
            return v
    return 0


def _median_of(m: Measurement) -> float | None:
    if m.p50_us:
        return float(m.p50_us)
    return float(np.median(m.latencies_us)) if m.latencies_us else None


def _row_flags(m: Measurement) -> list[str]:
    if m.validity is None or m.validity.valid:
        return []
    return m.validity.flags() or ["invalid"]


def split_usable(side: str, rows: Sequence[Measurement]) -> tuple[list[Measurement], list[str]]:
    """The rows a verdict may rest on, and each flagged one left out as `B run 2: unstable`."""
    kept: list[Measurement] = []
    left: list[str] = []
    for m in rows:
        bad = _row_flags(m)
        if bad:
            left.append(f"{side} run {repeat_of(m) + 1}: {'/'.join(bad)}")
        else:
            kept.append(m)
    return kept, left


def _flags(side: str, rows: Sequence[Measurement]) -> str | None:
    bad: list[str] = []
    flagged = 0
    for m in rows:
        mine = _row_flags(m)
        flagged += bool(mine)
        bad += [f for f in mine if f not in bad]
    if not bad:
        return None
    return f"{side} flagged {'/'.join(bad)}" + (f" ({flagged} of {len(rows)} runs)" if len(rows) > 1 else "")


def _enough(kept: Sequence[Measurement], rows: Sequence[Measurement]) -> bool:
    """At least half of a side's runs are usable: one unstable run among several does not veto a key."""
    return bool(kept) and 2 * len(kept) >= len(rows)


def _compare_rows(ra: Sequence[Measurement], rb: Sequence[Measurement], threshold: float, seed: int,
                  confidence: float, floor: float) -> LatencyChange:
    meds_a = [v for v in map(_median_of, ra) if v is not None]
    meds_b = [v for v in map(_median_of, rb) if v is not None]
    n_a = sum(len(m.latencies_us) for m in ra)
    n_b = sum(len(m.latencies_us) for m in rb)
    if meds_a and meds_b and max(len(meds_a), len(meds_b)) >= 2 and len(meds_a) + len(meds_b) >= 3:
        return compare_repeats(meds_a, meds_b, threshold=max(threshold, floor), seed=seed, n_a=n_a,
                               n_b=n_b, confidence=confidence)
    if n_a >= 2 and n_b >= 2 and all(m.latencies_us for m in list(ra) + list(rb)):
        out = compare_samples([x for m in ra for x in m.latencies_us], [x for m in rb for x in m.latencies_us],
                              threshold=threshold, seed=seed, confidence=confidence)
        return replace(out, repeats_a=len(ra), repeats_b=len(rb))
    if meds_a and meds_b:
        med_a, med_b = float(np.median(meds_a)), float(np.median(meds_b))
        change = med_b / med_a - 1.0
        return LatencyChange(med_a, med_b, change, None, None, n_a, n_b, _verdict(change, None, None, threshold),
                             "p50 only", len(meds_a), len(meds_b))
    return LatencyChange(meds_a[0] if meds_a else None, meds_b[0] if meds_b else None, None, None, None,
                         n_a, n_b, "unknown", "none", len(ra), len(rb))


def single_run(lat: LatencyChange) -> bool:
    """The verdict rests on one run a side: the run-to-run variance was not measured."""
    return lat.basis in ("blocks", "p50 only") and lat.repeats_a == 1 and lat.repeats_b == 1


def compare_measurements(a: Measurement | Sequence[Measurement], b: Measurement | Sequence[Measurement], *,
                         threshold: float = DEFAULT_THRESHOLD, seed: int = 0,
                         confidence: float = 0.95, repeats_floor: float = REPEATS_NOISE,
                         single_run_noise: float | None = None) -> LatencyChange:
    """One key's rows on each side (one per repeat). Runs as the unit when a side has >= 2, else blocks
    of samples, else p50 against p50 (tools that print only statistics).

    Flagged rows (unstable, throttled, host busy, ...) are left out while at least half of each side's
    runs remain, and the verdict names them; with fewer, the key is inconclusive. With one run a side
    a change within SINGLE_RUN_NOISE (the run-to-run variance of this kind of host) is inconclusive:
    one run per side cannot tell it from another run's luck."""
    ra = sorted([a] if isinstance(a, Measurement) else list(a), key=repeat_of)
    rb = sorted([b] if isinstance(b, Measurement) else list(b), key=repeat_of)
    ka, left_a = split_usable("A", ra)
    kb, left_b = split_usable("B", rb)
    if not (_enough(ka, ra) and _enough(kb, rb)):
        out = _compare_rows(ra, rb, threshold, seed, confidence, repeats_floor)
        if out.verdict == "unknown":
            return out
        reasons = [r for r in (_flags("A", ra), _flags("B", rb)) if r]
        return replace(out, verdict="inconclusive", reason="; ".join(reasons), left_out=tuple(left_a + left_b))
    out = _compare_rows(ka, kb, threshold, seed, confidence, repeats_floor)
    noise = SINGLE_RUN_NOISE if single_run_noise is None else single_run_noise
    reasons = []
    if left_a or left_b:
        reasons.append(f"used {len(ka)}/{len(ra)} A and {len(kb)}/{len(rb)} B runs; left out "
                       + ", ".join(left_a + left_b))
    if single_run(out) and out.verdict in ("faster", "slower", "unchanged") and out.change is not None \
            and abs(out.change) <= noise:
        out = replace(out, verdict="inconclusive")
        reasons.insert(0, f"{SINGLE_RUN_REASON} ({out.change:+.1%} is within the ±{noise:.0%} "
                          "that two runs of one build differ by on this kind of host)")
    wide = interval_reason(out)
    if wide and not any(r.startswith(SINGLE_RUN_REASON) for r in reasons):
        reasons.insert(0, wide)
    return replace(out, reason="; ".join(reasons) or None, left_out=tuple(left_a + left_b))


def _median_field(rows: Sequence[Measurement], read: Callable[[Measurement], object]) -> float | None:
    vals = [v for v in (read(m) for m in rows) if isinstance(v, (int, float)) and math.isfinite(v)]
    return float(np.median(vals)) if vals else None


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

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["verdict"] = self.verdict
        d["accuracy_metric"] = accuracy_name(self.accuracy_name) if self.accuracy_name else None
        return d


def compare_runs(rows_a: Iterable[Measurement], rows_b: Iterable[Measurement], *,
                 threshold: float = DEFAULT_THRESHOLD, seed: int = 0) -> list[KeyComparison]:
    """One entry per (device, model, variant) seen in either run, in run B's order first.

    A key's rows are grouped (one per repeat when the run used `--repeat`); failed repeats are left out
    as long as one repeat of the key measured something.
    """
    a: dict[tuple[str, str, str], list[Measurement]] = {}
    b: dict[tuple[str, str, str], list[Measurement]] = {}
    for side, rows in ((a, rows_a), (b, rows_b)):
        for m in rows:
            side.setdefault(m.key, []).append(m)
    keys = list(b) + [k for k in a if k not in b]
    out: list[KeyComparison] = []
    for key in keys:
        ga, gb = a.get(key), b.get(key)
        if ga is None or gb is None:
            out.append(KeyComparison(*key, status="only in B" if ga is None else "only in A"))
            continue
        oka = [m for m in ga if m.status == "ok"]
        okb = [m for m in gb if m.status == "ok"]
        bad = [side for side, ok in (("A", oka), ("B", okb)) if not ok]
        if bad:
            out.append(KeyComparison(*key, status="error in both" if len(bad) == 2 else f"error in {bad[0]}"))
            continue
        acc_a = [x for x in map(accuracy_of, oka) if x]
        acc_b = [x for x in map(accuracy_of, okb) if x]
        acc_name = acc_b[0][0] if acc_b else (acc_a[0][0] if acc_a else None)
        va = [v for n, v in acc_a if n == acc_name]
        vb = [v for n, v in acc_b if n == acc_name]
        out.append(KeyComparison(
            *key, status="compared", latency=compare_measurements(oka, okb, threshold=threshold, seed=seed),
            rss_a_mb=_median_field(oka, lambda m: m.peak_rss_mb), rss_b_mb=_median_field(okb, lambda m: m.peak_rss_mb),
            energy_a_mj=_median_field(oka, lambda m: m.energy_per_inference_mj),
            energy_b_mj=_median_field(okb, lambda m: m.energy_per_inference_mj),
            accuracy_name=acc_name,
            accuracy_a=float(np.median(va)) if va else None,
            accuracy_b=float(np.median(vb)) if vb else None,
            p99_a_us=_median_field(oka, lambda m: m.p99_us), p99_b_us=_median_field(okb, lambda m: m.p99_us),
        ))
    return out


def basis_text(lat: LatencyChange) -> str:
    """What the interval rests on, and why a verdict is inconclusive."""
    if lat.basis == "repeats":
        text = f"medians of {lat.repeats_a}/{lat.repeats_b} runs"
    elif lat.basis == "blocks":
        text = ("sample blocks, 1 run each" if lat.repeats_a == lat.repeats_b == 1
                else f"sample blocks, {lat.repeats_a}/{lat.repeats_b} runs")
    else:
        text = lat.basis
    return f"{text}; {lat.reason}" if lat.reason else text


SINGLE_RUN_NOTE = ("one run per side: the run-to-run variance is not measured; "
                   "`harness run --repeat N` measures it")


def comparison_notes(items: Sequence[KeyComparison]) -> list[str]:
    """The warnings that go with a comparison table, the same in `harness compare` and in reports."""
    notes: list[str] = []
    single = [c for c in items if c.latency is not None and single_run(c.latency) and c.latency.verdict != "unknown"]
    within = [c for c in single if c.latency is not None and (c.latency.reason or "").startswith(SINGLE_RUN_REASON)]
    if within:
        notes.append(f"{len(within)} key(s) {SINGLE_RUN_REASON}: a change within ±{SINGLE_RUN_NOISE:.0%} is what "
                     "two runs of one build differ by on this kind of host (measured by benchmarks/verdicts.py); "
                     "`harness run --repeat 3` on each side measures the run-to-run variance instead")
    elif single:
        notes.append(SINGLE_RUN_NOTE)
    for c in items:
        lat = c.latency
        if lat is None or not lat.reason or lat.reason.startswith(SINGLE_RUN_REASON):
            continue
        what = "inconclusive" if lat.verdict == "inconclusive" else lat.verdict
        notes.append(f"{c.device} {model_label(c.model)}/{c.variant}: {what}: {lat.reason}")
    return notes


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
        meds = "-" if lat.median_a_us is None or lat.median_b_us is None else \
            f"{lat.median_a_us / 1000:.3f} → {lat.median_b_us / 1000:.3f}"
        acc = _delta(c.accuracy_a, c.accuracy_b, "{:.4g}")
        rows.append([c.device, model_label(c.model), c.variant, lat.verdict, _pct(lat.change), ci, meds,
                     _p99(c.p99_a_us, c.p99_b_us), basis_text(lat),
                     _delta(c.rss_a_mb, c.rss_b_mb, "{:.1f}"), _delta(c.energy_a_mj, c.energy_b_mj, "{:.3g}"),
                     acc if c.accuracy_name is None else f"{accuracy_name(c.accuracy_name)} {acc}"])
    return rows


COMPARISON_HEADERS = ["device", "model", "variant", "verdict", "change", "95% CI", "p50 ms A → B", "p99 ms A → B",
                      "basis",
                      "peak MB", "energy mJ", "accuracy"]
