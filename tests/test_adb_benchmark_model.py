"""benchmark_model output parsing: the recorded outputs, every variant across versions, and
`harness import benchmark_model FILE`."""
from __future__ import annotations

import json
import sqlite3

import pytest

from devices.probes import benchmark_model as bm
from harness.cli import main
from harness.orchestration.measure import summary_from_dict


def test_recorded_gpu_output(device_outputs):
    p = bm.parse((device_outputs / "benchmark_model.android_gpu.txt").read_text())
    s = p["summary"]
    assert (s["count"], s["mean_us"], s["std_us"], s["min_us"], s["max_us"]) == (50, 119375, 1948, 113737, 124776)
    assert p["warmup"]["count"] == 4 and p["init_us"] == 870557 and p["first_inference_us"] == 130565
    assert p["delegates"]["gpu"] == {"kernels": 1, "applied": "completely"}
    out = bm.delegate_outcome(p, "gpu")
    assert out["applied"] == "completely" and out["fallback"] is False
    assert summary_from_dict(s).mean_us == 119375  # what harness.orchestration.measure makes of it


def test_recorded_cpu_output_scientific_notation_and_short_form(device_outputs):
    p = bm.parse((device_outputs / "benchmark_model.cpu_profiling.txt").read_text())
    assert p["summary"]["mean_us"] == pytest.approx(2.95034e6)  # avg=2.95034e+06
    assert p["warmup"] == {"count": 1, "mean_us": 3512391.0, "std_us": 0.0, "min_us": 3512391.0,
                           "max_us": 3512391.0, "curr_us": 3512391.0}  # the short `count=1 curr=X`
    assert p["threads"] == 4 and p["overall_peak_rss_delta_mb"] == pytest.approx(46.0859)
    assert p["warmup_avg_us"] == pytest.approx(3.51239e6)


def _variant(recorded: str, prefix: str) -> str:
    return "".join(prefix + line + "\n" for line in recorded.splitlines())


@pytest.mark.parametrize("prefix", [
    "INFO: ",
    "I/tflite  ( 5395): ",
    "07-08 15:34:26.201 I/tflite  ( 5395): ",
    "07-08 15:34:26.201  5395  5395 I tflite  : ",
    "11-02 09:12:01.004 31337 31360 I tflite_BenchmarkModelActivity: ",
])
def test_prefixes_do_not_change_the_figures(device_outputs, prefix):
    recorded = (device_outputs / "benchmark_model.android_gpu.txt").read_text()
    plain = bm.parse(recorded)
    prefixed = bm.parse(_variant(recorded, prefix))
    assert prefixed["summary"] == plain["summary"] and prefixed["init_us"] == plain["init_us"]
    assert prefixed["delegates"] == plain["delegates"]


def test_percentiles_and_memory_lines():
    text = (
        "INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.\n"
        "INFO: count=112 first=5611 curr=4402 min=4310 max=5611 avg=4461.3 std=140 p5=4330 median=4420 p95=4730\n"
        "INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.\n"
        "INFO: count=229 first=4390 curr=4380 min=4290 max=6120 avg=4.3712e+03 std=151 p5=4301 median=4350 p95=4602\n"
        "INFO: Inference timings in us: Init: 20345, First inference: 5611, Warmup (avg): 4461.3, Inference (avg): 4371.2\n"
        "INFO: Memory footprint delta from the start of the tool (MB): init=9.25 overall=12.5\n"
        "INFO: Overall peak memory footprint (MB) via periodic monitoring: 21.375\n"
        "INFO: Memory status at the end of exeution:\n"
        "INFO: - VmRSS              : 24 MB\n"
        "INFO: + RssAnnon           : 11 MB\n")
    p = bm.parse(text)
    s = p["summary"]
    assert s["count"] == 229 and s["mean_us"] == pytest.approx(4371.2)
    assert (s["p5_us"], s["p50_us"], s["p95_us"]) == (4301, 4350, 4602)
    assert p["warmup"]["count"] == 112
    assert p["overall_peak_memory_mb"] == 21.375 and p["end_vmrss_mb"] == 24 and p["init_peak_rss_delta_mb"] == 9.25
    assert p["end_rss_anon_mb"] == 11 and p["overall_peak_rss_delta_mb"] == 12.5
    ls = summary_from_dict(s)
    # p95 under its own name; p90 and p99 were not printed, so they stay empty (issue 10)
    assert ls.p50_us == 4350 and ls.p95_us == 4602 and ls.p90_us is None and ls.p99_us is None


def test_legacy_average_line():
    text = ("Initialized session in 12.4ms\n"
            "Running benchmark for 50 iterations\n"
            "Average inference timings in us: Warmup: 29357.7, Init: 12402, no stats: 18823.2\n")
    p = bm.parse(text)
    assert p["legacy_format"] is True and p["summary"]["mean_us"] == pytest.approx(18823.2)
    assert p["init_us"] == 12402


