"""Parsers for vcgencmd, tegrastats and trtexec on real recorded outputs and on every documented variant."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from devices.jetson_target import (bench_engine_argv, build_engine_argv, parse_clocks_sysfs,
                                   parse_jetson_clocks_show)
from devices.probes import tegrastats as ts
from devices.probes import trtexec as trt
from devices.probes import vcgencmd as vc
from devices.rpi_target import judge_throttling

# tegrastats lines as the tool printed them on other boards (public bug reports and NVIDIA docs).
TX2 = ("RAM 1685/7854MB (lfb 1044x4MB) SWAP 278/8192MB (cached 23MB) CPU [0%@1303,0%@345,0%@345,0%@1419,0%@1420,"
       "0%@1421] EMC_FREQ 0%@1866 GR3D_FREQ 0%@140 APE 150 MTS fg 1% bg 8% BCPU@41C MCPU@41C GPU@39C PLL@41C "
       "Tboard@37C Tdiode@37.25C PMIC@100C thermal@39.9C VDD_IN 1931/1931 VDD_CPU 231/231 VDD_GPU 154/154 "
       "VDD_SOC 385/385 VDD_WIFI 38/38 VDD_DDR 326/326")
TX2_L4T32 = ("RAM 2020/7852MB (lfb 1164x4MB) CPU [9%@345,21%@345,25%@345,3%@345,1%@345,1%@345] EMC_FREQ 0% "
             "GR3D_FREQ 0% PLL@42.5C MCPU@42.5C PMIC@100C Tboard@40C GPU@41C BCPU@42.5C thermal@41.9C Tdiode@41.25C "
             "VDD_SYS_GPU 153/158 VDD_SYS_SOC 536/547 VDD_4V0_WIFI 633/527 VDD_IN 3140/3208 VDD_SYS_CPU 536/590 "
             "VDD_SYS_DDR 557/601")
XAVIER_AGX = ("RAM 14700/15692MB (lfb 3x2MB) SWAP 898/8192MB (cached 23MB) CPU [0%@1190,0%@1190,0%@1190,0%@1190,"
              "0%@1190,0%@1190,0%@1190,0%@1190] EMC_FREQ 0% GR3D_FREQ 0% AO@30C GPU@30.5C Tboard@31C Tdiode@32C "
              "AUX@30.5C CPU@31.5C thermal@30.8C PMIC@100C GPU 463/463 CPU 618/618 SOC 2936/2936 CV 0/0 "
              "VDDRQ 309/309 SYS5V 3306/3306")
XAVIER_SENTINEL = ("RAM 3276/7859MB (lfb 5x4MB) CPU [44%@1421,49%@2031] EMC_FREQ 1%@1866 GR3D_FREQ 0%@114 "
                   "CV0@-256C CPU@42.5C GPU@39.5C CV1@-256C VDD_IN 5297/5297 VDD_CPU_GPU_CV 1917/1917")
ORIN = ("09-01-2025 10:55:25 RAM 1313/30697MB (lfb 37x4MB) SWAP 0/15348MB (cached 0MB) CPU [0%@729,0%@729,0%@729,"
        "0%@729,0%@729,0%@729,0%@729,0%@729,off,off,off,off] GR3D_FREQ 0% cpu@43.343C soc2@39.812C soc0@40.312C "
        "tj@43.343C soc1@38.843C VDD_GPU_SOC 1995mW/1995mW VDD_CPU_CV 0mW/0mW VIN_SYS_5V0 2524mW/2524mW")
ORIN_NEXT = ORIN.replace("10:55:25", "10:55:26").replace("1995mW/1995mW", "2995mW/2495mW")
ORIN_R39 = ("09-15-2026 12:19:33 RAM 999/62841MB CPU [0%@729,off] GR3D_FREQ 0% cpu@43.093C/43.093C "
            "soc2@39.625C/39.687C soc0@40.031C/40.093C tj@42.906C/42.968C soc1@40.125C/40.156C "
            "VDD_GPU_SOC 2792mW/2792mW/2792mW VDD_CPU_CV 0mW/0mW/0mW VIN_SYS_5V0 3918mW/3952mW/4019mW")
ORIN_NANO = ("RAM 2512/7620MB (lfb 2x4MB) SWAP 0/3810MB (cached 0MB) CPU [2%@729,1%@729,0%@729,0%@729,0%@729,"
             "0%@729] GR3D_FREQ 0%@[305,305] cpu@48.5C soc2@46.9C soc0@47.1C gpu@46.8C tj@48.5C soc1@47.3C "
             "VDD_IN 4783mW/4783mW VDD_CPU_GPU_CV 597mW/597mW VDD_SOC 1433mW/1433mW")
NO_RAILS = ("RAM 1689/3825MB (lfb 339x4MB) SWAP 0/1913MB (cached 0MB) CPU [3%@345,off,off,0%@345,1%@345,1%@345] "
            "EMC_FREQ 0% GR3D_FREQ 0% PLL@50.5C MCPU@50.5C PMIC@50C GPU@50C BCPU@50.5C thermal@50.3C")
TK1 = "RAM 1017/1746MB (lfb 67x4MB) SWAP 0/0MB (cached 0MB) cpu [0%,off,off,off]@204 EMC 3%@68 AVP 0%@204 VDE 120 GR3D 0%@72 EDP limit 0"

# TensorRT 7 trtexec summary layout (NVIDIA/TensorRT issue reports).
TRT7 = """[06/12/2022-22:34:00] [I] Average on 10 runs - GPU latency: 1.55903 ms - Host latency: 1.65396 ms (end to end 3.01013 ms, enqueue 0.93772 ms)
[06/12/2022-22:34:00] [I] Host Latency
[06/12/2022-22:34:00] [I] min: 1.64058 ms (end to end 1.66368 ms)
[06/12/2022-22:34:00] [I] max: 6.2915 ms (end to end 7.65552 ms)
[06/12/2022-22:34:00] [I] mean: 1.66069 ms (end to end 3.00909 ms)
[06/12/2022-22:34:00] [I] median: 1.65601 ms (end to end 3.01636 ms)
[06/12/2022-22:34:00] [I] percentile: 1.67065 ms at 99% (end to end 3.03931 ms at 99%)
[06/12/2022-22:34:00] [I] throughput: 602.1 qps
[06/12/2022-22:34:00] [I] walltime: 3.00461 s
[06/12/2022-22:34:00] [I] Enqueue Time
[06/12/2022-22:34:00] [I] min: 0.9 ms
[06/12/2022-22:34:00] [I] max: 1.2 ms
[06/12/2022-22:34:00] [I] median: 0.93 ms
[06/12/2022-22:34:00] [I] GPU Compute
[06/12/2022-22:34:00] [I] min: 1.55 ms
[06/12/2022-22:34:00] [I] max: 6.2 ms
[06/12/2022-22:34:00] [I] mean: 1.5605 ms
[06/12/2022-22:34:00] [I] median: 1.559 ms
[06/12/2022-22:34:00] [I] percentile: 1.58 ms at 99%
[06/12/2022-22:34:00] [I] total compute time: 2.81 s
&&&& PASSED TensorRT.trtexec # ./trtexec --loadEngine=model.trt
"""
# TensorRT 8.6/10 print p90/p95/p99 and a variance warning; TensorRT 10 encodes the version as v100200.
TRT10 = """&&&& RUNNING TensorRT.trtexec [TensorRT v100200] # trtexec --loadEngine=FM_P_D_fp16.engine
[10/03/2024-10:47:59] [I] === Performance summary ===
[10/03/2024-10:47:59] [I] Throughput: 130.298 qps
[10/03/2024-10:47:59] [I] Latency: min = 5.38672 ms, max = 13.3664 ms, mean = 7.60628 ms, median = 7.16092 ms, percentile(90%) = 10.2996 ms, percentile(95%) = 10.8698 ms, percentile(99%) = 12.9675 ms
[10/03/2024-10:47:59] [I] Enqueue Time: min = 2.72876 ms, max = 15.0201 ms, mean = 7.63062 ms, median = 7.86694 ms, percentile(90%) = 10.1792 ms, percentile(95%) = 11.7217 ms, percentile(99%) = 14.1848 ms
[10/03/2024-10:47:59] [I] H2D Latency: min = 0.0065918 ms, max = 0.0698242 ms, mean = 0.0122212 ms, median = 0.00814819 ms, percentile(90%) = 0.0253906 ms, percentile(95%) = 0.0270996 ms, percentile(99%) = 0.0515137 ms
[10/03/2024-10:47:59] [I] GPU Compute Time: min = 5.34595 ms, max = 13.3388 ms, mean = 7.58404 ms, median = 7.14139 ms, percentile(90%) = 10.2881 ms, percentile(95%) = 10.8175 ms, percentile(99%) = 12.9485 ms
[10/03/2024-10:47:59] [I] D2H Latency: min = 0.00390625 ms, max = 0.110596 ms, mean = 0.0100141 ms, median = 0.00439453 ms, percentile(90%) = 0.0254517 ms, percentile(95%) = 0.0319824 ms, percentile(99%) = 0.0994873 ms
[10/03/2024-10:47:59] [I] Total Host Walltime: 3.00082 s
[10/03/2024-10:47:59] [I] Total GPU Compute Time: 2.96536 s
[10/03/2024-10:47:59] [W] * GPU compute time is unstable, with coefficient of variance = 5.55763%.
&&&& PASSED TensorRT.trtexec [TensorRT v100200] # trtexec --loadEngine=FM_P_D_fp16.engine
"""
TRT_FAILED = """&&&& RUNNING TensorRT.trtexec [TensorRT v8201] # trtexec --onnx=model.onnx --fp16
[01/18/2025-11:52:09] [E] [TRT] ModelImporter.cpp:773: ERROR: input: Unsupported ONNX data type: UINT8 (2)
[01/18/2025-11:52:09] [E] Failed to parse onnx file
&&&& FAILED TensorRT.trtexec [TensorRT v8201] # trtexec --onnx=model.onnx --fp16
"""


# ---- vcgencmd -------------------------------------------------------------------------------

def test_vcgencmd_recorded_session(device_outputs):
    got = vc.parse_transcript((device_outputs / "vcgencmd.raspberry_pi.txt").read_text())
    assert got["soc_temp_c"] == 39.2
    assert got["arm_freq_mhz"] == 1400.0
    t = got["throttled"]
    assert t["raw"] == "0x50005"
    assert t["now"] == ["under_voltage", "throttled"] and t["since_boot"] == ["under_voltage", "throttled"]
    assert t["under_voltage_now"] and not t["freq_capped_now"] and t["throttled_since_boot"]
    assert not t["soft_temp_limit_since_boot"] and t["unknown_bits"] == []


@pytest.mark.parametrize("value,now,since", [
    (0x0, [], []),
    (0x1, ["under_voltage"], []),
    (0x2, ["freq_capped"], []),
    (0x4, ["throttled"], []),
    (0x8, ["soft_temp_limit"], []),
    (0x10000, [], ["under_voltage"]),
    (0x20000, [], ["freq_capped"]),
    (0x40000, [], ["throttled"]),
    (0x80000, [], ["soft_temp_limit"]),
    (0xF000F, ["under_voltage", "freq_capped", "throttled", "soft_temp_limit"],
     ["under_voltage", "freq_capped", "throttled", "soft_temp_limit"]),
])
def test_every_throttled_bit(value, now, since):
    d = vc.decode_throttled(value)
    assert (d["now"], d["since_boot"]) == (now, since)
    assert vc.parse_throttled(f"throttled={hex(value)}")["now"] == now


def test_vcgencmd_variants_and_failures():
    assert vc.parse_temp("temp=-3.5'C") == -3.5
    assert vc.parse_clock_hz("frequency(48)=1500398464") == 1500398464
    assert vc.parse_volts("volt=0.8600V") == 0.86
    assert vc.parse_throttled("throttled=0x20000") ["freq_capped_since_boot"] is True
    assert vc.decode_throttled(1 << 5)["unknown_bits"] == [5]
    assert vc.problem("VCHI initialization failed") == "VCHI initialization failed"
    assert vc.parse_throttled("VCHI initialization failed") is None
    with pytest.raises(ValueError, match="VCHI"):
        vc.parse_for_import("VCHI initialization failed\n")


def test_pi_sampler_blocks_and_hwmon_power():
    lines = [(0.1, "throttled=0x0"), (0.1, "temp=50.1'C"), (0.1, "hwmon ina219 power1_input 2500000"), (0.1, "--"),
             (0.6, "throttled=0x50005"), (0.6, "temp=80.5'C"), (0.6, "hwmon ina3221 in1_input 5000"),
             (0.6, "hwmon ina3221 curr1_input 600"), (0.6, "--"),
             (1.1, "sh: 1: vcgencmd: not found"), (1.1, "--")]
    s = vc.parse_sampler(lines)
    assert [x["temp_c"] for x in s] == [50.1, 80.5, None]
    assert s[0]["power_mw"] == 2500.0 and s[0]["power_source"] == "hwmon:ina219"
    assert s[1]["power_mw"] == 3000.0  # 5000 mV x 600 mA
    assert s[1]["throttled"]["now"] == ["under_voltage", "throttled"]
    assert s[2]["problem"] == "sh: 1: vcgencmd: not found"


def test_throttling_judgement():
    clean = vc.decode_throttled(0)
    assert judge_throttling(clean, clean, [])[0] is False
    # A since-boot bit that appeared during the run means it throttled between samples.
    throttled, report = judge_throttling(clean, vc.decode_throttled(0x40000), [])
    assert throttled and report["throttled_since_boot_new"] == ["throttled"]
    old = vc.decode_throttled(0x50000)
    assert judge_throttling(old, old, [])[0] is False  # old history, nothing during this run
    sample = {"throttled": vc.decode_throttled(0x8), "temp_c": 81.0, "problem": None}
    throttled, report = judge_throttling(clean, clean, [sample])
    assert throttled and report["throttled_during_run"] == ["soft_temp_limit"] and report["soc_temp_c_max"] == 81.0
    assert "vcgencmd_unavailable" in judge_throttling(None, None, [])[1]


# ---- tegrastats -----------------------------------------------------------------------------

def test_tegrastats_recorded_nano(device_outputs):
    text = (device_outputs / "tegrastats.jetson_nano.txt").read_text()
    s = ts.parse_line(text.splitlines()[0])
    assert s["ram_used_mb"] == 534 and s["ram_total_mb"] == 3964
    assert [c["load_pct"] for c in s["cpu"]] == [16, 9, 0, 0] and s["cpu"][0]["freq_mhz"] == 204
    assert s["gpu_load_pct"] == 0 and s["gpu_freq_mhz"] == 76 and s["emc_freq_mhz"] == 204
    assert s["temps_c"]["CPU"] == 36.5 and s["temps_c"]["GPU"] == 36.0 and s["temps_c"]["thermal"] == 36.25
    assert s["rails"]["POM_5V_IN"] == {"now_mw": 1022.0, "avg_mw": 1022.0}
    assert "RAM" not in s["rails"] and "SWAP" not in s["rails"] and "IRAM" not in s["rails"]
    got = ts.parse_for_import(text)
    assert got["input_rail"] == "POM_5V_IN" and got["avg_power_mw"] == 1022.0
    assert got["power_samples"] == [(0.0, 1022.0, "tegrastats:POM_5V_IN")]
    assert got["cpu_temp_c_max"] == 36.5 and got["gpu_temp_c_max"] == 36.0
    assert "PMIC" not in got["temp_c_max_by_sensor"]


@pytest.mark.parametrize("line,rail,power,cpu_t,gpu_t", [
    (TX2, "VDD_IN", 1931.0, 41.0, 39.0),
    (TX2_L4T32, "VDD_IN", 3140.0, 42.5, 41.0),
    (XAVIER_AGX, None, 463 + 618 + 2936 + 0 + 309 + 3306.0, 31.5, 30.5),
    (XAVIER_SENTINEL, "VDD_IN", 5297.0, 42.5, 39.5),
    (ORIN, None, 1995 + 0 + 2524.0, 43.343, None),
    (ORIN_R39, None, 2792 + 0 + 3918.0, 43.093, None),
    (ORIN_NANO, "VDD_IN", 4783.0, 48.5, 46.8),
    (NO_RAILS, None, None, 50.5, 50.0),
    (TK1, None, None, None, None),
])
def test_tegrastats_every_format(line, rail, power, cpu_t, gpu_t):
    s = ts.parse_line(line)
    assert s is not None
    summary = ts.summarize([s], 0.5)
    assert summary["input_rail"] == rail
    assert summary["avg_power_mw"] == power
    assert summary["cpu_temp_c_max"] == cpu_t and summary["gpu_temp_c_max"] == gpu_t


def test_tegrastats_details_per_generation():
    assert ts.parse_line(XAVIER_SENTINEL)["invalid_sensors"] == ["CV0", "CV1"]
    assert "CV0" not in ts.parse_line(XAVIER_SENTINEL)["temps_c"]
    orin = ts.parse_line(ORIN)
    assert orin["timestamp"] == "2025-09-01T10:55:25" and orin["cpu"][-1] is None and "gpu_freq_mhz" not in orin
    assert ts.parse_line(ORIN_R39)["rails"]["VIN_SYS_5V0"] == {"now_mw": 3918.0, "avg_mw": 3952.0, "max_mw": 4019.0}
    assert ts.parse_line(ORIN_NANO)["gpu_freq_mhz"] == 305
    tk1 = ts.parse_line(TK1)
    assert tk1["cpu"][0] == {"load_pct": 0, "freq_mhz": 204} and tk1["emc_freq_mhz"] == 68 and tk1["gpu_freq_mhz"] == 72
    assert ts.summarize([ts.parse_line(XAVIER_AGX)], 1.0)["power_source"] == "sum(CPU+CV+GPU+SOC+SYS5V+VDDRQ)"
    with pytest.raises(ValueError, match="VDD_NOPE"):
        ts.summarize([ts.parse_line(TX2)], 1.0, "VDD_NOPE")
    assert ts.summarize([ts.parse_line(TX2)], 1.0, "VDD_GPU")["avg_power_mw"] == 154.0


def test_tegrastats_import_uses_timestamps_and_reports_unreadable_lines():
    got = ts.parse_for_import("tegrastats started\n" + ORIN + "\n" + ORIN_NEXT + "\n")
    assert [p[0] for p in got["power_samples"]] == [0.0, 1.0]
    assert [p[1] for p in got["power_samples"]] == [4519.0, 5519.0]
    assert got["interval_s"] == 1.0 and got["unreadable_lines"] == 1
    no_power = ts.parse_for_import(NO_RAILS)
    assert "power_samples" not in no_power and "no power rails" in no_power["note"]
    with pytest.raises(ValueError, match="no tegrastats line"):
        ts.parse_for_import("hello\nworld\n")


def test_tegrastats_temperature_rows_leave_out_pmic():
    rows = ts.run_temperatures([ts.parse_line(TX2), ts.parse_line(NO_RAILS)], 0.5)
    assert rows[1][0] == 0.5 and rows[0][1] == "run"
    assert all("PMIC" not in r[2] for r in rows) and rows[0][2]["GPU"] == 39.0


# ---- trtexec --------------------------------------------------------------------------------

def test_trtexec_recorded_tensorrt8(device_outputs):
    got = trt.parse_for_import((device_outputs / "trtexec.tensorrt8_jetson_xavier.txt").read_text())
    assert got["format"] == "tensorrt7.2+" and got["tensorrt_version"] == "8.4.0" and got["passed"] is True
    assert got["summary"]["mean_us"] == 402.238 and got["summary"]["p50_us"] == 401.947
    assert got["summary"]["p99_us"] == 420.288 and got["summary"]["min_us"] == 387.207
    assert got["gpu_compute"]["mean_us"] == 388.221 and got["throughput_qps"] == 41087.7
    assert got["walltime_s"] == 3.00119 and got["gpu_compute_total_s"] == 2.99202 and got["batch"] == 16
    # trtexec prints no inference count: the estimate is named as derived, the summary has none
    assert "count" not in got["summary"] and got["count_derived"] == round(41087.7 * 3.00119)


def test_trtexec_tensorrt7_format():
    got = trt.parse_output(TRT7)
    assert got["format"] == "tensorrt7" and got["passed"] is True
    assert got["summary"]["mean_us"] == 1660.69 and got["summary"]["p99_us"] == 1670.65
    assert got["summary"]["p50_us"] == 1656.01 and got["summary"]["max_us"] == 6291.5
    assert got["gpu_compute"]["mean_us"] == 1560.5 and got["enqueue"]["p50_us"] == 930.0
    assert got["throughput_qps"] == 602.1 and got["gpu_compute_total_s"] == 2.81


def test_trtexec_tensorrt10_percentiles_and_variance():
    got = trt.parse_output(TRT10)
    assert got["tensorrt_version"] == "10.2.0"
    s = got["summary"]
    assert (s["p90_us"], s["p95_us"], s["p99_us"]) == (10299.6, 10869.8, 12967.5)
    # the coefficient of variance is printed for GPU compute time: its std is derived there, not for latency
    assert "std_us" not in s and got["gpu_compute_cv_pct"] == 5.55763
    assert got["gpu_compute"]["std_us_derived"] == round(got["gpu_compute"]["mean_us"] * 0.0555763, 3)
    assert got["h2d"]["p50_us"] == 8.148 and got["d2h"]["max_us"] == 110.596


def test_trtexec_failure_and_garbage():
    with pytest.raises(ValueError, match="Unsupported ONNX data type"):
        trt.parse_output(TRT_FAILED)
    with pytest.raises(ValueError, match="no performance summary"):
        trt.parse_output("hello\n")
    assert trt.version_from_tag(7103) == "7.1.3" and trt.version_from_tag(8601) == "8.6.1"


def test_trtexec_export_times_json(tmp_path):
    recs = [{"startEnqMs": i, "endEnqMs": i + 0.1, "latencyMs": 0.5 + i / 100, "computeMs": 0.4} for i in range(20)]
    got = trt.parse_times(json.dumps(recs))
    assert got["latencies_us"][0] == 500.0 and len(got["latencies_us"]) == 20 and got["compute_us"][0] == 400.0
    raw = trt.parse_for_import(json.dumps(recs))
    assert raw["format"] == "exportTimes" and len(raw["latencies_us"]) == 20 and "summary" not in raw
    from harness.commands.import_logs import parse_file

    path = tmp_path / "times.json"
    path.write_text(json.dumps(recs))
    imported = parse_file("trtexec", str(path))  # the importer summarizes the samples
    assert imported["summary"]["count"] == 20
    assert imported["summary"]["min_us"] == 500.0 and imported["summary"]["max_us"] == 690.0
    with pytest.raises(ValueError):
        trt.parse_times("[]")


# ---- Jetson commands and clocks ---------------------------------------------------------------

def test_trtexec_commands_per_precision():
    assert build_engine_argv("/t", "/w/m.onnx", "/w/e.engine", "fp16") == \
        ["/t", "--onnx=/w/m.onnx", "--saveEngine=/w/e.engine", "--fp16"]
    assert build_engine_argv("/t", "/w/m.onnx", "/w/e", "int8")[-1] == "--int8"
    assert build_engine_argv("/t", "/w/m.onnx", "/w/e", "fp32") == ["/t", "--onnx=/w/m.onnx", "--saveEngine=/w/e"]
    bench = SimpleNamespace(warmup_s=0.5, min_runs=50, min_s=1.2)
    argv = bench_engine_argv("/t", "/w/e", "/w/t.json", bench)
    assert argv == ["/t", "--loadEngine=/w/e", "--warmUp=500", "--iterations=50", "--duration=2",
                    "--exportTimes=/w/t.json", "--useSpinWait"]


def test_jetson_clocks_show_and_sysfs():
    show = """SOC family:tegra210  Machine:NVIDIA Jetson Nano Developer Kit
