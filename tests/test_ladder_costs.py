"""The ladder reports compression apart from operating-point changes, each with its own accuracy cost
(benchmarks/ladder_accuracy.costs_by_kind), and names the data the proxy is scored on."""
from __future__ import annotations

from dataclasses import asdict

import pytest

from benchmarks import faster_rcnn_ladder as fl
from benchmarks import ladder_accuracy as la
from benchmarks import ladder_proxy as lp
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


# --- both axes on the proxy's own files (benchmarks/ladder_proxy.py) ---


CONTROL = "control (same fine-tuning, no compression)"


def _proxy_row(label: str, kind: str, side: int, p50: float | None, vs_fp32: tuple, control: tuple | None = None,
               proposals: int = 300) -> dict:
    row = {"label": label, "kind": kind, "side": side, "twin_map": 0.4 + vs_fp32[0],
           "config": {"size": side, "proposals": proposals}, "twin_change": _ch(*vs_fp32, "fp32"),
           "twin_step_change": _ch(*vs_fp32, "'fp32'")}
    if p50 is not None:
        row["proxy_latency"] = {"p50_ms": p50, "runs": 30, "load_1min": 12.0}
    if control is not None:
        row["twin_control_change"] = _ch(*control, CONTROL)
    return row


def test_a_fast_rung_that_loses_accuracy_is_not_met_but_latency_met_accuracy_lost():
    row = _proxy_row("input 600 -> 400 px", "operating point", 400, 12.0, (-0.131, -0.144, -0.116))
    v = lp.rung_verdict(row)
    assert not v.startswith("met") and v.startswith("latency met (12.0 ms), accuracy lost 0.131 vs fp32")
    assert "worst end -0.144" in v
    # an interval that crosses the tolerance is not "kept", though its change is inside it
    row["twin_change"] = _ch(-0.01, -0.03, 0.01, "fp32")
    assert lp.rung_verdict(row).startswith("latency met (12.0 ms), accuracy lost 0.010 vs fp32 (worst end -0.030")
    row["twin_change"] = _ch(0.005, -0.025, 0.03, "fp32")
    assert lp.rung_verdict(row).startswith("latency met (12.0 ms), accuracy not shown kept (+0.005) vs fp32")
    # inside on every comparison, fast, at 400 px: met
    row["twin_change"] = _ch(-0.004, -0.012, 0.003, "fp32")
    assert lp.rung_verdict(row).startswith("met (12.0 ms at 400 px, accuracy kept (worst end -0.012 inside 0.02)")


def test_a_compression_that_keeps_fp32_but_loses_against_its_control_is_not_met():
    row = _proxy_row("channel-pruned (50% conv MACs)", "compression", 600, 20.0, (-0.005, -0.015, 0.004),
                     control=(-0.03, -0.045, -0.02))
    v = lp.rung_verdict(row)
    assert v.startswith("latency met (20.0 ms), accuracy lost 0.030 vs its control (worst end -0.045")
    # the goal line reads the control too: not met, although vs fp32 alone would keep
    line = fl.goal_line(lp.proxy_goal_rows([row]))
    assert "not met" in line and ": met by" not in line


def test_the_reverse_accuracy_kept_latency_missed_is_said():
    row = _proxy_row("dynamic-range int8", "compression", 600, 75.0, (0.002, -0.003, 0.008))
    assert lp.rung_verdict(row) == "latency missed (75.0 ms > 50 ms), accuracy kept (worst end -0.003 inside 0.02)"
    line = fl.goal_line(lp.proxy_goal_rows([row]))
    assert "latency missed by 1.5x" in line and "accuracy kept by 'dynamic-range int8' at 75.0 ms" in line
    small = _proxy_row("input 600 -> 320 px", "operating point", 320, 5.0, (0.0, -0.001, 0.001))
    assert lp.rung_verdict(small).startswith("latency not judged (320 px < 400 px)")
    assert lp.rung_verdict({**row, "proxy_latency": None}).startswith("latency not measured, accuracy kept")


