"""Issue 23: what a variant keeps, judged with a paired interval against its control, on both axes.

Pure functions on scores built here (no model); the mAP bootstrap is checked against the project's
own mean_average_precision on generated boxes, and the ladder's goal on rows shaped like a run's.
"""
from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest

from benchmarks import faster_rcnn_ladder as fl
from converters.detection_data import MatchedIndex, generate_shapes, map_of_matched, matched_detections, mean_average_precision
from harness.statistics.accuracy_change import (CONTROL, PairedChange, changes_of, judged, keeps, paired_mean_change,
                                                share_of_gain, verdict)


def _change(change: float, low: float, high: float, against: str = "fp32") -> PairedChange:
    return PairedChange("mAP@0.5", against, change, low, high, 600, 0.7 + change, 0.7, "600 generated images")


def test_paired_interval_is_seeded_and_narrower_than_the_unpaired_spread():
    rng = np.random.default_rng(1)
    hard = rng.normal(25, 3, 48)  # crops differ a lot; the variant is 0.1 dB below on each, +- a little
    variant = hard - 0.1 + rng.normal(0, 0.02, 48)
    a = paired_mean_change(variant, hard, "PSNR dB", "fp32", seed=3)
    assert a == paired_mean_change(variant, hard, "PSNR dB", "fp32", seed=3)  # seeded: the same interval
    assert a.low < a.change < a.high and a.high < 0  # the pairs show the loss that 3 dB of spread would hide
    assert a.high - a.low < 0.05
    with pytest.raises(ValueError, match="the same examples"):
        paired_mean_change(variant[:-1], hard, "PSNR dB", "fp32")


def test_an_interval_that_crosses_the_tolerance_is_not_kept():
    inside = _change(-0.005, -0.015, 0.004)
    crosses = _change(-0.01, -0.03, 0.01)  # the change itself is inside 0.02; its worst end is not
    assert keeps(inside, 0.02) and not keeps(crosses, 0.02) and not keeps(None, 0.02)
    assert verdict(inside, 0.02) == "keeps accuracy (worst end -0.015 inside 0.020)"
    assert verdict(crosses, 0.02) == "lost 0.010 (worst end -0.030; tolerance 0.020)"
    assert verdict(None, 0.02) == "not measured"
    # a variant level or better on average whose interval still reaches past the tolerance: not "lost -0.009"
    wide = _change(0.009, -0.015, 0.031)
    assert not keeps(wide, 0.01)
    assert verdict(wide, 0.01) == "not shown to keep accuracy: mean +0.009, but worst end -0.015 past the tolerance 0.010"
    assert share_of_gain(27.9, 28.0, 27.0) == pytest.approx(0.9) and share_of_gain(27.0, 26.9, 27.0) is None


def test_the_map_bootstrap_recomputes_the_project_map_exactly_from_matched_rows():
    _, gt_boxes, gt_labels = generate_shapes(40, 64, seed=7)
    rng = np.random.default_rng(0)
    boxes, scores, classes = [], [], []
    for gb, gl in zip(gt_boxes, gt_labels):  # jittered truths, some wrong labels, some spurious boxes
        extra = rng.uniform(0, 0.5, (2, 2))
        b = np.concatenate([gb + rng.normal(0, 0.05, gb.shape), np.concatenate([extra, extra + 0.3], 1)])
        boxes.append(b.astype(np.float32))
        scores.append(rng.uniform(0, 1, len(b)))
        classes.append(np.concatenate([np.where(rng.uniform(size=len(gl)) < 0.2, (gl + 1) % 3, gl), [0, 1]]))
    want = mean_average_precision(boxes, scores, classes, gt_boxes, gt_labels)
    matched = matched_detections(boxes, scores, classes, gt_boxes, gt_labels)
    assert map_of_matched(matched) == pytest.approx(want, abs=1e-9)
    pick = [3, 3, 5, 9, 20, 20, 20]  # a resample: repeats count again
    assert map_of_matched(matched, pick) == pytest.approx(mean_average_precision(
        *[[seq[i] for i in pick] for seq in (boxes, scores, classes, gt_boxes, gt_labels)]), abs=1e-9)
    # every resample at once gives the same values as one by one (how the bootstrap runs)
    draws = np.random.default_rng(4).integers(0, 40, size=(30, 40))
    draws[0, :7] = 0  # a resample where some classes may lack ground truth
    index = MatchedIndex(matched)
    np.testing.assert_allclose(index.map_many(draws), [index.map(d) for d in draws], atol=1e-12)


def _cls_metrics(variant: list[int], fp32: list[int], control: list[int] | None, steps: int) -> dict:
    per = {"metric": "top1", "kind": "mean", "data": "1000 held-out images", "variant": variant, "fp32": fp32}
    if control is not None:
        per["control"] = control
    return {"per_example": per, "steps_run": steps}


