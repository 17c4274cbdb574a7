"""Step and regression detection over a series of runs: pure functions, no I/O.

Follows the approach airspeed velocity (asv) uses for its regressions: fit a piecewise constant
function to the series under an L1 (median) cost, which shrugs off single outliers, and choose the
number of steps k by an information criterion, ``beta * k + log(sigma_0 + mean |y - fit|)`` with
``beta = 4 ln(n) / n``, where ``sigma_0`` is a noise floor so that an almost noiseless series is not
cut into pieces. Unlike asv, the fit for each k is exact (segment-neighbourhood dynamic programming,
O(k n^2)), which is cheap for the few hundred nights a history holds.

A step is then reported only when it is larger than a relative threshold and than the noise of the
two levels it joins; a new level seen on fewer than `min_size` points is only *suspected* (the
nightly job re-runs it before it counts), and a short blip that returns to the old level is dropped.
Lower values are better unless `higher_is_better` (accuracy) is set.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, replace
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from harness.statistics.compare import LatencyChange
    from harness.store.results import Measurement

# asv uses 4; 3 finds a step two or three nights old far more often, at about one false alarm in
# 600 A/A series with outliers (counted in tests/test_regression.py).
BETA = 3.0


@dataclass(frozen=True)
class Segment:
    """Points ``start <= i < end`` of the series sit at one level (their median)."""

    start: int
    end: int
    value: float
    err: float  # mean absolute deviation from `value`: the level's noise

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Step:
    """A change of level at `index` (the first point at the new level)."""

    index: int
    before: float
    after: float
    change: float  # after / before - 1
    kind: str  # regression | improvement
    confirmed: bool  # the new level holds on at least `min_size` points


def _l1_costs(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cost[l, r] = sum |y[l..r] - median| and med[l, r], for all l <= r, in O(n^2 log n).

    Two heaps per left edge hold the lower and upper halves with their sums, so each extension by
    one point costs O(log n) (the rolling-median trick asv uses too).
    """
    n = len(y)
    cost = np.full((n, n), np.inf)
    med = np.zeros((n, n))
    for left in range(n):
        lower: list[float] = []  # max-heap (negated): the smaller half, holds the extra point
        upper: list[float] = []  # min-heap: the larger half
        s_low = s_up = 0.0
        for right in range(left, n):
            v = float(y[right])
            if lower and v > -lower[0]:
                heapq.heappush(upper, v)
                s_up += v
            else:
                heapq.heappush(lower, -v)
                s_low += v
            if len(lower) > len(upper) + 1:
                moved = -heapq.heappop(lower)
                s_low -= moved
                heapq.heappush(upper, moved)
                s_up += moved
            elif len(upper) > len(lower):
                moved = heapq.heappop(upper)
                s_up -= moved
                heapq.heappush(lower, -moved)
                s_low += moved
            top = -lower[0]
            if len(lower) == len(upper):
                med[left, right] = (top + upper[0]) / 2
                cost[left, right] = max(0.0, s_up - s_low)
            else:
                med[left, right] = top
                cost[left, right] = max(0.0, s_up - s_low + top)
    return cost, med


def _best_partitions(cost: np.ndarray, kmax: int) -> list[tuple[float, list[int]]]:
    """For k = 1..kmax segments: (total cost, right edges, exclusive) of the best partition."""
    n = cost.shape[0]
    # best[k][r]: cost of splitting y[0..r] into k+1 segments; back[k][r]: start of the last one.
    best = np.full((kmax, n), np.inf)
    back = np.zeros((kmax, n), dtype=int)
    best[0] = cost[0]
    for k in range(1, kmax):
        for r in range(k, n):
            # last segment starts at l (k <= l <= r); the earlier k segments cover y[0..l-1]
            cand = best[k - 1, k - 1:r] + cost[k:r + 1, r]
            j = int(np.argmin(cand))
            best[k, r] = cand[j]
            back[k, r] = j + k
    out = []
    for k in range(kmax):
        if not math.isfinite(best[k, n - 1]):
            break
        rights = [n]
        r = n - 1
        for kk in range(k, 0, -1):
            start = back[kk, r]
            rights.append(int(start))
            r = start - 1
        out.append((float(best[k, n - 1]), sorted(rights)))
    return out


