"""The ladder reports compression apart from operating-point changes, each with its own accuracy cost
(benchmarks/ladder_accuracy.costs_by_kind), and names the data the proxy is scored on."""
from __future__ import annotations

from dataclasses import asdict

from benchmarks import ladder_accuracy as la
from harness.statistics.accuracy_change import PairedChange


def _ch(change: float, low: float, high: float, against: str) -> dict:
    return asdict(PairedChange("mAP@0.5", against, change, low, high, 500, 0.5 + change, 0.5, "500 held-out images"))


def test_compression_and_operating_point_rungs_are_listed_apart_each_with_its_own_cost():
    rows = [
        {"label": "fp32", "kind": "baseline", "twin_map": 0.5},
        {"label": "dynamic-range int8", "kind": "compression", "twin_map": 0.499,
         "twin_step_change": _ch(-0.001, -0.004, 0.002, "'fp32'")},
        {"label": "pruned", "kind": "compression", "twin_map": 0.45,
         "twin_step_change": _ch(-0.049, -0.06, -0.04, "'dynamic-range int8'"),
         "twin_control_change": _ch(-0.03, -0.041, -0.02, "control (same fine-tuning, no compression)")},
        {"label": "input 600 -> 400 px", "kind": "operating point", "twin_map": 0.40,
         "twin_step_change": _ch(-0.05, -0.07, -0.03, "'pruned'")},
    ]
    lines = la.costs_by_kind(rows)
    comp = lines.index("compression (precision, pruning, factorization): each rung's own cost")
    op = lines.index("operating point (input size, proposals): each rung's own cost")
    assert comp < op
    assert [ln.split(":")[0].strip() for ln in lines[comp + 1:op]] == ["dynamic-range int8", "pruned"]
    assert [ln.split(":")[0].strip() for ln in lines[op + 1:]] == ["input 600 -> 400 px"]
    assert "keeps accuracy" in lines[comp + 1]
    assert "lost 0.049" in lines[comp + 2] and "vs its control lost 0.030" in lines[comp + 2]
    assert "lost 0.050" in lines[op + 1] and "control" not in lines[op + 1]


def test_the_proxy_s_changes_name_its_data():
    from converters.detection_data import matched_detections

    m = matched_detections([[[0, 0, 0.5, 0.5]]] * 2, [[0.9]] * 2, [[1]] * 2, [[[0, 0, 0.5, 0.5]]] * 2, [[1]] * 2)
    out = la.twin_changes({"fp32": m}, "fp32", {"fp32": None}, {}, 2,
                          data="generated: 12 classes of objects (many small) on scikit-image photos with clutter")
    assert out["fp32"]["twin_change"]["data"] == ("2 held-out images, generated: 12 classes of objects (many small) "
                                                  "on scikit-image photos with clutter")
