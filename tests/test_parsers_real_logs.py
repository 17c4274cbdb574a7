"""Parsers on real logs copied from public issue threads (tests/fixtures/device-outputs/*/, sources in
its README): every figure each log prints comes out under its own name, through the parser and through
`harness import KIND FILE --json`, and figures a log does not print are absent (never 0, never guessed).

Expected values below were read off the fixture files by hand; derived figures are computed here from
the printed ones the same way the parser must (and carry `_derived` in their name).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devices.probes import benchmark_model as bm
from devices.probes import tegrastats as ts
from devices.probes import trtexec as trt
from devices.probes import vcgencmd as vc
from harness.cli import main

OUTPUTS = Path(__file__).parent / "fixtures" / "device-outputs"
PARSERS = {"trtexec": trt.parse_for_import, "tegrastats": ts.parse_for_import,
           "vcgencmd": vc.parse_for_import, "benchmark_model": bm.parse_for_import}

# fixture -> (import kind, {dotted path: value printed in the log}, [dotted paths the log does not print])
EXPECTED: dict[str, tuple[str, dict[str, Any], list[str]]] = {
    # ---- trtexec, TensorRT <= 6: per-run "Average over" lines only
    "trtexec/trt5_average_over.openpose-trt-optimize-7.txt": ("trtexec", {
        "format": "tensorrt<=6",
        "average_over_runs.0.runs_averaged": 10, "average_over_runs.0.gpu_mean_us": 25908.2,
        "average_over_runs.0.host_walltime_mean_us": 26095.6, "average_over_runs.0.gpu_p99_us": 25965.6,
        "average_over_runs.1.host_walltime_mean_us": 26000.2, "average_over_runs.2.gpu_p99_us": 25986.0,
        "summary.mean_us": round((26095.6 + 26000.2 + 25970.5) / 3, 3), "summary.count": 30,
        "summary.derived": ["mean_us", "count"], "count_derived": 30,
        "host_walltime_mean_us_derived": round((26095.6 + 26000.2 + 25970.5) / 3, 3),
    }, ["throughput_qps", "latency", "summary.p99_us", "summary.std_us"]),
    "trtexec/trt6_average_over_xavier.retinanet-examples-118.txt": ("trtexec", {
        "average_over_runs.0.gpu_mean_us": 55251.8, "average_over_runs.0.host_walltime_mean_us": 55394.4,
        "average_over_runs.0.gpu_p99_us": 59956.9, "summary.mean_us": 55394.4, "summary.count": 10,
        "summary.derived": [],
    }, ["count_derived", "walltime_s", "summary.std_us", "summary.min_us"]),
    # ---- trtexec, TensorRT 7.0/7.1: "Host Latency" section
    "trtexec/trt7_host_latency_xavier.tensorrtx-707.txt": ("trtexec", {
        "format": "tensorrt7", "summary.mean_us": 6845.32, "summary.min_us": 6143.19, "summary.max_us": 9157.71,
        "summary.p50_us": 6609.86, "summary.p99_us": 8902.59, "end_to_end.mean_us": 6872.77,
        "end_to_end.p99_us": 8978.88, "throughput_qps": 145.5, "walltime_s": 3.01718,
        "count_derived": round(145.5 * 3.01718),
    }, ["summary.count", "summary.std_us", "gpu_compute"]),
    "trtexec/trt7_host_latency_zero_qps.TensorRT-2054.txt": ("trtexec", {
        "summary.mean_us": 1660.69, "summary.max_us": 6291.5, "summary.p99_us": 1670.65,
        "end_to_end.mean_us": 3009.09, "throughput_qps": 0.0, "walltime_s": 3.00461,
        "trace_averages.0.gpu_latency_us": 1562.45, "trace_averages.0.host_latency_us": 1657.86,
        "trace_averages.0.end_to_end_us": 2764.26, "trace_averages.0.enqueue_us": 943.042,
        "trace_averages.4.host_latency_us": 1653.96,
    }, ["count_derived", "summary.count"]),  # "throughput: 0 qps" gives no count, not 0
    "trtexec/trt7_host_latency_1080ti.TensorRT-1221.txt": ("trtexec", {
        "summary.mean_us": 643169.0, "summary.p50_us": 643202.0, "summary.min_us": 638401.0,
        "summary.max_us": 646992.0, "trace_averages.0.enqueue_us": 4608.32,
    }, ["summary.p99_us", "throughput_qps", "walltime_s", "count_derived"]),
    # ---- trtexec, TensorRT 7.2+/8/10: "=== Performance summary ==="
    "trtexec/trt72_end_to_end_1080ti.TensorRT-1221.txt": ("trtexec", {
        "format": "tensorrt7.2+", "throughput_qps": 1.57184, "summary.p99_us": 638123.0,
        "end_to_end.p50_us": 636003.0, "end_to_end.mean_us": 636196.0,
    }, ["walltime_s", "count_derived", "enqueue"]),
    "trtexec/trt8_cv_warning.yolov7-329.txt": ("trtexec", {
        "summary.p99_us": 1558.53, "summary.min_us": 1347.6, "h2d.mean_us": 0.0, "gpu_compute_cv_pct": 2.10486,
        "gpu_compute.std_us_derived": round(1386.29 * 2.10486 / 100, 3), "gpu_compute_total_s": 2.9833,
        "enqueue.p99_us": 71.167, "count_derived": round(716.632 * 3.00294),
    }, ["summary.std_us", "summary.count"]),
    "trtexec/trt8_percentiles.TensorRT-4177.txt": ("trtexec", {
        "summary.p90_us": 10299.6, "summary.p95_us": 10869.8, "summary.p99_us": 12967.5, "d2h.max_us": 110.596,
        "enqueue.p99_us": 14184.8, "walltime_s": 3.00082, "gpu_compute_total_s": 2.96536,
    }, ["summary.count", "gpu_compute_cv_pct"]),
    "trtexec/trt8_percentiles.ptlflow-65.txt": ("trtexec", {
        "summary.mean_us": 30757.1, "h2d.p95_us": 249.756, "trace_averages.0.enqueue_us": 30345.3,
        "walltime_s": 3.08622,
    }, ["gpu_compute_total_s", "trace_averages.0.end_to_end_us"]),  # the Total GPU Compute line was cut
    "trtexec/trt8_trace_1000.yolov10-463.txt": ("trtexec", {
        "trace_averages.0.runs_averaged": 1000, "trace_averages.1.gpu_latency_us": 1337.15,
        "summary.max_us": 62600.2, "gpu_compute.mean_us": 1308.93, "gpu_compute_total_s": 2.98828,
    }, ["summary.count"]),
    # ---- trtexec, logs cut before the summary: the trace averages are all there is
    "trtexec/trt8_trace_only.CosyVoice-901.txt": ("trtexec", {
        "trace_averages.0.gpu_latency_us": 2123.93, "trace_averages.10.host_latency_us": 2193.55,
        "trace_averages.6.enqueue_us": 2166.58, "count_derived": 110, "summary.count": 110,
        "summary.derived": ["mean_us", "count"],
        "summary.mean_us": round(sum([2148.56, 2172.31, 2147.97, 2157.81, 2147.56, 2142.77, 2194.75, 2193.77,
                                      2196.19, 2185.23, 2193.55]) / 11, 3),
    }, ["summary.min_us", "summary.p99_us", "throughput_qps", "latency"]),
    "trtexec/trt7_trace_end_to_end.TensorRT-1243.txt": ("trtexec", {
        "trace_averages.0.end_to_end_us": 6075.32, "trace_averages.3.host_latency_us": 3554.83,
        "summary.mean_us": round((3586.3 + 3585.08 + 3577.05 + 3554.83) / 4, 3), "count_derived": 40,
    }, ["latency", "summary.max_us"]),
    "trtexec.tensorrt8_jetson_xavier.txt": ("trtexec", {
        "tensorrt_version": "8.4.0", "summary.mean_us": 402.238, "batch": 16,
    }, ["summary.count", "summary.std_us"]),
    # ---- tegrastats, every generation
    "tegrastats/tx1_l4t24_shared_clock.gtop-tegrastats_fake.txt": ("tegrastats", {
        "ram_used_mb_max": 1104, "ram_total_mb": 3995, "ram_lfb_kb_min": 425 * 4096, "cpu_load_pct_max": 11,
        "cpu_freq_mhz_max": 1734, "gpu_freq_mhz_max": 998, "gpu_load_pct_max": 0, "emc_freq_mhz_max": 1600,
    }, ["swap_total_mb", "iram_total_kb", "avg_power_mw", "power_samples", "cpu_temp_c_max"]),
    "tegrastats/tx2_l4t28_vdd.realtime_object_detection-24.txt": ("tegrastats", {
        "samples": 3, "ram_used_mb_max": 1685, "ram_total_mb": 7854, "swap_used_mb_max": 278,
        "swap_total_mb": 8192, "swap_cached_mb_max": 23, "cpu_load_pct_max": 4, "cpu_freq_mhz_max": 1421,
        "cpu_freq_mhz_min": 344, "emc_load_pct_max": 16, "gpu_freq_mhz_max": 140, "input_rail": "VDD_IN",
        "max_power_mw": 1931.0, "avg_power_mw": round((1931 + 1776 + 1738) / 3, 3),
        "rails_max_mw.VDD_DDR": 326.0, "temp_c_max_by_sensor.BCPU": 41.0, "temp_c_max_by_sensor.thermal": 40.2,
        "temp_c_max_by_sensor.Tdiode": 37.25,
    }, ["iram_total_kb", "temp_c_max_by_sensor.PMIC"]),
    "tegrastats/tx2_l4t32_vdd_sys.tx-utils-3.txt": ("tegrastats", {
        "ram_used_mb_max": 2020, "ram_total_mb": 7852, "cpu_load_pct_max": 25, "cpu_freq_mhz_max": 345,
        "gpu_load_pct_max": 0, "input_rail": "VDD_IN", "avg_power_mw": 3140.0, "rails_avg_mw.VDD_SYS_GPU": 153.0,
        "rails_max_mw.VDD_4V0_WIFI": 633.0, "temp_c_max_by_sensor.Tdiode": 41.25,
    }, ["gpu_freq_mhz_max", "emc_freq_mhz_max", "swap_total_mb"]),  # "EMC_FREQ 0% GR3D_FREQ 0%": no clocks
    "tegrastats/xavier_agx_jp42.gtop-pr7.txt": ("tegrastats", {
        "ram_used_mb_max": 14700, "ram_total_mb": 15692, "swap_cached_mb_max": 23, "ram_lfb_kb_min": 3 * 2048,
        "cpu_freq_mhz_max": 1190, "power_source": "sum(CPU+CV+GPU+SOC+SYS5V+VDDRQ)",
        "avg_power_mw": 463.0 + 618 + 2936 + 0 + 309 + 3306, "gpu_temp_c_max": 30.5, "cpu_temp_c_max": 31.5,
    }, ["gpu_freq_mhz_max", "input_rail", "temp_c_max_by_sensor.PMIC"]),
    "tegrastats.jetson_nano.txt": ("tegrastats", {
        "ram_used_mb_max": 534, "ram_total_mb": 3964, "iram_used_kb_max": 0, "iram_total_kb": 252,
        "swap_total_mb": 1982, "swap_cached_mb_max": 1, "input_rail": "POM_5V_IN", "rails_max_mw.POM_5V_CPU": 204.0,
        "cpu_load_pct_max": 16, "gpu_freq_mhz_max": 76,
    }, []),
    "tegrastats/orin_agx64.jetson_exporter-14.txt": ("tegrastats", {
        "ram_used_mb_max": 4321, "ram_total_mb": 62801, "swap_used_mb_max": 19, "swap_total_mb": 31400,
        "cpu_freq_mhz_max": 729, "gpu_freq_mhz_max": 0, "emc_freq_mhz_max": 2133,
        "invalid_sensors": ["CV0", "CV1", "CV2", "GPU"], "temp_c_max_by_sensor.tj": 44.343,
        "temp_c_max_by_sensor.CPU": 44.562, "rails_max_mw.VIN_SYS_5V0": 4025.0,
        "rails_avg_mw.VDDQ_VDD2_1V8AO": 301.0,
    }, ["gpu_temp_c_max", "temp_c_max_by_sensor.GPU", "iram_total_kb"]),
    "tegrastats/orin_nx_jp6.jetson_stats-624.txt": ("tegrastats", {
        "ram_used_mb_max": 6982, "ram_total_mb": 7620, "ram_lfb_kb_min": 5 * 1024, "swap_used_mb_max": 2640,
        "swap_cached_mb_max": 202, "cpu_load_pct_max": 97, "cpu_freq_mhz_min": 247, "cpu_freq_mhz_max": 1984,
        "gpu_load_pct_max": 84, "gpu_freq_mhz_max": 713, "emc_load_pct_max": 18, "emc_freq_mhz_max": 3199,
        "input_rail": "VDD_IN", "avg_power_mw": 17946.0, "rails_max_mw.VDD_CPU_GPU_CV": 8896.0,
        "cpu_temp_c_max": 65.562, "gpu_temp_c_max": 63.5, "temp_c_max_by_sensor.tj": 65.562,
    }, ["invalid_sensors.0"]),
    # ---- vcgencmd
    "vcgencmd/clocks_loop_openelec.glances-1048.txt": ("vcgencmd", {
        "arm_freq_mhz": 600.0, "core_freq_mhz": 250.0, "h264_freq_mhz": 250.0, "isp_freq_mhz": 250.0,
        "v3d_freq_mhz": 0.0, "uart_freq_mhz": 47.999, "pixel_freq_mhz": 85.5, "hdmi_freq_mhz": 163.683,
        "dpi_freq_mhz": 0.0, "soc_temp_c": 49.4,
    }, ["throttled_raw", "core_volts"]),
    "vcgencmd/v3d_halfway_pi2.firmware-656.txt": ("vcgencmd", {
        "v3d_freq_mhz": 250.0, "clock_readings_mhz.v3d": [250.0, 249.999, 250.0],
    }, ["arm_freq_mhz", "soc_temp_c"]),
    "vcgencmd/named_h264.documentation-2619.txt": ("vcgencmd", {
        "h264_freq_mhz": 500.001, "H264_freq_mhz": 0.0,
    }, ["arm_freq_mhz"]),
    "vcgencmd/pi5_v3d_zero.linux-7348.txt": ("vcgencmd", {"v3d_freq_mhz": 0.0}, ["arm_freq_mhz", "id0_freq_mhz"]),
    "vcgencmd/measure_volts.tldr-6309.txt": ("vcgencmd", {"core_volts": 1.2}, ["arm_freq_mhz"]),
    "vcgencmd.raspberry_pi.txt": ("vcgencmd", {
        "arm_freq_mhz": 1400.0, "soc_temp_c": 39.2, "throttled_raw": "0x50005",
    }, ["core_freq_mhz"]),
    # ---- benchmark_model
    "benchmark_model/tf112_android_legacy.yuenshome-77.txt": ("benchmark_model", {
        "summary.count": 15, "summary.mean_us": 66767.6, "summary.std_us": 39.0, "summary.min_us": 66699.0,
        "summary.max_us": 66838.0, "warmup.count": 7, "warmup.mean_us": 76605.9, "init_us": 9933.0,
        "inference_avg_us": 66767.6, "warmup_avg_us": 76605.9, "legacy_format": True, "min_runs": 10,
    }, ["overall_peak_memory_mb", "init_peak_rss_delta_mb", "first_inference_us", "summary.p50_us"]),
    "benchmark_model/tf23_android_peak_memory.tensorflow-42507.txt": ("benchmark_model", {
        "summary.count": 50, "summary.mean_us": 33209.4, "summary.std_us": 450.0, "warmup.count": 15,
        "init_us": 855.0, "first_inference_us": 49060.0, "threads": 4, "model_size_mb": 0.004448,
        "init_peak_rss_delta_mb": 0.0, "overall_peak_rss_delta_mb": 12.8672,
        "memory_footprint_wording": "Peak memory footprint",
    }, ["overall_peak_memory_mb", "end_vmrss_mb"]),
    "benchmark_model.cpu_profiling.txt": ("benchmark_model", {
        "summary.mean_us": 2.95034e6, "init_peak_rss_delta_mb": 4.21094, "overall_peak_rss_delta_mb": 46.0859,
        "memory_footprint_wording": "Memory footprint delta from the start of the tool",
    }, ["overall_peak_memory_mb"]),
    "benchmark_model.android_gpu.txt": ("benchmark_model", {
        "summary.count": 50, "summary.mean_us": 119375.0, "warmup.count": 4, "delegates.gpu.kernels": 1,
    }, ["init_peak_rss_delta_mb", "overall_peak_memory_mb"]),
}

_ABSENT = object()


def _get(d: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(d, list):
            i = int(part)
            d = d[i] if i < len(d) else _ABSENT
        elif isinstance(d, dict):
            d = d.get(part, _ABSENT)
        else:
            return _ABSENT
        if d is _ABSENT:
            return _ABSENT
    return d


def _check(got: dict[str, Any], present: dict[str, Any], absent: list[str]) -> None:
    wrong = {p: (_get(got, p), v) for p, v in present.items() if _get(got, p) != v}
    assert not wrong, f"figures (got, expected): {wrong}"
    invented = {p: _get(got, p) for p in absent if _get(got, p) not in (_ABSENT, None, {}, [])}
    assert not invented, f"figures the log does not print: {invented}"


def test_every_fixture_has_expectations_and_a_source():
    from tests.test_layer_profiles_and_samples import NEW_EXPECTED  # layer profiles, series, placeholders

    readme = (OUTPUTS / "README.md").read_text()
    files = [p.relative_to(OUTPUTS).as_posix() for p in OUTPUTS.rglob("*.txt")
             if p.parent.name in ("trtexec", "tegrastats", "vcgencmd", "benchmark_model")]
    known = set(EXPECTED) | set(NEW_EXPECTED)
    assert files and all(f in known or f.endswith("tf112_android_params.yuenshome-77.txt") for f in files), \
        sorted(set(files) - known)
    assert all(Path(f).name in readme for f in files), [f for f in files if Path(f).name not in readme]


@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_parser_reads_what_the_log_prints(fixture):
    kind, present, absent = EXPECTED[fixture]
    _check(PARSERS[kind]((OUTPUTS / fixture).read_text()), present, absent)


@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_harness_import_json_has_every_figure(fixture, capsys):
    kind, present, absent = EXPECTED[fixture]
    assert main(["import", kind, str(OUTPUTS / fixture), "--json"]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    _check(json.loads(captured.out), present, absent)


# ---- what the old parsers invented or mislabelled --------------------------------------------

def test_benchmark_model_cut_after_warmup_has_no_regular_run(capsys):
    """The params say warm-up is 4 runs; the only statistics line is under `at least 4 iterations`."""
    path = OUTPUTS / "benchmark_model/tf112_android_params.yuenshome-77.txt"
    got = bm.parse(path.read_text())
    assert got["warmup"]["count"] == 13 and got["warmup"]["mean_us"] == 37625.7 and "summary" not in got
    assert got["threads"] == 2
    assert main(["import", "benchmark_model", str(path), "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "tf112_android_params" in err[0] and "only warm-up statistics" in err[0]


def test_benchmark_model_average_line_alone_gives_no_count_or_spread():
    legacy = (OUTPUTS / "benchmark_model/tf112_android_legacy.yuenshome-77.txt").read_text().splitlines()[-1]
    got = bm.parse_for_import(legacy + "\n")
    assert got["summary"] == {"mean_us": 66767.6}  # not count 0, not std 0.0


def test_benchmark_model_terminal_escapes_and_logcat_prefixes():
    recorded = (OUTPUTS / "benchmark_model/tf23_android_peak_memory.tensorflow-42507.txt").read_text()
    plain = bm.parse(recorded)
    noisy = "".join(f"\x1b[0;32m07-08 15:34:26.201  5395  5395 I tflite  : INFO: {line}\x1b[0m\r\n"
                    for line in recorded.splitlines())
    got = bm.parse(noisy)
    for key in ("summary", "warmup", "init_peak_rss_delta_mb", "overall_peak_rss_delta_mb", "model_size_mb", "init_us"):
        assert got[key] == plain[key], key


def test_trtexec_several_runs_in_one_log_are_kept_apart():
    a = (OUTPUTS / "trtexec/trt8_percentiles.TensorRT-4177.txt").read_text()
    b = (OUTPUTS / "trtexec/trt8_cv_warning.yolov7-329.txt").read_text()
    got = trt.parse_output(a + b)
    assert [r["throughput_qps"] for r in got["runs"]] == [130.298, 716.632]
    assert [r["latency"]["mean_us"] for r in got["runs"]] == [7606.28, 1386.29]
    assert got["runs"][0]["walltime_s"] == 3.00082 and "gpu_compute_cv_pct" not in got["runs"][0]
    assert got["summary"]["mean_us"] == 1386.29  # the last run is the top-level figure


def test_tegrastats_peak_over_the_window_is_visible():
    """A one-sample 99% GPU spike among idle samples shows in the max, not only in the mean."""
    idle = (OUTPUTS / "tegrastats.jetson_nano.txt").read_text().strip()
    spike = idle.replace("GR3D_FREQ 0%@76", "GR3D_FREQ 99%@921")
    got = ts.parse_for_import(f"{idle}\n{idle}\n{spike}\n{idle}\n{idle}\n")
    assert got["gpu_load_pct_max"] == 99 and got["gpu_load_pct_mean"] == round(99 / 5, 3)
    assert got["gpu_freq_mhz_max"] == 921 and got["gpu_freq_mhz_min"] == 76


def test_tegrastats_line_figures():
    nano = ts.parse_line((OUTPUTS / "tegrastats.jetson_nano.txt").read_text())
    assert (nano["iram_used_kb"], nano["iram_total_kb"], nano["iram_lfb_kb"]) == (0, 252, 252)
    assert (nano["ram_lfb_blocks"], nano["ram_lfb_block_kb"], nano["swap_cached_mb"]) == (98, 4096, 1)
    orin = ts.parse_line((OUTPUTS / "tegrastats/orin_agx64.jetson_exporter-14.txt").read_text())
    assert orin["gpu_freq_mhz_per_gpc"] == [0, 0] and "NC" not in orin["rails"]  # not-connected: not a rail
    assert [e["sensor"] for e in orin["ignored_sensors"]].count("NC") == 2
    nx = ts.parse_line((OUTPUTS / "tegrastats/orin_nx_jp6.jetson_stats-624.txt").read_text())
    assert nx["rails"]["VDD_IN"] == {"now_mw": 17946.0, "avg_mw": 15710.0} and nx["gpu_load_pct"] == 84
    assert nx["cpu"][5] == {"load_pct": 93, "freq_mhz": 247}


def test_vcgencmd_bare_reading_is_not_called_arm():
    """`frequency(1)=...` alone is the core clock's id on a Pi 1; without a name it stays unnamed."""
    got = vc.parse_for_import("frequency(1)=250000000\n")
    assert got == {"id1_freq_mhz": 250.0, "clocks_mhz": {"id1": 250.0}}
    named = vc.parse_for_import("$ vcgencmd measure_clock core\nfrequency(1)=250000000\n")
    assert named["core_freq_mhz"] == 250.0 and "arm_freq_mhz" not in named
    volts = vc.parse_for_import("$ vcgencmd measure_volts sdram_p\nvolt=1.2250V\n")
    assert volts["sdram_p_volts"] == 1.225 and "core_volts" not in volts


def test_tegrastats_second_gpc_load_has_its_own_peak():
    """Early Orin NX releases print `GR3D_FREQ 0%@114 GR3D2_FREQ 0%@114` (rbonghi/jetson_stats#362)."""
    idle = (OUTPUTS / "tegrastats.jetson_nano.txt").read_text().strip()
    busy = idle.replace("GR3D_FREQ 0%@76", "GR3D_FREQ 0%@114 GR3D2_FREQ 40%@114")
    got = ts.parse_for_import(f"{busy}\n{idle}\n")
    assert got["gr3d2_load_pct_max"] == 40 and got["gpu_load_pct_max"] == 0