def detect_steps(values: Sequence[float], *, beta: float | None = None, max_steps: int = 8) -> list[Segment]:
    """Split a series into constant levels; NaN or None points must be removed by the caller."""
    y = np.asarray(values, dtype=float)
    n = len(y)
    if n == 0:
        return []
    if not np.all(np.isfinite(y)):
        raise ValueError("series holds NaN or infinite values")
    if n < 3:
        return [Segment(0, n, float(np.median(y)), float(np.mean(np.abs(y - np.median(y)))))]
    beta = BETA * math.log(n) / n if beta is None else beta
    cost, med = _l1_costs(y)
    best_obj = math.inf
    best_rights: list[int] = [n]
    for total, rights in _best_partitions(cost, min(max_steps + 1, n)):
        levels = [med[left, right - 1] for left, right in zip([0] + rights[:-1], rights)]
        if len(levels) > 2:
            floor = 0.1 * min(abs(b - a) for a, b in zip(levels, levels[1:]))
        else:
            floor = 0.001 * min(abs(v) for v in levels)
        obj = beta * len(rights) + math.log(max(floor, 1e-300) + total / n)
        if obj < best_obj - 1e-12:
            best_obj, best_rights = obj, rights
    segments = []
    for left, right in zip([0] + best_rights[:-1], best_rights):
        segments.append(Segment(left, right, float(med[left, right - 1]),
                                float(cost[left, right - 1]) / (right - left)))
    return segments


def detect_regressions(values: Sequence[float], *, threshold: float = 0.05, min_size: int = 2,
                       higher_is_better: bool = False, noise_factor: float = 2.0) -> list[Step]:
    """Steps worth reporting, oldest first.

    A step counts when |after - before| exceeds both `threshold` x before and `noise_factor` x the
    larger noise (mean absolute deviation) of the two levels. A level shorter than `min_size` that
    returns to within the threshold of the level before it is a blip, not two steps.
    """
    segs = detect_steps(values)
    steps: list[Step] = []
    i = 1
    while i < len(segs):
        a, b = segs[i - 1], segs[i]
        if not _significant(a, b, threshold, noise_factor) or (a.size < min_size and b.size < min_size):
            # Two lone points at two levels are noise, not a step: a series so noisy that every run is
            # its own level used to mark a "step" on every run, each "suspected: newest run only".
            i += 1
            continue
        if b.size < min_size and i + 1 < len(segs) and not _significant(a, segs[i + 1], threshold, noise_factor):
            i += 2  # an outlier run: up and straight back down
            continue
        change = b.value / a.value - 1 if a.value else math.inf
        worse = change < 0 if higher_is_better else change > 0
        steps.append(Step(index=b.start, before=a.value, after=b.value, change=change,
                          kind="regression" if worse else "improvement", confirmed=b.size >= min_size))
        i += 1
    last = segs[-1] if segs else None
    if last is not None and last.size > 1:
        # The newest point alone off its level: too short for the fit, worth a re-run.
        point = Segment(len(values) - 1, len(values), float(values[-1]), 0.0)
        if _significant(last, point, threshold, noise_factor * 1.5):
            change = point.value / last.value - 1 if last.value else math.inf
            worse = change < 0 if higher_is_better else change > 0
            steps.append(Step(index=point.start, before=last.value, after=point.value, change=change,
                              kind="regression" if worse else "improvement", confirmed=False))
    return steps


def _significant(a: Segment, b: Segment, threshold: float, noise_factor: float) -> bool:
    diff = abs(b.value - a.value)
    return diff > threshold * abs(a.value) and diff > noise_factor * max(a.err, b.err)


# --- the nightly decision for one key -------------------------------------------------------------
# Past good nights the pairwise check pools as runs (their spread is the run-to-run variance), and how
# many of them the step detection sees. Calibrated in benchmarks/detection_rates.py.
BASELINE_WINDOW = 10
HISTORY_NIGHTS = 30
HISTORY_THRESHOLD = 0.02
# A farm asks every key every night: 99 % intervals keep the A/A false alarms of a series low.
NIGHTLY_CONFIDENCE = 0.99