Online CPUs: 0-3
cpu0: Online=1 Governor=schedutil MinFreq=1479000 MaxFreq=1479000 CurrentFreq=1479000 IdleStates: WFI=0 c7=0
cpu1: Online=1 Governor=schedutil MinFreq=1479000 MaxFreq=1479000 CurrentFreq=1479000 IdleStates: WFI=0 c7=0
cpu2: Online=0 Governor=schedutil MinFreq=102000 MaxFreq=1479000 CurrentFreq=102000 IdleStates: WFI=1 c7=1
GPU MinFreq=921600000 MaxFreq=921600000 CurrentFreq=921600000
EMC MinFreq=204000000 MaxFreq=1600000000 CurrentFreq=1600000000 FreqOverride=1
Fan: PWM=255
NV Power Mode: MAXN
"""
    got = parse_jetson_clocks_show(show)
    assert got["locked"] is True and got["nvpmodel"] == "MAXN" and sorted(got["cpus"]) == ["cpu0", "cpu1"]
    assert parse_jetson_clocks_show(show.replace("cpu1: Online=1 Governor=schedutil MinFreq=1479000",
                                                 "cpu1: Online=1 Governor=schedutil MinFreq=102000"))["locked"] is False
    sysfs = parse_clocks_sysfs("cpu0 102000 1479000 1479000\ncpu1 102000 1479000 921000\ngpu 76800000 921600000 76800000\n")
    assert sysfs["locked"] is False and sysfs["gpu"]["max"] == 921600000 and sysfs["source"] == "sysfs"
    assert parse_clocks_sysfs("")["locked"] is None


# ---- harness import -----------------------------------------------------------------------------

def _harness(harness_cli, *args, cwd=None):
    """`harness ARGS` as a real process forked from a warm interpreter (tests/cli_fork.py)."""
    return harness_cli(*args, text=True, cwd=cwd, timeout=120)


def test_import_cli_prints_and_stores(device_outputs, tmp_path, harness_cli):
    res = _harness(
        harness_cli, "import", "trtexec", str(device_outputs / "trtexec.tensorrt8_jetson_xavier.txt"), "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["summary"]["mean_us"] == 402.238
    db = tmp_path / "r.db"
    res = _harness(
        harness_cli, "import", "tegrastats", str(device_outputs / "tegrastats.jetson_nano.txt"), "--json", "--store",
        "--db", str(db), "--device", "nano")
    assert res.returncode == 0, res.stderr
    res = _harness(
        harness_cli, "import", "trtexec", str(device_outputs / "trtexec.tensorrt8_jetson_xavier.txt"), "--store",
        "--db", str(db), "--device", "xavier")
    assert res.returncode == 0, res.stderr
    from harness.store.db import ResultsDB

    rows = {m.device: m for m in ResultsDB(db).measurements()}
    assert rows["nano"].avg_power_mw == 1022.0 and rows["xavier"].p50_us == 401.947
    res = _harness(
        harness_cli, "import", "vcgencmd", str(device_outputs / "vcgencmd.raspberry_pi.txt"), "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["throttled_now"] == "under_voltage,throttled"
    bad = tmp_path / "bad.txt"
    bad.write_text("nothing here\n")
    res = _harness(
        harness_cli, "import", "trtexec", str(bad))
    assert res.returncode == 2 and "not a trtexec log" in res.stderr and "Traceback" not in res.stderr


# ---- issue 10 point 4: one thermal reader for boards, and sensors that are not temperatures ---------

def test_jetson_ignores_pmic_and_sentinels_so_cooldown_does_not_wait_the_cap(tmp_path):
    """Jetson sysfs as L4T shows it: PMIC-Die a constant 100 C, a CV zone at -256 C. Through the runner's
    reader (`runner.py --thermal`), over a real transport (this host as the board)."""
    import sys as _sys
    import time as _time
    from pathlib import Path

    from devices.jetson_target import JetsonTarget
    from devices.local import LocalTransport
    from devices.target import JobSpec
    from harness.planning.config import BenchSettings, JetsonDevice

    zones = tmp_path / "thermal"
    for i, (name, value) in enumerate([("CPU-therm", "41500"), ("GPU-therm", "39000"), ("PMIC-Die", "100000"),
                                       ("CV0-therm", "-256000"), ("Tboard_tegra", "38000")]):
        (zones / f"thermal_zone{i}").mkdir(parents=True)
        (zones / f"thermal_zone{i}" / "type").write_text(name + "\n")
        (zones / f"thermal_zone{i}" / "temp").write_text(value + "\n")
    cfg = JetsonDevice(name="orin", kind="jetson", host="127.0.0.1", user="u", workdir=str(tmp_path / "board"),
                       python=_sys.executable, venv=False, ignore_sensors=["Tboard"])
    target = JetsonTarget(cfg, LocalTransport())
    target.thermal_glob = str(zones / "thermal_zone*")
    target.prepare()
    assert target.temperatures() == {"CPU-therm": 41.5, "GPU-therm": 39.0}
    t0 = _time.monotonic()
    target.cool_down(BenchSettings(cooldown_s=0, cooldown_until_c=60.0, cooldown_max_s=6.0))
    assert _time.monotonic() - t0 < 3.0
    job = target.runner_job(JobSpec(model_path=Path("m.tflite"), bench=BenchSettings()), "/r/m.tflite")
    assert job["ignore_sensors"] == ["PMIC", "Tboard"] and job["thermal_glob"] == target.thermal_glob
