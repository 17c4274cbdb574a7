"""Top ops by time in the report, from benchmark_model's op profile (a recorded table), with MACs."""
from __future__ import annotations

from devices.probes import benchmark_model as bm
from harness.reporting.report import render_html
from harness.reporting.tables import top_ops
from harness.store.results import Measurement, RunInfo
from tests.test_adb_benchmark_model import OP_TABLE

XNN_TABLE = OP_TABLE.replace("CONV_2D", "TfLiteXNNPackDelegate").replace(
    "\t                 SOFTMAX\t        1\t     0.040\t     3.300%",
    "\t                 SOFTMAX\t        1\t     0.400\t     25.300%")


def test_top_ops_are_ordered_by_time_with_share_and_macs():
    prof = bm.parse(OP_TABLE)["op_profile"]
    rows = top_ops(prof, {"CONV_2D": 118_013_952, "SOFTMAX": 0})
    assert rows == [["CONV_2D", "1.180", "96.7%", "118.0 M"], ["SOFTMAX", "0.040", "3.3%", "0.0 M"]]


def test_top_ops_reorders_by_time_and_leaves_delegate_macs_empty():
    prof = bm.parse(XNN_TABLE)["op_profile"]
    rows = top_ops(prof, {"CONV_2D": 5})
    assert [r[0] for r in rows] == ["TfLiteXNNPackDelegate", "SOFTMAX"]
    assert rows[0][3] == "-"  # a delegate node's MACs are not guessed
    assert top_ops(prof, n=1) == rows[:1]


def test_report_shows_the_op_profile_section():
    prof = bm.parse(OP_TABLE)["op_profile"]
    m = Measurement(run_id="r", device="phone", model="squeezenet", variant="fp32", status="ok", p50_us=1200.0,
                    latencies_us=(1200.0, 1210.0), metrics={"macs_by_op": {"CONV_2D": 2_000_000}},
                    extra={"op_profile": prof})
    run = RunInfo(run_id="r", created_at=0.0, host="h", git_revision=None, packages={}, plan={})
    page = render_html(run, [m])
    assert 'id="op-profile"' in page and "CONV_2D" in page and "96.7%" in page and "2.0 M" in page
    plain = render_html(run, [Measurement(run_id="r", device="phone", model="squeezenet", variant="fp32",
                                          status="ok", p50_us=1200.0, latencies_us=(1200.0,))])
    assert 'id="op-profile"' not in plain