@dataclass(frozen=True)
class NightCheck:
    """One key on one night: the pairwise check against the last good nights, and the step detection
    over the good nights' medians followed by this night's (and its re-run's)."""

    pairwise: LatencyChange | None  # None without a usable baseline
    history_step: Step | None  # the newest step of the series, when it is a regression
    series: tuple[float, ...]
    anchor: LatencyChange | None = None  # against the oldest good nights of the history: a slow drift moves the window

    @property
    def slower(self) -> bool:
        return any(c is not None and c.verdict == "slower" for c in (self.pairwise, self.anchor))

    noise: float = 0.0  # the host's run-to-run noise for tonight's kind of check (one run, or repeats)

    @property
    def beyond_noise(self) -> bool:
        """Slower than the baseline by more than the host's noise, whatever the interval says (a row
        flagged unstable or busy must not hide a +200 % night)."""
        return self.pairwise is not None and (self.pairwise.change or 0.0) > self.noise

    @property
    def uncomparable(self) -> bool:
        """Tonight could not be compared: no usable baseline, or the comparison was inconclusive, except
        a night *faster* than the baseline whose only fault is an interval too wide to call it (usable rows):
        it hides no regression. Real nights of this host (benchmarks/nightly_nights.py, load 27-36) had one
        good night whose 3 runs spread 4x; every later A/A night was -27 % to -83 % against it, interval
        holding zero, so each was uncomparable and that one night stayed the only baseline for good."""
        from harness.statistics.compare import interval_reason

        lat = self.pairwise
        if lat is None or lat.verdict == "unknown":
            return True
        if lat.verdict != "inconclusive":
            return False
        wide = interval_reason(lat)
        return not (wide is not None and (lat.reason or "").startswith(wide) and (lat.change or 0.0) < 0)

    @property
    def suspected(self) -> bool:
        return self.slower or self.history_step is not None or self.beyond_noise

    def why(self) -> str:
        parts = []
        if self.pairwise is not None and self.pairwise.verdict == "slower":
            parts.append(f"{self.pairwise.change:+.1%} against the last good nights")
        if self.anchor is not None and self.anchor.verdict == "slower":
            parts.append(f"{self.anchor.change:+.1%} against the oldest good nights")
        if self.history_step is not None:
            parts.append(f"a step of {self.history_step.change:+.1%} in the nightly history")
        if not parts and self.beyond_noise and self.pairwise is not None:
            parts.append(f"{self.pairwise.change:+.1%} against the last good nights, beyond the host's "
                         f"{self.noise:.0%} noise ({self.pairwise.verdict})")
        return " and ".join(parts)


def night_median(rows: Sequence[Measurement]) -> float | None:
    """A night's level for one key: the median of its runs' p50s (usable rows only)."""
    vals = [float(m.p50_us) for m in rows if m.status == "ok" and m.p50_us]
    return float(np.median(vals)) if vals else None


def usable(m: Measurement) -> bool:
    """A row that can stand in a baseline: measured, and not flagged by its validity checks."""
    return m.status == "ok" and bool(m.p50_us) and (m.validity is None or m.validity.valid)


# With fewer good nights than this the night-to-night variance is unmeasured: an A/A second night on a
# shared 2-core host was "confirmed" 50 % slower (a 7 us model, load from a neighbour). Until the baseline
# has two good nights, only a slowdown beyond SINGLE_NIGHT_MIN_CHANGE (+100 %: twice as slow) is confirmed.
MIN_GOOD_NIGHTS_FOR_VARIANCE = 2
SINGLE_NIGHT_MIN_CHANGE = 1.0


def check_night(good_nights: Sequence[Sequence[Measurement]], new_nights: Sequence[Sequence[Measurement]], *,
                threshold: float = 0.02, window: int = BASELINE_WINDOW,
                history_threshold: float = HISTORY_THRESHOLD, confidence: float = NIGHTLY_CONFIDENCE,
                seed: int = 0) -> NightCheck:
    """Pure: `good_nights` are one key's rows on each past good night (oldest first), `new_nights`
    tonight's rows and, when confirming, the re-run's. Flagged rows never make a regression."""
    from harness.statistics.compare import REPEATS_NOISE, SINGLE_RUN_NOISE, compare_measurements

    good = [[m for m in night if usable(m)] for night in good_nights]
    good = [n for n in good if n][-HISTORY_NIGHTS:]
    new = [[m for m in night if m.status == "ok"] for night in new_nights]
    new = [n for n in new if n]
    base_rows = [m for night in good[-window:] for m in night]
    new_rows = [m for night in new for m in night]
    pairwise = compare_measurements(base_rows, new_rows, threshold=threshold, seed=seed, confidence=confidence) \
        if base_rows and new_rows else None
    if pairwise is None and new_rows and any(night for night in good_nights):
        # Every baseline row of this key is flagged: compared anyway, so the table says why (inconclusive).
        flagged = [m for night in good_nights for m in night if m.status == "ok" and m.p50_us][-window:]
        if flagged:
            pairwise = compare_measurements(flagged, new_rows, threshold=threshold, seed=seed,
                                            confidence=confidence)
            if pairwise.verdict != "unknown":
                pairwise = replace(pairwise, verdict="inconclusive",
                                   reason=pairwise.reason or "no usable baseline row")
    tonight = [m for m in new_rows if usable(m)] or new_rows
    noise = REPEATS_NOISE if len(tonight) >= 2 else SINGLE_RUN_NOISE
    anchor = None
    if len(good) >= window + 3 and new_rows:  # the window has moved on from the oldest nights
        anchor = compare_measurements([m for night in good[:window] for m in night], new_rows,
                                      threshold=threshold, seed=seed, confidence=confidence)
    levels = [night_median(n) for n in good] + [night_median([m for m in n if usable(m)]) for n in new]
    series: list[float] = [v for v in levels if v is not None]
    step = None
    if len(series) >= 3 and len(series) > len(good):  # some new night is usable
        steps = detect_regressions(series, threshold=history_threshold, min_size=2)
        if steps and steps[-1].kind == "regression" and steps[-1].index >= 1:
            step = steps[-1]
    return NightCheck(pairwise, step, tuple(series), anchor, noise)


