"""Layer profiles from trtexec, every tegrastats sample kept, placeholders never stored as readings.

Real outputs (tests/fixtures/device-outputs/, sources in its README) go through the parser and through
`harness import KIND FILE --json`; each expectation was read off the fixture by hand. On the code before
issue 25 every entry below fails: a profile-only trtexec log was refused, tegrastats kept no series, and
the emulator's 0 V / 0 °C, Samsung's absent 0.0 °C sensors and PMIC's trip setting became readings.
"""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from devices.probes import android as ap
from devices.probes import layer_profile
from devices.probes import placeholders as ph
from devices.probes import tegrastats as ts
from devices.probes import trtexec as trt
from harness.cli import main
from harness.store.db import ResultsDB
from tests.test_parsers_real_logs import _check

OUTPUTS = Path(__file__).parent / "fixtures" / "device-outputs"
PARSERS = {"trtexec": trt.parse_for_import, "tegrastats": ts.parse_for_import,
           "dumpsys_battery": ap.parse_dumpsys_battery, "dumpsys_thermalservice": ap.parse_thermalservice}
FOREIGN = "{ForeignNode[/head/Constant_2_output_0.../Unsqueeze_2]}"

# fixture -> (import kind, {dotted path: value printed in the log}, [dotted paths that must be absent])
NEW_EXPECTED: dict[str, tuple[str, dict[str, Any], list[str]]] = {
    # ---- trtexec --dumpProfile: TensorRT 8.5 on Orin without --separateProfileRun (no summary at all)
    "trtexec/trt85_dump_profile_orin_no_summary.trt-engine-explorer.txt": ("trtexec", {
        "format": "layer profile only", "tensorrt_version": "8.5.2", "layer_profile_iterations": 11,
        "layer_profile_total_avg_ms": 403.8158, "layer_profile_total_median_ms": 402.0093,
        "op_profile.runs": 11, "op_profile.layer_count": 18,
        "op_profile.layers.0.name": "[trainStation1]", "op_profile.layers.0.total_ms": 16.72,
        "op_profile.layers.2.name": "backbone.conv1.weight + /backbone/conv1/_weight_quantizer/QuantizeLinear + "
                                    "/backbone/conv1/Conv",
        "op_profile.layers.2.avg_ms": 59.7861, "op_profile.layers.2.median_ms": 58.6879,
        "op_profile.layers.2.pct": 14.8, "op_profile.layers.12.name": FOREIGN, "op_profile.layers.12.pct": 28.0,
        "op_profile.total.total_ms": 4441.97, "op_profile.total.pct": 100.0, "passed": True,
    }, ["summary", "latency", "throughput_qps", "op_profile.layers.18"]),
    # ---- TensorRT 8.6.10: names first still, a `......` line where the user cut rows out, no Total
    "trtexec/trt86_dump_profile_elided.TensorRT-4236.txt": ("trtexec", {
        "format": "layer profile only", "op_profile.runs": 125, "op_profile.layer_count": 3,
        "op_profile.layers.0.name": "Reformatting CopyNode for Input Tensor 0 to {ForeignNode[(Unnamed Layer* 3274) "
                                    "[Shuffle]...Transpose_7808 + Reshape_7814]}",
        "op_profile.layers.2.total_ms": 30.02, "op_profile.layers.2.avg_ms": 0.2402,
        "op_profile.layers.2.median_ms": 0.2397, "op_profile.layers.2.pct": 1.0,
        "op_profile.rows_elided": "the log has `...` where rows were cut out: the table is incomplete",
    }, ["summary", "op_profile.total", "op_profile.layers.3"]),
    # ---- TensorRT 8.6.1 with --separateProfileRun: times first, the whole table; the blog kept only the log's end
    "trtexec/trt861_dump_profile_separate_run.XueSongTap-blog.txt": ("trtexec", {
        "tensorrt_version": "8.6.1", "passed": True, "op_profile.runs": 1434, "op_profile.layer_count": 28,
        "op_profile.layers.0.name": "{ForeignNode[771 + (Unnamed Layer* 1) [Shuffle]...dummy_gather_]}",
        "op_profile.layers.0.pct": 21.0, "op_profile.layers.21.name": "Conv_311 || Conv_308 || Conv_307",
        "op_profile.layers.27.avg_ms": 0.008, "op_profile.total.avg_ms": 1.6105,
        "layer_profile_total_avg_ms": 1.6105, "layer_profile_total_median_ms": 1.61,
    }, ["summary", "op_profile.layers.28", "op_profile.rows_elided"]),
    "trtexec/trt9_dump_profile_myelin_clip.trt-llm2.txt": ("trtexec", {
        "op_profile.runs": 3449, "op_profile.layer_count": 2, "op_profile.layers.0.pct": 99.5,
        "op_profile.layers.0.name": "{ForeignNode[CLIPTextTransformer/embeddings/position_embedding/CONSTANT_0..."
                                    "ELEMENTWISE_SUM_0]}",
        "op_profile.total.total_ms": 3093.17, "layer_profile_total_avg_ms": 0.8968,
    }, ["summary", "tensorrt_version"]),
    # ---- a times-first table posted in May 2024 (thread cut after 6 rows, no Total), the layer name last (thread cut after 6 rows, no Total)
    "trtexec/trt10_dump_profile_time_first.TensorRT-3842.txt": ("trtexec", {
        "op_profile.runs": 2094, "op_profile.layer_count": 6,
        "op_profile.layers.0.name": "Reformatting CopyNode for Input Tensor 0 to node_of_gpu_0/conv1_1 + "
                                    "node_of_gpu_0/res_conv1_bn_1 + node_of_gpu_0/res_conv1_bn_2",
        "op_profile.layers.1.avg_ms": 0.0228, "op_profile.layers.1.median_ms": 0.0225,
        "op_profile.layers.1.pct": 1.6, "op_profile.layers.5.total_ms": 22.46,
    }, ["summary", "op_profile.total", "layer_profile_total_avg_ms", "tensorrt_version"]),
    # ---- --exportProfile JSON (TensorRT 8.x, trex's test input; excerpt of whole records)
    "trtexec/trt8_export_profile_mobilenet_qat.trt-engine-explorer.json": ("trtexec", {
        "format": "exportProfile", "layer_profile_iterations": 6610, "op_profile.layer_count": 11,
        "op_profile.layers.0.name": "QuantizeLinear_2", "op_profile.layers.0.avg_ms": 0.00474854,
        "op_profile.layers.0.median_ms": 0.004544, "op_profile.layers.4.pct": 3.49685,
        "op_profile.layers.10.total_ms": 0.0,
    }, ["summary", "latencies_us"]),
    # ---- tegrastats: every rail, sensor, clock and load per sample
    "tegrastats/tx2_l4t28_vdd.realtime_object_detection-24.txt": ("tegrastats", {
        "series.t_s": [0.0, 1.0, 2.0], "series.rails_mw.VDD_IN": [1931.0, 1776.0, 1738.0],
        "series.rails_mw.VDD_DDR": [326.0, 250.0, 250.0], "series.temps_c.BCPU": [41.0, 41.0, 40.5],
        "series.temps_c.thermal": [39.9, 39.9, 40.2], "series.cpu_freq_mhz.cpu0": [1303, 346, 345],
        "series.cpu_load_pct.cpu0": [0, 4, 4], "series.emc_load_pct": [0, 16, 16],
        "series.emc_freq_mhz": [1866, 102, 102], "series.gpu_freq_mhz": [140, 140, 140],
        "ignored_sensors.0.sensor": "PMIC", "ignored_sensors.0.value": "100C", "ignored_sensors.0.times_printed": 3,
    }, ["series.temps_c.PMIC", "ignored_sensors.1"]),
    "tegrastats/orin_agx64.jetson_exporter-14.txt": ("tegrastats", {
        "series.rails_mw.VDD_GPU_SOC": [2340.0], "series.rails_mw.VIN_SYS_5V0": [4025.0],
        "series.temps_c.tj": [44.343], "series.gpu_freq_mhz": [0], "series.ram_used_mb": [4321],
        "ignored_sensors.0.sensor": "CV0", "ignored_sensors.0.value": "-256C",
        "ignored_sensors.4.sensor": "NC", "ignored_sensors.4.times_printed": 2,
    }, ["series.rails_mw.NC", "series.temps_c.CV0", "series.temps_c.GPU", "rails_avg_mw.NC"]),
    "tegrastats/orin_nx_jp6.jetson_stats-624.txt": ("tegrastats", {
        "series.rails_mw.VDD_IN": [17946.0], "series.rails_mw.VDD_CPU_GPU_CV": [8896.0],
        "series.gpu_load_pct": [84], "series.gpu_freq_mhz": [713], "series.cpu_freq_mhz.cpu5": [247],
        "series.cpu_load_pct.cpu5": [93],
    }, ["ignored_sensors.0"]),
    # ---- Orin Nano 8 GB, JetPack 6.2.1: three samples at rest, then three with jetson_clocks (lower-case sensors)
    "tegrastats/orin_nano_jp62_idle.edgefirst-docs.txt": ("tegrastats", {
        "samples": 3, "interval_s": 1.0, "series.t_s": [0.0, 1.0, 2.0], "input_rail": "VDD_IN",
        "series.rails_mw.VDD_IN": [4761.0, 4761.0, 4761.0], "series.rails_mw.VDD_CPU_GPU_CV": [515.0, 515.0, 515.0],
        "series.temps_c.tj": [49.156, 49.218, 49.062], "series.temps_c.soc0": [48.062, 48.0, 47.968],
        "series.cpu_load_pct.cpu0": [1, 0, 0], "series.cpu_freq_mhz.cpu5": [729, 729, 729],
        "series.gpu_load_pct": [0, 0, 0], "series.ram_used_mb": [775, 775, 775], "avg_power_mw": 4761.0,
    }, ["series.gpu_freq_mhz", "series.emc_load_pct", "ignored_sensors.0", "gpu_freq_mhz_max"]),
    "tegrastats/orin_nano_jp62_jetson_clocks.edgefirst-docs.txt": ("tegrastats", {
        "series.rails_mw.VDD_SOC": [2380.0, 2380.0, 2380.0], "series.temps_c.cpu": [50.125, 50.093, 49.812],
        "series.cpu_freq_mhz.cpu0": [1344, 1344, 1344], "cpu_freq_mhz_min": 1344, "max_power_mw": 6626.0,
        "temp_c_max_by_sensor.gpu": 50.593,
    }, ["ignored_sensors.0", "series.swap_used_mb.3"]),
    # ---- dumpsys: the emulator's 0 V / 0 °C, Samsung's absent sensors at 0.0, a µAh charge counter
    "dumpsys/battery_emulator_zero_voltage.appium-adb-133.txt": ("dumpsys_battery", {
        "level": 89, "level_pct": 89.0, "ac_powered": True, "present": True,
        "ignored_sensors.0.sensor": "voltage", "ignored_sensors.0.value": "0",
        "ignored_sensors.1.sensor": "temperature",
    }, ["voltage_mv", "temperature_c", "charge_counter_uah"]),
    "dumpsys/battery_oneplus7_uah.acc-195.txt": ("dumpsys_battery", {
        "voltage_mv": 3985, "temperature_c": 29.4, "level": 77, "charge_counter_uah": 2849000,
        "charge_counter_unit": "µAh (AOSP BatteryManager documentation)",
    }, ["ignored_sensors", "charge_counter_raw"]),
    "dumpsys/thermalservice_samsung_a52_zero_subbat.android-se-246774.txt": ("dumpsys_thermalservice", {
        "source": "hal", "temperatures_c.AP": 25.6, "temperatures_c.BAT": 23.8, "temperatures_c.PA": 25.7,
        "ignored_sensors.0.sensor": "SUBBAT", "ignored_sensors.1.sensor": "SUBBATRAW",
        "ignored_sensors.2.sensor": "USB", "ignored_sensors.2.value": "0.0",
    }, ["temperatures_c.SUBBAT", "temperatures_c.USB", "ignored_sensors.3"]),
}


