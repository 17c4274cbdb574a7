"""An imported log's row holds what the log printed, each figure in its own column, under the graph's name."""
from __future__ import annotations

from harness.cli import main
from harness.reporting.tables import measurements_text
from harness.store.db import ResultsDB

BM = "benchmark_model/tf23_android_peak_memory.tensorflow-42507.txt"


def _stored(tool: str, path, db) -> object:
    assert main(["import", tool, str(path), "--store", "--db", str(db)]) == 0
    [m] = ResultsDB(db).measurements()
    return m


def test_benchmark_model_log_keeps_avg_min_max_std_size_and_memory(device_outputs, tmp_path, capsys):
    m = _stored("benchmark_model", device_outputs / BM, tmp_path / "r.db")
    # as printed: count=50 ... min=32641 max=34005 avg=33209.4 std=450; file size 0.004448 MB (bytes / 1e6)
    assert (m.mean_us, m.min_us, m.max_us, m.std_us) == (33209.4, 32641, 34005, 450)
    assert m.p50_us is None  # this benchmark_model printed no median: the column stays empty
    assert m.model_size_bytes == 4448 and m.peak_rss_delta_mb == 12.8672 and m.init_us == 855
    assert m.model == "espcn_harmonic_2x_slim_w_cl"  # the graph, not the log file
    capsys.readouterr()
    text = measurements_text([m], fmt="csv")
    header, row = text.strip().splitlines()[:2]
    cells = dict(zip(header.split(","), row.split(",")))
    assert cells["mean ms"] == "33.209" and cells["min ms"] == "32.641" and cells["max ms"] == "34.005"
    assert cells["std ms"] == "0.450" and cells["p50 ms"] == "-" and cells["file size"] == "4.4 kB"
    assert cells["peak RSS Δ MB"] == "12.9"


def test_trtexec_log_is_named_after_its_engine(device_outputs, tmp_path):
    m = _stored("trtexec", device_outputs / "trtexec.tensorrt8_jetson_xavier.txt", tmp_path / "r.db")
    assert m.model == "mnist16" and m.p50_us is not None


def test_the_name_given_wins_and_a_log_without_a_graph_keeps_its_file_name(device_outputs, tmp_path):
    db = tmp_path / "r.db"
    assert main(["import", "benchmark_model", str(device_outputs / BM), "--store", "--db", str(db),
                 "--model", "mine"]) == 0
    assert [m.model for m in ResultsDB(db).measurements()] == ["mine"]
    log = tmp_path / "nograph.txt"
    log.write_text("count=50 first=10 curr=10 min=9 max=12 avg=10.5 std=1\n")
    assert _stored("benchmark_model", log, tmp_path / "r2.db").model == "nograph"