def rerun_decision(good_nights: Sequence[Sequence[Measurement]], tonight: Sequence[Measurement],
                   rerun: Sequence[Measurement], *, threshold: float = 0.02, window: int = BASELINE_WINDOW,
                   history_threshold: float = HISTORY_THRESHOLD, confidence: float = NIGHTLY_CONFIDENCE,
                   seed: int = 0) -> str:
    """`confirmed`, `cleared` or `undecided` for a suspect re-run alone. Cleared needs the re-run to be
    conclusively unchanged or faster than the good nights: a re-run that decides nothing (an interval too
    wide, every row flagged, a slowdown short of what one good night can confirm) clears nothing. A CI run
    re-measured a +398 % suspect once against a baseline of three runs, got `inconclusive` and called it
    "not slower"."""
    again = check_night(good_nights, [rerun], threshold=threshold, window=window,
                        history_threshold=history_threshold, confidence=confidence, seed=seed)
    if _confirmed_by(again, good_nights, tonight, rerun, threshold=threshold, window=window,
                     history_threshold=history_threshold, confidence=confidence, seed=seed):
        return "confirmed"
    lat = again.pairwise
    # like the interleaved re-measurement: cleared when the interval rules out a slowdown beyond the
    # host's noise for runs measured apart (compare.REPEATS_NOISE), not merely when it holds zero
    if lat is not None and lat.verdict in ("unchanged", "faster") and not again.slower \
            and (lat.ci_high is None or lat.ci_high <= max(threshold, again.noise)):
        return "cleared"
    return "undecided"


def confirm_night(good_nights: Sequence[Sequence[Measurement]], tonight: Sequence[Measurement],
                  rerun: Sequence[Measurement], *, threshold: float = 0.02, window: int = BASELINE_WINDOW,
                  history_threshold: float = HISTORY_THRESHOLD, confidence: float = NIGHTLY_CONFIDENCE,
                  seed: int = 0) -> bool:
    """A suspect is confirmed on fresh data: the re-run alone is slower than the last good nights, or
    the history with tonight and the re-run holds a new, worse level on both and the re-run alone is
    beyond the threshold. Tonight was picked *because* it looked slow, so it cannot vouch for itself
    (counting it in the confirmation confirmed half of the A/A suspects in simulation)."""
    again = check_night(good_nights, [rerun], threshold=threshold, window=window,
                        history_threshold=history_threshold, confidence=confidence, seed=seed)
    return _confirmed_by(again, good_nights, tonight, rerun, threshold=threshold, window=window,
                         history_threshold=history_threshold, confidence=confidence, seed=seed)


def _confirmed_by(again: NightCheck, good_nights: Sequence[Sequence[Measurement]],
                  tonight: Sequence[Measurement], rerun: Sequence[Measurement], *, threshold: float,
                  window: int, history_threshold: float, confidence: float, seed: int) -> bool:
    """confirm_night's rule on the re-run's own check (`again`), computed once by the caller."""
    if again.pairwise is None:
        return False
    if sum(1 for n in good_nights if any(usable(m) for m in n)) < MIN_GOOD_NIGHTS_FOR_VARIANCE:
        # One good night measures no night-to-night variance: only a gross slowdown is confirmed.
        return again.slower and (again.pairwise.change or 0) > SINGLE_NIGHT_MIN_CHANGE
    if again.slower:
        return True
    both = check_night(good_nights, [tonight, rerun], threshold=threshold, window=window,
                       history_threshold=history_threshold, confidence=confidence, seed=seed)
    return (both.history_step is not None and both.history_step.confirmed
            and again.pairwise.verdict != "inconclusive" and (again.pairwise.change or 0) > threshold)