@pytest.mark.parametrize("fixture", sorted(NEW_EXPECTED))
def test_parser_reads_what_the_log_prints(fixture):
    kind, present, absent = NEW_EXPECTED[fixture]
    _check(PARSERS[kind]((OUTPUTS / fixture).read_text()), present, absent)


@pytest.mark.parametrize("fixture", sorted(NEW_EXPECTED))
def test_harness_import_json_has_every_figure(fixture, capsys):
    kind, present, absent = NEW_EXPECTED[fixture]
    assert main(["import", kind, str(OUTPUTS / fixture), "--json"]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    _check(json.loads(captured.out), present, absent)


def test_every_new_fixture_is_named_in_the_readme():
    readme = (OUTPUTS / "README.md").read_text()
    files = [p for p in OUTPUTS.rglob("*") if p.parent.name == "dumpsys" or "profile" in p.name]
    assert files and all(p.name in readme for p in files), [p.name for p in files if p.name not in readme]
    assert all(p.relative_to(OUTPUTS).as_posix() in NEW_EXPECTED for p in files)


# ---- trtexec: profile beside a summary, and the tables' edges --------------------------------

def _profile_block() -> str:
    text = (OUTPUTS / "trtexec/trt85_dump_profile_orin_no_summary.trt-engine-explorer.txt").read_text()
    return text[text.index("[10/31/2023-17:58:57] [I] === Profile"):text.index("&&&& PASSED")]


def test_a_cut_separate_profile_run_log_says_why_it_has_no_summary():
    got = trt.parse_output((OUTPUTS / "trtexec/trt861_dump_profile_separate_run.XueSongTap-blog.txt").read_text())
    assert "cut before it" in got["summary_absent"]
    alone = trt.parse_output((OUTPUTS / "trtexec/trt85_dump_profile_orin_no_summary.trt-engine-explorer.txt")
                             .read_text())
    assert "prints none when --dumpProfile runs without --separateProfileRun" in alone["summary_absent"]


def test_summary_and_profile_in_one_log_are_both_kept():
    """--separateProfileRun: the summary of the timed run and the profile of the separate run."""
    summary = (OUTPUTS / "trtexec/trt8_percentiles.TensorRT-4177.txt").read_text()
    got = trt.parse_output(summary + _profile_block())
    assert got["summary"]["p99_us"] == 12967.5 and got["throughput_qps"] == 130.298
    assert got["op_profile"]["layers"][12]["name"] == FOREIGN and got["layer_profile_total_avg_ms"] == 403.8158
    assert "summary_absent" not in got


def test_layer_rows_are_one_model_for_every_tool():
    trt_rows = layer_profile.rows(trt.parse_output(_profile_block())["op_profile"])
    assert trt_rows[0]["name"] == FOREIGN and trt_rows[0]["pct"] == 28.0 and trt_rows[0]["median_ms"] == 113.1503
    bm_rows = layer_profile.rows({"by_node_type": [{"node_type": "SOFTMAX", "avg_ms": 0.04},
                                                   {"node_type": "CONV_2D", "avg_ms": 1.18, "avg_pct": 96.7}]})
    assert [(r["name"], r["pct"]) for r in bm_rows] == [("CONV_2D", 96.7), ("SOFTMAX", 100.0 * 0.04 / 1.22)]


def test_litert_and_benchmark_model_profiles_read_through_the_same_rows():
    """The recorded LiteRT profiler events and benchmark_model's recorded op table, through layer_profile.rows."""
    from rpi import litert_profile as lp
    from devices.probes import benchmark_model as bm

    rec = json.loads((Path(__file__).parent / "fixtures" / "litert_profiler" / "faster_rcnn_fp32.events.json")
                     .read_text())
    litert = lp.summarize([[tuple(e) for e in run] for run in rec["runs"]], rec["tflite_ops"])
    rows = layer_profile.rows(litert)
    assert [r["name"] for r in rows] == [t["node_type"] for t in sorted(litert["by_node_type"],
                                                                         key=lambda t: -t["avg_ms"])]
    assert rows[0]["pct"] == max(t["avg_pct"] for t in litert["by_node_type"])
    from tests.test_adb_benchmark_model import OP_TABLE  # benchmark_model's op table, as test_op_profile uses it

    recorded = bm.parse(OP_TABLE)["op_profile"]
    bm_rows = layer_profile.rows(recorded)
    assert bm_rows and bm_rows[0]["avg_ms"] == max(r["avg_ms"] for r in recorded["by_node_type"])
    assert all(r["pct"] is not None for r in bm_rows)


def test_profile_json_without_layers_is_one_line(tmp_path, capsys):
    bad = tmp_path / "profile.json"
    bad.write_text('[\n  { "count" : 3 }\n]\n')
    assert main(["import", "trtexec", str(bad), "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "profile.json: not a trtexec log" in err[0]


def test_failed_trtexec_with_a_profile_header_only_is_still_a_failure():
    text = "[05/08/2024-14:05:14] [I] === Profile (0 iterations ) ===\n&&&& FAILED TensorRT.trtexec [TensorRT v100000]\n"
    with pytest.raises(ValueError, match="trtexec failed"):
        trt.parse_output(text)


# ---- placeholders ---------------------------------------------------------------------------

def test_every_placeholder_rule_names_its_source():
    assert {r.tool for r in ph.RULES} == {"tegrastats", "dumpsys_battery", "dumpsys_thermalservice"}
    for rule in ph.RULES:
        assert rule.source and rule.meaning and rule.value
        for path in (w for w in rule.source.split() if w.startswith("tests/fixtures/")):
            assert (Path(__file__).parent.parent / path).is_file(), path


def test_samsung_minus_99_9_is_not_a_temperature():
    real = (OUTPUTS / "dumpsys/thermalservice_samsung_a52_zero_subbat.android-se-246774.txt").read_text()
    got = ap.parse_thermalservice(real.replace("mValue=25.7, mType=5, mName=PA", "mValue=-99.9, mType=5, mName=PA"))
    assert "PA" not in got["temperatures_c"] and got["temperatures_c"]["AP"] == 25.6
    assert {"sensor": "PA", "value": "-99.9",
            "reason": "-99.9 C is below any phone's operating range: a no-sensor value"} in got["ignored_sensors"]


def test_charge_counter_unit_is_not_asserted_when_mah_sized():
    """A mAh-sized counter (4274 at 80 %) is kept as printed with its unit unknown, never labelled µAh."""
    real = (OUTPUTS / "dumpsys_battery.samsung.txt").read_text()
    got = ap.parse_dumpsys_battery(real.replace("Charge counter: 2967000", "Charge counter: 4274")
                                   .replace("level: 100", "level: 80"))
    assert got["charge_counter_raw"] == 4274 and got["charge_counter_unit"].startswith("unknown")
    assert "charge_counter_uah" not in got
    sentinel = ap.parse_dumpsys_battery(real.replace("Charge counter: 2967000", "Charge counter: -2147483648"))
    assert "charge_counter_uah" not in sentinel and sentinel["ignored_sensors"][0]["sensor"] == "Charge counter"


def test_a_real_zero_degree_battery_is_kept():
    """0 °C is a reading when the battery reports a voltage: only the emulator's 0 V / 0 pair is a placeholder."""
    real = (OUTPUTS / "dumpsys/battery_oneplus7_uah.acc-195.txt").read_text()
    got = ap.parse_dumpsys_battery(real.replace("temperature: 294", "temperature: 0"))
    assert got["temperature_c"] == 0.0 and got["voltage_mv"] == 3985 and "ignored_sensors" not in got


# ---- stored with the row, plotted on request --------------------------------------------------

def test_import_store_keeps_every_sample_and_the_ignored_sensors(tmp_path, capsys):
    db = tmp_path / "r.db"
    log = OUTPUTS / "tegrastats/tx2_l4t28_vdd.realtime_object_detection-24.txt"
    assert main(["import", "tegrastats", str(log), "--store", "--db", str(db), "--device", "tx2",
                 "--model", "m", "--variant", "fp16"]) == 0
    assert "3 samples of every series" in capsys.readouterr().out
    [m] = ResultsDB(db).measurements()
    assert m.series["rails_mw"]["VDD_IN"] == [1931.0, 1776.0, 1738.0] and m.series["t_s"] == [0.0, 1.0, 2.0]
    assert [s.zones_c["BCPU"] for s in m.temperatures] == [41.0, 41.0, 40.5]
    assert all("PMIC" not in s.zones_c for s in m.temperatures)
    assert m.ignored_sensors[0]["sensor"] == "PMIC" and "trip setting" in m.ignored_sensors[0]["reason"]
    out = tmp_path / "r.html"
    assert main(["report", "--db", str(db), "--out", str(out), "--timeline", "tx2/m/fp16"]) == 0
    page = out.read_text()
    assert 'id="timeline"' in page and "<svg" in page[page.index('id="timeline"'):]
    assert "rail VDD_IN" in page and "PMIC = 100C" in page
    assert main(["report", "--db", str(db), "--out", str(out)]) == 0  # without --timeline: no such section
    assert 'id="timeline"' not in out.read_text()


def test_timeline_for_a_row_the_run_lacks_is_one_line(tmp_path, capsys):
    db = tmp_path / "r.db"
    assert main(["import", "tegrastats", str(OUTPUTS / "tegrastats.jetson_nano.txt"), "--store", "--db", str(db),
                 "--device", "nano", "--model", "m"]) == 0
    capsys.readouterr()
    assert main(["report", "--db", str(db), "--out", str(tmp_path / "x.html"), "--timeline", "nano/m/fp32"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].count("--timeline") == 1 and "nano/m/imported" in err[0]
    assert main(["report", "--db", str(db), "--format", "md", "--timeline", "nano/m/imported"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["harness: --timeline: the plot needs --format html"] or (len(err) == 1 and "--format html" in err[0])
    assert main(["report", "--db", str(db), "--out", str(tmp_path / "x.html"), "--timeline", "nano-only"]) == 2
    assert "give DEVICE/MODEL/VARIANT" in capsys.readouterr().err


def test_profile_only_import_shows_tensorrt_layers_in_the_report(tmp_path, capsys):
    db = tmp_path / "r.db"
    log = OUTPUTS / "trtexec/trt85_dump_profile_orin_no_summary.trt-engine-explorer.txt"
    assert main(["import", "trtexec", str(log), "--store", "--db", str(db), "--device", "orin"]) == 0
    assert "layer profile" in capsys.readouterr().out
    [m] = ResultsDB(db).measurements()
    assert m.p50_us is None and m.extra["op_profile"]["layers"][12]["name"] == FOREIGN
    out = tmp_path / "r.html"
    assert main(["report", "--db", str(db), "--out", str(out)]) == 0
    section = out.read_text().split('id="op-profile"')[1]
    assert "TensorRT layer (fused names kept)" in section and FOREIGN in section and "28.0%" in section
    assert section.index(FOREIGN) < section.index("14.8%")  # slowest first
    md = tmp_path / "r.md"
    assert main(["report", "--db", str(db), "--out", str(md)]) == 0 and FOREIGN in md.read_text()


def test_jetson_tensorrt_op_profiling_runs_the_profile_separately(sshd_board, tmp_path):
    from devices.jetson_target import JetsonTarget
    from devices.target import JobSpec
    from harness.orchestration.measure import to_measurement
    from harness.planning.config import BenchSettings
    from tests.test_ssh_targets import FAST, _onnx

    cfg = sshd_board.config_for("orin-prof", "jetson", runtime="tensorrt", op_profiling=True)
    calls = sshd_board.bin / "trtexec.calls"
    calls.unlink(missing_ok=True)
    bench = BenchSettings(**FAST)
    target = JetsonTarget(cfg)
    try:
        target.prepare()
        raw = target.benchmark(JobSpec(model_path=_onnx(tmp_path), bench=bench))
    finally:
        target.close()
    assert calls.exists(), raw.runner
    timed = [json.loads(line) for line in calls.read_text().splitlines()][-1]
    assert timed[-2:] == ["--dumpProfile", "--separateProfileRun"]
    assert raw.runner["summary"]["mean_us"] == 402.238  # the timed run's summary is still there
    m = to_measurement("run", "orin-prof", SimpleNamespace(model="m", variant="onnx", metrics={}), bench, raw, 0.0)
    assert m.status == "ok" and m.extra["op_profile"]["layers"][12]["name"] == FOREIGN


def test_android_run_never_stores_placeholders_as_readings(android_device, adb_sim, tmp_path, fake_benchmark_model):
    """The simulated phone answers with the emulator's battery dump and the A52's thermal dump (both real)."""
    import time as _time

    from devices.android_target import AndroidTarget
    from devices.target import JobSpec
    from harness.orchestration.measure import to_measurement
    from harness.planning.config import BenchSettings

    adb_sim.battery_text = (OUTPUTS / "dumpsys/battery_emulator_zero_voltage.appium-adb-133.txt").read_text()
    adb_sim.thermal_text = (OUTPUTS / "dumpsys/thermalservice_samsung_a52_zero_subbat.android-se-246774.txt"
                            ).read_text()
    model = tmp_path / "model.tflite"
    model.write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(range(256)) * 64)
    bench = BenchSettings(min_runs=50, min_s=1.0, warmup_runs=1, cooldown_s=0.0, sample_interval_s=0.1,
                          timeout_s=30.0)
    t = AndroidTarget(android_device())
    try:
        t.prepare()
        raw = t.benchmark(JobSpec(model_path=model, bench=bench))
    finally:
        t.close()
    m = to_measurement("run", "emu", SimpleNamespace(model="m", variant="fp32", metrics={}, path=model), bench, raw,
                       _time.time())
    assert m.status == "ok" and m.temp_max_c == 25.7  # the A52's PA sensor, not a 0.0 placeholder
    zones = {z for s in m.temperatures for z in s.zones_c}
    assert zones and not zones & {"SUBBAT", "SUBBATRAW", "USB", "battery"}
    assert "voltage_mv" not in m.extra["battery_before"] and "temperature_c" not in m.extra["battery_before"]
    assert {e["sensor"] for e in m.extra["ignored_sensors"]} == {"voltage", "temperature", "SUBBAT", "SUBBATRAW", "USB"}


def test_timeline_reads_a_jetson_or_pi_runs_series_on_its_own_clock():
    """A run's series sit in the row's tegrastats / raspberry_pi facts on the host's clock; the plot starts at 0."""
    from harness.reporting import timeline
    from harness.store.results import Measurement

    samples, _ = ts.parse_text((OUTPUTS / "tegrastats/tx2_l4t28_vdd.realtime_object_detection-24.txt").read_text())
    jetson = Measurement(run_id="r", device="tx2", model="m", variant="fp16", status="ok",
                         extra={"tegrastats": ts.summarize(samples, 1.0, t0_s=1.7e9)})
    power = timeline.power_lines(jetson)
    assert power["rail VDD_IN"] == [(0.0, 1931.0), (1.0, 1776.0), (2.0, 1738.0)]
    assert timeline.temperature_lines(jetson)["BCPU"] == [(0.0, 41.0), (1.0, 41.0), (2.0, 40.5)]
    assert timeline.ignored_of(jetson)[0]["sensor"] == "PMIC"
    from devices.probes import vcgencmd as vc

    pi_samples = [{"t_s": 0.5, "temp_c": 48.3, "power_mw": 2100.0, "power_source": "hwmon:pmic", "throttled": None},
                  {"t_s": 1.5, "temp_c": 49.9, "power_mw": None, "power_source": None, "throttled": None}]
    pi = Measurement(run_id="r", device="pi", model="m", variant="fp32", status="ok",
                     extra={"raspberry_pi": {"series": vc.sampler_series(pi_samples, lambda t: 100.0 + t)}})
    assert timeline.temperature_lines(pi) == {"soc (vcgencmd)": [(0.0, 48.3), (1.0, 49.9)]}
    assert timeline.power_lines(pi) == {"hwmon:pmic": [(0.0, 2100.0)]}
    assert timeline.timeline_figure(pi).startswith("<?xml")
