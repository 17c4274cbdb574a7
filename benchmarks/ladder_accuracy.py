"""The ladder's accuracy axis: which rungs meet the goal on both axes, what each rung changed
(compression or operating point), and the twin's paired mAP changes (against fp32, the rung it was
built on, and its control). Split from faster_rcnn_ladder.py, which re-exports these names."""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

GOAL_MS, GOAL_MIN_SIDE = 50.0, 400


def best_step(rows: list[dict[str, Any]], min_side: int = GOAL_MIN_SIDE) -> dict[str, Any] | None:
    """The fastest measured step whose input side is at least `min_side`."""
    ok = [r for r in rows if r.get("p50_ms") is not None and r["side"] >= min_side]
    return min(ok, key=lambda r: r["p50_ms"]) if ok else None


MAP_TOLERANCE = 0.02  # the accuracy axis of the goal: mAP@0.5 change vs fp32, at the interval's worst end


def rung_kind(cfg: dict[str, Any] | None, base: dict[str, Any] | None) -> str:
    """What a rung changed against the configuration it was built on: "compression" (precision,
    pruning, factorization) or "operating point" (input size, proposal count), or both."""
    if not cfg or not base:
        return "baseline"
    kinds = []
    if any(cfg.get(k) != base.get(k) for k in ("quant", "prune", "svd")):
        kinds.append("compression")
    if any(cfg.get(k) != base.get(k) for k in ("size", "proposals")):
        kinds.append("operating point")
    return " + ".join(kinds) or "none"


def _accuracy_kept(row: dict[str, Any], tolerance: float) -> bool:
    from harness.statistics.accuracy_change import PairedChange, keeps

    ch, ctl = row.get("twin_change"), row.get("twin_control_change")
    if isinstance(ctl, dict) and not keeps(PairedChange(**ctl), tolerance):
        return False  # a compression that loses against its control has not kept accuracy
    return isinstance(ch, dict) and keeps(PairedChange(**ch), tolerance)


def goal_line(rows: list[dict[str, Any]], goal_ms: float = GOAL_MS, min_side: int = GOAL_MIN_SIDE,
              tolerance: float = MAP_TOLERANCE) -> str:
    """The goal judged on both axes: a rung meets it only at <= goal_ms at >= min_side px AND an mAP@0.5
    change vs fp32 whose 95% interval's worst end is inside `tolerance` (measured on the trained twin),
    and vs its control too where it has one.
    A rung fast enough that loses accuracy says so: "latency met, accuracy lost X"."""
    from harness.statistics.accuracy_change import PairedChange, change_text

    head = f"goal <= {goal_ms:.0f} ms/frame at >= {min_side} px and mAP@0.5 within {tolerance} of fp32 (worst end)"
    best = best_step(rows, min_side)
    if best is None:
        return f"{head}: no step measured"
    fast = [r for r in rows if r.get("p50_ms") is not None and r["side"] >= min_side and r["p50_ms"] <= goal_ms]
    both = [r for r in fast if _accuracy_kept(r, tolerance)]
    if both:
        r = min(both, key=lambda r: r["p50_ms"])
        return (f"{head}: met by '{r['label']}' {r['p50_ms']:.1f} ms at {r['side']} px, mAP@0.5 "
                f"{change_text(PairedChange(**r['twin_change']))}")
    if not fast:
        kept = [r for r in rows
                if r.get("p50_ms") is not None and r["side"] >= min_side and _accuracy_kept(r, tolerance)]
        line = (f"{head}: best step '{best['label']}' {best['p50_ms']:.1f} ms at {best['side']} px: "
                f"latency missed by {best['p50_ms'] / goal_ms:.1f}x")
        if kept:  # the reverse of "latency met, accuracy lost": say which rung kept accuracy, and how slow
            r = min(kept, key=lambda r: r["p50_ms"])
            line += (f"; accuracy kept by '{r['label']}' at {r['p50_ms']:.1f} ms: accuracy met, latency missed by "
                     f"{r['p50_ms'] / goal_ms:.1f}x")
        return line
    r = min(fast, key=lambda r: r["p50_ms"])
    ch = r.get("twin_change")
    if not isinstance(ch, dict):
        return (f"{head}: not met: '{r['label']}' {r['p50_ms']:.1f} ms at {r['side']} px: latency met, "
                "accuracy not measured")
    c = PairedChange(**ch)
    return (f"{head}: not met: '{r['label']}' {r['p50_ms']:.1f} ms at {r['side']} px: latency met, accuracy lost "
            f"{-c.change:.3f} ({change_text(c)}; worst end {c.low:+.3f} beyond -{tolerance})")


