"""What a variant keeps: its accuracy change against a named comparison, with a paired bootstrap interval.

A compressed variant is judged against a *control*: the same model with the same fine-tuning and no
compression (and, beside it, against fp32). Both are scored on the same held-out examples, so the
interval comes from resampling examples with their pairs kept together (a paired bootstrap): the
noise that both share (an easy or a hard image) cancels, what the compression changed does not.

"Keeps accuracy" only when the interval's worst end is inside the tolerance: a change of -0.01 whose
interval reaches -0.03 has not shown that it keeps 0.02. Everything here is a pure function of its
arguments (seeded), so a table and a test get the same interval from the same scores.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from converters.variant_metrics import is_map

if TYPE_CHECKING:
    from converters.variant_metrics import MatchedImage, PerExample, VariantMetrics

RESAMPLES = 2000
CONFIDENCE = 0.95
CONTROL = "control (same fine-tuning, no compression)"
FP32 = "fp32"


@dataclass(frozen=True)
class PairedChange:
    """Variant minus comparison on the same examples: the change and its paired bootstrap interval."""

    metric: str  # e.g. "mAP@0.5", "top-1", "PSNR dB"
    comparison: str  # what it was compared with: CONTROL, FP32, or a rung's name
    change: float
    low: float  # the interval's ends (CONFIDENCE, percentile)
    high: float
    examples: int
    variant_value: float
    comparison_value: float
    data: str = ""  # which eval data: "600 generated images, 10 classes", "48 crops of scikit-image photos"

    def worst(self, higher_is_better: bool = True) -> float:
        """The interval's end that is worse for the variant."""
        return self.low if higher_is_better else self.high


def _interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(values, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def paired_mean_change(variant: Sequence[float], comparison: Sequence[float], metric: str, against: str,
                       data: str = "", resamples: int = RESAMPLES, seed: int = 0,
                       confidence: float = CONFIDENCE) -> PairedChange:
    """Change of a per-example mean (PSNR per crop, 1/0 correct per image), paired bootstrap interval.

    ValueError when the two score lists are not pairs (different lengths) or empty."""
    a = np.asarray(variant, dtype=np.float64)
    b = np.asarray(comparison, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"paired change: {a.size} variant scores beside {b.size} comparison scores; "
                         "the same examples are needed on both sides")
    diff = a - b
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, diff.size, size=(resamples, diff.size))
    lo, hi = _interval(diff[idx].mean(axis=1), confidence)
    return PairedChange(metric, against, float(diff.mean()), lo, hi, int(diff.size), float(a.mean()),
                        float(b.mean()), data)


def paired_resampled_change(score: Callable[[np.ndarray], tuple[float, float]], examples: int, metric: str,
                            against: str, data: str = "", resamples: int = RESAMPLES, seed: int = 0,
                            confidence: float = CONFIDENCE,
                            many: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None
                            ) -> PairedChange:
    """Change of a set-level metric (mAP is not a mean over images): `score(indices)` gives
    (variant, comparison) on the examples at `indices` (repeats allowed); both sides get the same
    resample each time. `many(index_matrix)`, when given, scores a batch of resamples at once."""
    if examples <= 0:
        raise ValueError("paired change: no examples")
    full = np.arange(examples)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, examples, size=(resamples, examples))
    if many is not None:  # every resample at once (the same values as `score` one by one)
        a0, b0 = (float(v[0]) for v in many(full[None]))
        changes = np.concatenate([np.subtract(*many(draws[k:k + 250])) for k in range(0, resamples, 250)])
    else:
        a0, b0 = score(full)
        changes = np.array([np.subtract(*score(d)) for d in draws])
    lo, hi = _interval(changes, confidence)
    return PairedChange(metric, against, float(a0 - b0), lo, hi, examples, float(a0), float(b0), data)


def keeps(change: PairedChange | None, tolerance: float, higher_is_better: bool = True) -> bool:
    """Kept only when the interval's worst end lies inside the tolerance (None: not measured, not kept)."""
    if change is None:
        return False
    worst = change.worst(higher_is_better)
    return worst >= -tolerance if higher_is_better else worst <= tolerance


def change_text(change: PairedChange | None, digits: int = 3) -> str:
    """`-0.012 (95% -0.030 to +0.004) vs control (same fine-tuning, no compression), 600 images`."""
    if change is None:
        return "not measured"
    f = f"{{:+.{digits}f}}"
    return (f"{f.format(change.change)} ({CONFIDENCE:.0%} {f.format(change.low)} to {f.format(change.high)}) "
            f"vs {change.comparison}, {change.examples} examples")


def verdict(change: PairedChange | None, tolerance: float, higher_is_better: bool = True, digits: int = 3) -> str:
    """`keeps accuracy (worst end -0.015 inside 0.02)`, `lost 0.206 (worst end -0.280; tolerance 0.02)`,
    `not shown to keep accuracy: mean +0.009, but worst end -0.015 past the tolerance 0.010` or `not measured`."""
    if change is None:
        return "not measured"
    f = f"{{:.{digits}f}}"
    worst = change.worst(higher_is_better)
    if keeps(change, tolerance, higher_is_better):
        return f"keeps accuracy (worst end {worst:+.{digits}f} inside {f.format(tolerance)})"
    lost = -change.change if higher_is_better else change.change
    if lost <= 0:  # no loss on average, but the interval reaches past the tolerance: not shown kept, not "lost -x"
        return (f"not shown to keep accuracy: mean {change.change:+.{digits}f}, but worst end {worst:+.{digits}f} "
                f"past the tolerance {f.format(tolerance)}")
    return f"lost {f.format(lost)} (worst end {worst:+.{digits}f}; tolerance {f.format(tolerance)})"