@pytest.mark.parametrize("line, requested, applied, fallback, ops", [
    ("Explicitly applied GPU delegate, and the model graph will be completely executed by the delegate.",
     "gpu", "completely", False, None),
    ("Explicitly applied GPU delegate, and the model graph will be partially executed by the delegate w/ 3 "
     "delegate kernels.", "gpu", "partially", False, None),
    ("Though NNAPI delegate is explicitly applied, the model graph will not be executed by the delegate.",
     "nnapi", "not", True, (1, 0)),
    ("ERROR: Failed to apply GPU delegate.", "gpu", "failed", True, (1, 0)),
    ("Replacing 58 out of 64 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 4 partitions for "
     "subgraph 0.", "xnnpack", "partially", False, (64, 58)),
    ("Replacing 31 node(s) with delegate (TfLiteGpuDelegateV2) node, yielding 1 partitions.",
     "gpu", "completely", False, None),
    ("", "gpu", "unknown", True, (1, 0)),  # GPU asked for, not a word about it: a silent CPU fallback
    ("", "xnnpack", "unknown", False, None),  # builds where XNNPACK is the default path say nothing
])
def test_delegate_lines(line, requested, applied, fallback, ops):
    text = f"INFO: {line}\nINFO: count=50 first=10 curr=10 min=9 max=11 avg=10 std=1\n"
    out = bm.delegate_outcome(bm.parse(text), requested)
    assert out["applied"] == applied and out["fallback"] is fallback
    assert (out.get("ops_total"), out.get("ops_delegated")) == (ops if ops else (None, None))


OP_TABLE = (
    "Operator-wise Profiling Info for Regular Benchmark Runs:\n"
    "============================== Run Order ==============================\n"
    "\t             [node type]\t          [start]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t[times called]\t[Name]\n"
    "\t                 CONV_2D\t            0.012\t    1.210\t    1.180\t 61.000%\t 61.000%\t     0.000\t        1\t[conv1]:0\n"
    "\t                 SOFTMAX\t            1.200\t    0.050\t    0.040\t  2.100%\t 63.100%\t     0.000\t        1\t[prob]:1\n"
    "\n"
    "============================== Summary by node type ==============================\n"
    "\t             [Node type]\t  [count]\t  [avg ms]\t    [avg %]\t    [cdf %]\t  [mem KB]\t[times called]\n"
    "\t                 CONV_2D\t        1\t     1.180\t    96.700%\t    96.700%\t     0.000\t        1\n"
    "\t                 SOFTMAX\t        1\t     0.040\t     3.300%\t   100.000%\t     0.000\t        1\n"
    "\n"
    "Timings (microseconds): count=50 first=1262 curr=1220 min=1200 max=1300 avg=1221 std=20\n"
    "Number of nodes executed: 2\n"
)


def test_op_profile_table_and_its_count_line_is_not_a_run():
    text = "INFO: count=50 first=1300 curr=1250 min=1210 max=1330 avg=1240 std=22\n" + OP_TABLE
    p = bm.parse(text)
    assert p["summary"]["mean_us"] == 1240  # not the table's own `Timings ... avg=1221`
    prof = p["op_profile"]
    assert prof["nodes_executed"] == 2
    assert [r["node_type"] for r in prof["by_node_type"]] == ["CONV_2D", "SOFTMAX"]
    assert prof["run_order"][0]["avg_ms"] == pytest.approx(1.18) and prof["run_order"][1]["name"] == "[prob]:1"


def test_op_profile_csv_file():
    csv_text = OP_TABLE.replace("\t", ",").replace("\n,", "\n")
    prof = bm.parse_profile_csv(csv_text)
    assert [r["node_type"] for r in prof["by_node_type"]] == ["CONV_2D", "SOFTMAX"]
    assert prof["by_node_type"][0]["avg_pct"] == pytest.approx(96.7)


def test_import_rejects_a_log_without_timings():
    with pytest.raises(ValueError, match="no timing statistics"):
        bm.parse_for_import("STARTING!\nERROR: Failed to mmap model /x.tflite\n")


def test_cli_import_json_and_store(tmp_path, device_outputs, capsys):
    recorded = (device_outputs / "benchmark_model.android_gpu.txt").read_text()
    log = tmp_path / "logcat.txt"  # a logcat capture of the benchmark APK
    log.write_text(_variant(recorded, "07-08 15:34:26.201  5395  5395 I tflite  : "))
    assert main(["import", "benchmark_model", str(log), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["summary"]["mean_us"] == 119375 and figures["summary"]["count"] == 50
    db = tmp_path / "r.db"
    assert main(["import", "benchmark_model", str(log), "--store", "--db", str(db), "--device", "pixel"]) == 0
    assert "stored as run" in capsys.readouterr().out
    with sqlite3.connect(db) as con:
        assert con.execute("select count(*) from measurements").fetchone()[0] == 1


def test_cli_import_bad_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello\n")
    assert main(["import", "benchmark_model", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a benchmark_model log" in err[0]