def test_compression_rungs_are_judged_against_their_control_and_operating_points_against_fp32_apart():
    rows = [_proxy_row("fp32", "baseline", 600, 40.0, (0.0, 0.0, 0.0)),
            _proxy_row("dynamic-range int8", "compression", 600, 20.0, (0.002, -0.003, 0.008)),
            _proxy_row("channel-pruned (50% conv MACs)", "compression", 600, 10.0, (-0.17, -0.185, -0.158),
                       control=(-0.162, -0.176, -0.148)),
            _proxy_row("proposals 300 -> 100", "operating point", 600, 8.0, (-0.16, -0.174, -0.145),
                       control=(-0.183, -0.197, -0.167), proposals=100)]
    (ct, ch, comp), (ot, oh, op) = lp.proxy_tables(rows)
    assert "compression rungs vs their control" in ct and "operating-point rungs vs fp32" in ot
    assert [r[0] for r in comp] == ["fp32", "dynamic-range int8", "channel-pruned (50% conv MACs)"]
    assert [r[0] for r in op] == ["proposals 300 -> 100"]
    pruned = comp[2]
    assert pruned[2] == "10.0 (load 12)" and pruned[3] == "4.00x"  # the proxy's own file, vs fp32's
    assert pruned[5].startswith("-0.162 (95% -0.176 to -0.148) vs " + CONTROL)
    assert pruned[6] == "control: same fine-tuning, nothing compressed"
    assert comp[1][6] == lp.NO_TUNING and comp[1][5].startswith("+0.002 (95% -0.003 to +0.008) vs fp32")
    # the operating-point table says the change vs fp32, not vs the control
    assert op[0][2] == "100" and op[0][6].startswith("-0.160 (95% -0.174 to -0.145) vs fp32")
    assert all("control" not in c for c in op[0][:7])
    assert ch[-1] == oh[-1] == "both axes"


def test_the_runner_times_the_very_file_it_is_given(tiny_tflite, tmp_path):
    got = lp.runner_latency(tiny_tflite, threads=1, runs=5)
    assert got["runs"] == 5 and 0 < got["p50_ms"] < 1000 and got["load_1min"] >= 0
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"not a model")
    with pytest.raises(RuntimeError, match="^runner: "):  # the runner's own error, not a silent 0 ms
        lp.runner_latency(broken, threads=1, runs=5)


def test_a_negative_latency_run_count_is_one_line_and_exit_2(capsys):
    assert fl.main(["--no-seed", "--latency-runs", "-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["faster_rcnn_ladder: --latency-runs: a count of runs, 0 or more"]


def test_without_host_timing_full_int8_is_measured_but_the_ladder_does_not_build_on_it():
    """On the proxy full int8 scored mAP@0.5 0.008 (and ran slower than fp32): rungs built on it would
    measure the broken quantization, not pruning or the SVD."""
    steps = fl.ladder(96, 24, 8, 64)
    rows = fl.static_rows(steps, frozenset({"full int8"}))
    by = {r["label"]: r for r in rows}
    assert by["full int8"]["config"]["quant"] == "int8" and not by["full int8"]["kept"]
    assert by["full int8"]["built_on"] == "dynamic-range int8" and by["full int8"]["kind"] == "compression"
    pruned = by["channel-pruned (50% conv MACs)"]
    assert pruned["config"]["quant"] == "dr_int8" and pruned["built_on"] == "dynamic-range int8"
    assert all(r["config"]["quant"] == "dr_int8" for r in rows[4:])
    # '' builds every step on the one before, as before
    assert fl.static_rows(steps)[4]["config"]["quant"] == "int8"
    assert fl.main(["--no-seed", "--not-built-on", "x"]) == 2


def test_every_rung_s_file_is_timed_in_rotated_rounds_and_its_ratio_is_per_round(tmp_path):
    """Load that comes and goes (fp32 ran 29.6 to 127 ms p50 across four loaded runs) hits every rung alike:
    each round times every file once, in a rotated order, and the ratio to fp32 is taken round by round."""
    files = {n: tmp_path / f"{n}.tflite" for n in ("fp32", "a", "b")}
    order: list[str] = []
    slow = {0: 1.0, 1: 10.0, 2: 1.0}  # round 1 is ten times slower for everyone

    def fake(path):
        order.append(path.stem)
        r = (len(order) - 1) // 3
        return {"p50_ms": {"fp32": 40.0, "a": 20.0, "b": 10.0}[path.stem] * slow[r], "runs": 30, "load_1min": 5.0}

    timed = {n: {"build_s": 1.0} for n in files}
    lp.interleaved_latency(files, timed, fake, 3)
    assert order == ["fp32", "a", "b", "a", "b", "fp32", "b", "fp32", "a"]
    assert timed["a"]["rounds_p50_ms"] == [20.0, 200.0, 20.0] and timed["a"]["p50_ms"] == 20.0
    assert timed["b"]["vs_fp32"] == 4.0 and timed["a"]["runs"] == 90 and timed["b"]["build_s"] == 1.0
    assert lp._lat_cells({"proxy_latency": timed["b"]}, 40.0) == ["10.0 (load 5)", "4.00x"]
    assert fl.main(["--no-seed", "--latency-rounds", "0"]) == 2