def share_of_gain(variant: float, reference: float, floor: float) -> float | None:
    """How much of the reference's gain over a floor the variant keeps (SR: fp32's gain over bicubic).
    None when the reference gains nothing (the share means nothing then)."""
    gain = reference - floor
    return None if gain <= 0 else (variant - floor) / gain


# Per-example scores as converters.accuracy stores them: metrics["per_example"] = {"metric", "kind"
# ("mean": one score per example; "map": detections matched per image), "data", "variant", and the
# comparisons scored on the same examples: "fp32", "control" (converters.build adds it)}.
METRIC_NAMES = {"psnr_db": "PSNR dB", "top1": "top-1", "map50": "mAP@0.5"}
TOLERANCES = {"psnr_db": 0.3, "top1": 0.01, "map50": 0.02}  # the seeds' goals: 0.3 dB, 1 point, 0.02 mAP


def _map_score(a: Sequence[MatchedImage], b: Sequence[MatchedImage]
               ) -> tuple[Callable[[np.ndarray], tuple[float, float]],
                          Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]]:
    from converters.detection_data import MatchedIndex

    def rows(per: Sequence[MatchedImage]) -> list[tuple[np.ndarray, dict[int, int]]]:
        return [(np.asarray(p["dets"], np.float64).reshape(-1, 3), {int(k): int(v) for k, v in p["gt"].items()})
                for p in per]

    ra, rb = MatchedIndex(rows(a)), MatchedIndex(rows(b))
    return (lambda idx: (ra.map(idx), rb.map(idx))), (lambda m: (ra.map_many(m), rb.map_many(m)))


def changes_of(per_example: PerExample | None, resamples: int = RESAMPLES,
               seed: int = 0) -> dict[str, PairedChange]:
    """The variant's change against each comparison it was scored beside: {"control": ..., "fp32": ...}.
    Empty when no per-example scores were kept (an older build, or a model with no known task)."""
    if not isinstance(per_example, dict) or "variant" not in per_example:
        return {}
    metric = str(per_example.get("metric"))
    name = METRIC_NAMES.get(metric, metric)
    data = str(per_example.get("data") or "")
    out: dict[str, PairedChange] = {}
    for key, against in (("control", CONTROL), ("fp32", FP32)):
        if is_map(per_example):
            matched = per_example.get("control") if key == "control" else per_example.get("fp32")
            if not matched or len(matched) != len(per_example["variant"]):
                continue
            one, many = _map_score(per_example["variant"], matched)
            out[key] = paired_resampled_change(one, len(matched), name, against, data, resamples, seed, many=many)
        else:
            other = per_example.get("control") if key == "control" else per_example.get("fp32")
            if not other or len(other) != len(per_example["variant"]):
                continue
            out[key] = paired_mean_change(per_example["variant"], other, name, against, data, resamples, seed)
    return out


def judged(metrics: VariantMetrics, resamples: int = RESAMPLES, seed: int = 0) -> tuple[dict[str, PairedChange], str]:
    """The changes of a built variant and its verdict, judged against its control: a variant that
    fine-tuned is judged only beside a control with the same fine-tuning (fp32 had less training,
    so beating it may be the training); one that did not fine-tune has fp32 as its control."""
    per = metrics.get("per_example")
    changes = changes_of(per, resamples, seed)
    metric = str(per.get("metric") if per else None)
    tol = TOLERANCES.get(metric)
    tuned = bool(metrics.get("steps_run"))
    basis = changes.get("control") if tuned else changes.get("fp32")
    if not changes:
        return changes, "not measured"
    if basis is None:
        why = metrics.get("control_error") or "none built"
        return changes, f"not judged: it fine-tuned and has no control ({why}); the fp32 change is not its cost"
    if tol is None:
        return changes, f"no tolerance for {metric}"
    digits = 2 if metric == "psnr_db" else 3
    text = verdict(basis, tol, digits=digits) + f" vs {basis.comparison}"
    share = _gain_share(per) if per else None
    if share is not None:  # super-resolution: also the share of fp32's gain over bicubic (goal >= 90%)
        if share < GAIN_SHARE_GOAL and text.startswith("keeps"):
            text = (f"lost {-basis.change:.2f} vs {basis.comparison}: inside {tol:.2f} (worst end "
                    f"{basis.worst():+.2f}), but")
        glue = " " if text.endswith("but") else "; "
        text += f"{glue}keeps {share:.0%} of fp32's gain over bicubic (goal >= {GAIN_SHARE_GOAL:.0%})"
    return changes, text


GAIN_SHARE_GOAL = 0.9


def _gain_share(per: PerExample) -> float | None:
    if is_map(per):
        return None
    bicubic, fp32 = per.get("bicubic"), per.get("fp32")
    if per.get("metric") != "psnr_db" or not bicubic or not fp32:
        return None
    return share_of_gain(float(np.mean(per["variant"])), float(np.mean(fp32)), float(np.mean(bicubic)))