def test_a_fine_tuned_variant_is_judged_against_its_control_not_against_fp32():
    """SqueezeNet prune_channels: fp32 0.960, pruned after 400 steps 1.000, the control with the same 400
    steps 1.000 as well. Against fp32 pruning looks like a gain; against its control it lost a point."""
    n = 1000
    fp32 = [1] * 960 + [0] * 40
    control = [1] * n
    pruned = [1] * 990 + [0] * 10
    changes, why = judged(_cls_metrics(pruned, fp32, control, 400))
    assert changes["fp32"].change == pytest.approx(0.03) and changes["control"].change == pytest.approx(-0.01)
    assert changes["control"].comparison == CONTROL
    assert why.startswith("lost 0.010") and why.endswith(f"vs {CONTROL}")
    # the same variant with no control: not called kept, however far above fp32 it is
    _, why = judged(_cls_metrics(pruned, fp32, None, 400))
    assert why.startswith("not judged: it fine-tuned and has no control")
    # a variant that did not fine-tune (int8): fp32 is its control
    _, why = judged(_cls_metrics(fp32, fp32, None, 0))
    assert why.startswith("keeps accuracy") and why.endswith("vs fp32")
    assert judged({"accuracy": 0.5}) == ({}, "not measured")


def test_report_table_names_the_comparison_and_the_data():
    from harness.reporting.kept import kept_row

    metric, data, ctl, vs_fp32, why = kept_row(_cls_metrics([1] * 990 + [0] * 10, [1] * 960 + [0] * 40, [1] * 1000,
                                                            400) | {"control_variant": "fine_tune@steps=400"})
    assert metric == "top-1" and data == "1000 held-out images"
    assert ctl.startswith("-0.010 (95% ") and f"vs {CONTROL}, 1000 examples (fine_tune@steps=400)" in ctl
    assert vs_fp32.startswith("+0.030 (95% ") and "vs fp32, 1000 examples" in vs_fp32
    assert why.startswith("lost 0.010")
    assert kept_row(_cls_metrics([1] * 10, [1] * 10, None, 400))[2] == "not measured"


def test_map_changes_from_stored_rows():
    per = {"metric": "map50", "kind": "map", "data": "d",
           "variant": [{"dets": [[0, 0.9, 1]], "gt": {"0": 1}}, {"dets": [[1, 0.8, 0]], "gt": {"1": 1}}],
           "fp32": [{"dets": [[0, 0.9, 1]], "gt": {"0": 1}}, {"dets": [[1, 0.8, 1]], "gt": {"1": 1}}]}
    got = changes_of(per, resamples=200)["fp32"]
    assert got.change == pytest.approx(-0.5) and got.metric == "mAP@0.5" and got.examples == 2
    assert got.low <= -0.5 <= got.high


def _rung(label: str, side: int, p50: float, change: PairedChange | None) -> dict:
    row = {"label": label, "side": side, "p50_ms": p50, "gmacs": 1.0}
    if change is not None:
        row["twin_change"] = asdict(change)
    return row


def test_a_rung_fast_enough_that_loses_accuracy_has_not_met_the_goal():
    """The 400 px rung: 17.5 ms, but -0.206 mAP@0.5 on the twin (95% -0.28 to -0.15)."""
    rows = [_rung("fp32", 600, 330.0, _change(0.0, 0.0, 0.0)),
            _rung("input 600 -> 400 px", 400, 17.5, _change(-0.206, -0.28, -0.15))]
    line = fl.goal_line(rows)
    assert ": met" not in line and "not met" in line
    assert "latency met, accuracy lost 0.206" in line and "95% -0.280 to -0.150" in line
    # the interval crosses the tolerance: still not met
    rows[1]["twin_change"] = asdict(_change(-0.01, -0.03, 0.01))
    assert "latency met, accuracy lost 0.010" in fl.goal_line(rows)
    # no accuracy measured: not met either
    del rows[1]["twin_change"]
    assert "latency met, accuracy not measured" in fl.goal_line(rows)
    # a slower rung that keeps accuracy meets it when the fast one does not
    rows += [_rung("channel-pruned (50% conv MACs)", 600, 45.0, _change(-0.004, -0.012, 0.003))]
    assert "met by 'channel-pruned (50% conv MACs)' 45.0 ms at 600 px" in fl.goal_line(rows)
    assert "latency missed by 6.6x" in fl.goal_line(rows[:1])


def test_rungs_say_whether_they_compress_or_move_the_operating_point():
    base = asdict(fl.Config())
    assert fl.rung_kind(asdict(fl.Config(quant="int8")), base) == "compression"
    assert fl.rung_kind(asdict(fl.Config(size=400)), base) == "operating point"
    assert fl.rung_kind(asdict(fl.Config(prune=0.5, proposals=100)), base) == "compression + operating point"
    assert fl.control_steps(fl.Config(prune=0.5, svd=fl.SVD_FRACTIONS), 100, 50) == 150
    assert fl.control_steps(fl.Config(quant="int8"), 100, 50) == 0