# A suspect is re-measured beside the baseline's own artifact, whole rounds interleaved (A B A B ...):
# both sides of a round share the host's load of the moment, which no comparison across nights can.
INTERLEAVED_ROUNDS = 5
# Paired rounds cancel the host's level, so a suspect is cleared when its interval rules out a slowdown
# beyond this (not the 10 % floor of runs measured apart, compare.REPEATS_NOISE).
INTERLEAVED_CLEAR = 0.05


def interleaved_verdict(baseline: Sequence[Measurement], tonight: Sequence[Measurement], *,
                        threshold: float = 0.02, confidence: float = 0.95) -> LatencyChange:
    """The re-measurement's verdict from paired rounds: round i's tonight p50 over its baseline p50.

    A round where either row's own timed window saw a busy host (`host busy`: other processes took a
    share of the CPUs, read by the runner from the target's /proc/stat) is left out, and the reason names
    it: a burst that hit one side of a round only is not a change of the build, and one such round widened
    the t interval past zero at +30 % on a quiet host. With fewer than 3 quiet rounds the verdict is
    inconclusive: at load 24-33 on 2 cores, every round busy, the paired t interval called one of 6 A/A
    keys faster (benchmarks/verdicts.py). Other flags
    (an unstable window) stay in: both rows of a round shared that moment's level, and their
    disagreement widens the interval (Student's t on the log ratios) instead of vetoing the key.
    `slower` confirms (interval above zero and the change over the threshold), `unchanged` or `faster`
    clears, `inconclusive` (fewer than 3 paired rounds, or too wide to clear) decides nothing."""
    from scipy import stats

    from harness.statistics.compare import LatencyChange

    base = {m.repeat_index: float(m.p50_us) for m in baseline if m.status == "ok" and m.p50_us}
    new = {m.repeat_index: float(m.p50_us) for m in tonight if m.status == "ok" and m.p50_us}
    rounds = sorted(set(base) & set(new))
    busy = {m.repeat_index for m in list(baseline) + list(tonight)
            if m.status == "ok" and m.validity is not None and m.validity.host_quiet is False}
    left = [r for r in rounds if r in busy]
    measured = len(rounds)
    rounds = [r for r in rounds if r not in busy]
    n_a = sum(len(m.latencies_us) for m in baseline)
    n_b = sum(len(m.latencies_us) for m in tonight)
    med_a = float(np.median(list(base.values()))) if base else None
    med_b = float(np.median(list(new.values()))) if new else None
    if len(rounds) < 3:
        why = (f"host busy in {len(left)} of {measured} paired rounds (3 quiet ones needed)" if left
               else f"{measured} paired rounds measured (3 needed)")
        return LatencyChange(med_a, med_b, None if not (med_a and med_b) else med_b / med_a - 1, None, None, n_a,
                             n_b, "inconclusive", "interleaved rounds", len(base), len(new), reason=why)
    logs = np.log([new[r] / base[r] for r in rounds])
    centre = float(np.median(logs))
    sd = float(np.std(logs, ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, len(logs) - 1)) * sd / math.sqrt(len(logs))
    mean = float(np.mean(logs))
    low, high = math.expm1(mean - half), math.expm1(mean + half)
    change = math.expm1(centre)
    reason = f"{len(rounds)} rounds, baseline and tonight side by side"
    if left:
        reason += f"; left out round(s) {', '.join(str(r + 1) for r in left)}: host busy"
    if low > 0 and change > threshold:
        verdict = "slower"
    elif high < 0 and change < -threshold:
        verdict = "faster"
    elif high <= max(threshold, INTERLEAVED_CLEAR):  # the interval rules out a slowdown beyond the host's noise
        verdict = "unchanged"
    else:  # too noisy to clear a suspect: a busy host must not wave a regression through
        verdict = "inconclusive"
        reason += f"; the interval [{low:+.1%}, {high:+.1%}] is too wide to clear it"
    return LatencyChange(med_a, med_b, change, low, high, n_a, n_b, verdict, "interleaved rounds", len(rounds),
                         len(rounds), reason=reason)