def _change_cell(ch: Any, value: Any = None) -> str:
    from harness.statistics.accuracy_change import PairedChange, change_text

    if not isinstance(ch, dict):
        return "not measured"
    text = change_text(PairedChange(**ch))
    return text if value is None else f"{text} (mAP {value:.3f})"


def twin_changes(matched: dict[str, Any], base_label: str, built_on: dict[str, str | None],
                 controls: dict[str, Any], images: int, resamples: int = 1000, data: str = ""
                 ) -> dict[str, dict[str, Any]]:
    """Per rung, paired bootstrap changes of mAP@0.5 on the twin's held-out images (the same images on
    both sides): against fp32 (`twin_change`), against the rung it was built on (`twin_step_change`:
    this step's own cost) and against its control (`twin_control_change`: the same fine-tuning with
    no compression, so what the compression itself cost)."""
    from converters.detection_data import MatchedIndex
    from harness.statistics.accuracy_change import paired_resampled_change

    data = f"{images} held-out images, {data or 'generated: 3 classes of shapes (small twin)'}"

    index = {id(m): MatchedIndex(m) for m in [*matched.values(), *controls.values()]}

    def change(a: Any, b: Any, against: str) -> dict[str, Any]:
        ia, ib = index[id(a)], index[id(b)]
        c = paired_resampled_change(lambda idx: (ia.map(idx), ib.map(idx)), ia.images, "mAP@0.5", against, data,
                                    resamples, many=lambda m: (ia.map_many(m), ib.map_many(m)))
        return asdict(c)

    out: dict[str, dict[str, Any]] = {}
    for label, m in matched.items():
        got: dict[str, Any] = {"twin_map": index[id(m)].map()}
        if label != base_label and base_label in matched:
            got["twin_change"] = change(m, matched[base_label], "fp32")
        elif label == base_label:
            got["twin_change"] = change(m, m, "fp32")
        prev = built_on.get(label)
        if prev and prev in matched and prev != base_label:
            got["twin_step_change"] = change(m, matched[prev], f"'{prev}'")
        elif prev == base_label and "twin_change" in got:
            got["twin_step_change"] = {**got["twin_change"], "comparison": f"'{prev}'"}
        if label in controls:
            got["twin_control_change"] = change(m, controls[label], "control (same fine-tuning, no compression)")
        out[label] = got
    return out


def costs_by_kind(rows: list[dict[str, Any]], tolerance: float = MAP_TOLERANCE) -> list[str]:
    """Compression (precision, pruning, factorization, with their fine-tuning) apart from operating-point
    changes (input size, proposal count): each rung's own mAP@0.5 cost (vs the rung it was built on), and
    for compression also against its control (the same fine-tuning, nothing compressed)."""
    from harness.statistics.accuracy_change import PairedChange, verdict

    def cell(ch: Any) -> str:
        return verdict(PairedChange(**ch), tolerance) if isinstance(ch, dict) else "not measured"

    out = []
    for kind, what in (("compression", "compression (precision, pruning, factorization)"),
                       ("operating point", "operating point (input size, proposals)")):
        mine = [r for r in rows if kind in str(r.get("kind", "")) and "twin_map" in r]
        if not mine:
            continue
        out.append(f"{what}: each rung's own cost")
        for r in mine:
            line = f"  {r['label']}: {_change_cell(r.get('twin_step_change'))}: {cell(r.get('twin_step_change'))}"
            if kind == "compression" and isinstance(r.get("twin_control_change"), dict):
                line += f"; vs its control {cell(r['twin_control_change'])}"
            if r.get("kind") == "compression + operating point":
                line += " (both at once: folded rung)"
            out.append(line)
    return out