def test_the_twin_s_changes_name_fp32_the_rung_built_on_and_the_control():
    def imgs(tp: list[int]) -> list:
        return [(np.array([[0.0, 0.9, t]]), {0: 1}) for t in tp]

    matched = {"fp32": imgs([1] * 20), "pruned": imgs([1] * 18 + [0] * 2), "400 px": imgs([1] * 10 + [0] * 10)}
    out = fl.twin_changes(matched, "fp32", {"fp32": None, "pruned": "fp32", "400 px": "pruned"},
                          {"pruned": imgs([1] * 19 + [0])}, 20, resamples=200)
    assert out["fp32"]["twin_map"] == 1.0 and out["fp32"]["twin_change"]["change"] == 0.0
    assert out["pruned"]["twin_change"]["comparison"] == "fp32"
    assert out["pruned"]["twin_step_change"]["comparison"] == "'fp32'"
    assert out["pruned"]["twin_control_change"]["comparison"] == CONTROL
    assert out["pruned"]["twin_control_change"]["change"] > out["pruned"]["twin_change"]["change"]
    step = out["400 px"]["twin_step_change"]
    assert step["comparison"] == "'pruned'" and step["high"] < 0  # the operating point's own cost
    assert "twin_control_change" not in out["400 px"]


def test_a_super_resolution_variant_inside_0_3_db_that_keeps_under_90_percent_of_the_gain_is_not_kept():
    """fp32 gains 0.4 dB over bicubic; a variant 0.1 dB under fp32 is inside 0.3 dB but keeps 75% of it."""
    rng = np.random.default_rng(2)
    bic = rng.normal(29.0, 2.0, 48)
    fp32 = bic + 0.4
    per = {"metric": "psnr_db", "kind": "mean", "data": "48 crops", "bicubic": bic.tolist(), "fp32": fp32.tolist(),
           "variant": (fp32 - 0.1 + rng.normal(0, 0.01, 48)).tolist()}
    _, why = judged({"per_example": per})
    assert why.startswith("lost 0.10 vs fp32: inside 0.30") and ", but keeps 75% of fp32's gain over bicubic (goal >= 90%)" in why
    per["variant"] = (fp32 - 0.01).tolist()
    _, why = judged({"per_example": per})
    assert why.startswith("keeps accuracy") and "keeps 98% of fp32's gain" in why


def test_accuracy_kept_script_says_a_bad_pair_in_one_line(capsys):
    from benchmarks import accuracy_kept

    assert accuracy_kept.main(["squeezenet-deep_compression"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["accuracy_kept: 'squeezenet-deep_compression': write MODEL:VARIANT (e.g. squeezenet:deep_compression)"]


def test_the_markdown_report_shows_each_change_with_its_interval_and_comparison():
    import dataclasses

    from harness.reporting.report import render_html, render_markdown
    from harness.store.results import RunInfo
    from tests.fixtures_web import make_measurement

    fp32 = [1] * 960 + [0] * 40
    rows = []
    for i, (variant, metrics) in enumerate((
            ("fp32", {"top1": 0.96, "accuracy": 0.96}),
            ("prune_channels@flops=0.5", {**_cls_metrics([1] * 990 + [0] * 10, fp32, [1] * 1000, 400),
                                          "top1": 0.99, "accuracy": 0.99, "control_variant": "fine_tune@steps=400"}),
            ("prune", {**_cls_metrics([1] * 990 + [0] * 10, fp32, None, 400), "top1": 0.99, "accuracy": 0.99}))):
        m = make_measurement("r", "pi", "squeezenet", variant, median_us=1000.0 / (i + 1), seed=i)
        rows.append(dataclasses.replace(m, metrics={**m.metrics, **metrics}))
    run = RunInfo("r", 1.7e9, "h", None, {}, {}, status="finished")
    md = render_markdown(run, rows)
    assert "**What each variant keeps**" in md
    line = next(ln for ln in md.splitlines() if "prune_channels@flops=0.5" in ln and "vs control" in ln)
    assert "-0.010 (95% " in line and f"vs {CONTROL}, 1000 examples (fine_tune@steps=400)" in line
    assert "lost 0.010" in line and "1000 held-out images" in line
    line = next(ln for ln in md.splitlines() if "| prune |" in ln and "not judged" in ln)
    assert "keeps accuracy" not in line
    assert "What each variant keeps" not in render_markdown(run, rows[:1])
    assert "not judged: it fine-tuned and has no control" in render_html(run, rows)


def test_ladder_twin_images_below_two_is_one_line_and_exit_2(capsys):
    assert fl.main(["--no-seed", "--twin-images", "1"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "faster_rcnn_ladder: --twin-images: at least 2 held-out images are needed for an interval"]
