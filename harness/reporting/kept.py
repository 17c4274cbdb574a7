"""What each variant keeps: its accuracy change with a paired 95 % interval, against its control and
fp32, the eval data named, and the verdict (harness.statistics.accuracy_change.judged)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from harness.statistics.accuracy_change import change_text, judged
from harness.statistics.compare import model_label
from harness.store.results import Measurement

if TYPE_CHECKING:
    from converters.variant_metrics import VariantMetrics

KEPT_HEADERS = ["device", "model", "variant", "metric", "eval data", "change vs control", "change vs fp32",
                "verdict"]


def kept_row(metrics: VariantMetrics) -> list[str]:
    """metric, data, change vs control, change vs fp32, verdict of one variant's metrics."""
    changes, why = judged(metrics)
    per = metrics.get("per_example")
    first = next(iter(changes.values()), None)
    digits = 2 if per and per.get("metric") == "psnr_db" else 3
    ctl = changes.get("control")
    ctl_text = change_text(ctl, digits) if ctl else ("not measured" if metrics.get("steps_run") else
                                                     "- (no fine-tuning: fp32 is its control)")
    if ctl and metrics.get("control_variant"):
        ctl_text += f" ({metrics['control_variant']})"
    return [first.metric if first else "-", str((per.get("data") if per else None) or "-"), ctl_text,
            change_text(changes.get("fp32"), digits), why]


def kept_rows(rows: Sequence[Measurement]) -> list[list[str]]:
    """One row per measured variant other than fp32 that kept per-example scores."""
    out = []
    for m in rows:
        if m.status != "ok" or m.variant.split("@", 1)[0] == "fp32" or not (m.metrics or {}).get("per_example"):
            continue
        out.append([m.device, model_label(m.model), m.variant, *kept_row(m.metrics)])
    return out
