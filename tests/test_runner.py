"""The on-device runner, run as a subprocess on a real .tflite with the real LiteRT interpreter."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

RUNNER = Path(__file__).resolve().parent.parent / "rpi" / "runner.py"


def run_runner(job: dict, timeout: float = 120) -> tuple[int, dict]:
    res = subprocess.run([sys.executable, str(RUNNER), "--job", "-"], input=json.dumps(job),
                         capture_output=True, text=True, timeout=timeout)
    lines = [line for line in res.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, res.stdout + res.stderr
    return res.returncode, json.loads(lines[0])


@pytest.mark.parametrize("source", [RUNNER, RUNNER.with_name("litert_profile.py")], ids=lambda p: p.name)
def test_runner_imports_only_stdlib_numpy_and_litert(source):
    tree = ast.parse(source.read_text())  # the profiler is pushed next to the runner: same rule
    allowed = {"argparse", "glob", "json", "os", "platform", "sys", "time", "traceback", "__future__", "numpy",
               "ai_edge_litert", "tflite_runtime", "tensorflow", "subprocess", "ctypes", "statistics", "signal", "resource"}
    # Annotations for mypy sit under `if TYPE_CHECKING:` with the module's own `TYPE_CHECKING = False` (never
    # typing's): those imports never run on a board, so they are the only ones left out of the rule.
    checked = [n for n in tree.body if isinstance(n, ast.If) and isinstance(n.test, ast.Name)
               and n.test.id == "TYPE_CHECKING"]
    if checked:
        assert any(isinstance(n, ast.Assign) and [getattr(t, "id", None) for t in n.targets] == ["TYPE_CHECKING"]
                   and isinstance(n.value, ast.Constant) and n.value.value is False for n in tree.body)
    skipped = {id(node) for block in checked for stmt in block.body for node in ast.walk(stmt)}
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [(node.module or "").split(".")[0]]
        else:
            continue
        assert set(names) <= allowed, names


def test_runner_meets_min_runs_and_min_seconds(tiny_tflite):
    code, out = run_runner({"model_path": str(tiny_tflite), "threads": 1, "min_runs": 30, "min_s": 0.3,
                            "warmup_s": 0.05, "sample_interval_s": 0.05})
    assert code == 0 and out["error"] is None
    assert len(out["latencies_us"]) >= 30 and out["duration_s"] >= 0.3
    assert all(x > 0 for x in out["latencies_us"])
    assert out["runtime"] in ("ai-edge-litert", "tflite-runtime", "tensorflow.lite")
    assert out["init_us"] > 0 and out["first_inference_us"] > 0
    assert out["peak_rss_mb"] > 0 and out["peak_rss_delta_mb"] is not None and out["peak_rss_delta_mb"] >= 0
    assert out["inputs"][0]["shape"] == [1, 32, 32, 3]


def test_runner_caps_at_max_seconds(tiny_tflite):
    code, out = run_runner({"model_path": str(tiny_tflite), "min_runs": 10**9, "min_s": 0.0, "max_s": 0.2,
                            "warmup_s": 0.0})
    assert code == 0
    assert 0.2 <= out["duration_s"] < 1.0 and len(out["latencies_us"]) < 10**9


def test_delegate_coverage_reported(tiny_tflite):
    _, with_xnn = run_runner({"model_path": str(tiny_tflite), "min_runs": 3, "min_s": 0, "warmup_s": 0})
    _, without = run_runner({"model_path": str(tiny_tflite), "min_runs": 3, "min_s": 0, "warmup_s": 0,
                             "delegate": "none"})
    assert with_xnn["ops_total"] == without["ops_total"] == 3
    assert with_xnn["ops_delegated"] == 3 and with_xnn["ops_on_cpu_kernels"] == []
    assert without["ops_delegated"] == 0


def test_corrupt_model_is_an_error_result(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\x00" * 64)
    code, out = run_runner({"model_path": str(bad)})
    assert code == 3 and out["error"] and "latencies_us" not in out


def test_missing_model_path_is_an_error_result():
    code, out = run_runner({"threads": 1})
    assert code == 3 and "model_path" in out["error"]


def test_facts():
    res = subprocess.run([sys.executable, str(RUNNER), "--facts"], capture_output=True, text=True, timeout=120)
    facts = json.loads(res.stdout.strip().splitlines()[-1])
    assert facts["cores"] >= 1 and facts["memory_mb"] > 0 and facts["runtime_version"]


def test_delegated_ops_walks_partitions():
    from rpi.runner import delegated_ops

    # tensors: 0 -> A -> 1 -> B -> 2 -> C -> 3; a delegate took A and B (inputs [0], outputs [2]); C stays.
    ops = [
        {"index": 0, "op_name": "CONV_2D", "inputs": [0, 10], "outputs": [1]},
        {"index": 1, "op_name": "RELU", "inputs": [1], "outputs": [2]},
        {"index": 2, "op_name": "CUSTOM_X", "inputs": [2], "outputs": [3]},
        {"index": 3, "op_name": "DELEGATE", "inputs": [0, 10], "outputs": [2]},
    ]
    assert delegated_ops(ops) == (2, 3, ["CUSTOM_X"])


@pytest.mark.parametrize("raw, expected", [("45000", 45.0), ("-256000", None), ("38", 38.0)])
def test_thermal_zone_units(tmp_path, raw, expected):
    from rpi.runner import read_thermal_zones

    zone = tmp_path / "thermal_zone0"
    zone.mkdir()
    (zone / "temp").write_text(raw + "\n")
    (zone / "type").write_text("cpu-thermal\n")
    got = read_thermal_zones(str(tmp_path / "thermal_zone*"))
    assert got == ({} if expected is None else {"cpu-thermal": expected})


def test_runner_and_database_share_one_schema_version():
    from harness.store.results import SCHEMA_VERSION as db_version
    from rpi.runner import SCHEMA_VERSION as runner_version

    assert runner_version == db_version


# ---- issue 10: the delegate that ran, one thermal reader, clocks sampled ---------------------------

FAST_JOB = {"min_runs": 3, "min_s": 0, "warmup_s": 0}


def test_gpu_without_a_delegate_library_is_an_error_not_a_cpu_run(tiny_tflite):
    code, out = run_runner({"model_path": str(tiny_tflite), "delegate": "gpu", **FAST_JOB})
    assert code == 3 and "delegate gpu needs delegate_library" in out["error"]
    assert "latencies_us" not in out


def test_a_delegate_library_that_does_not_load_is_an_error_naming_it(tiny_tflite, tmp_path):
    lib = tmp_path / "libnot_a_delegate.so"
    lib.write_bytes(b"\x7fELF not really")
    code, out = run_runner({"model_path": str(tiny_tflite), "delegate": "gpu", "delegate_library": str(lib),
                            **FAST_JOB})
    assert code == 3 and f"delegate_library {lib}: could not load" in out["error"]


def test_the_row_names_the_delegate_that_ran(tiny_tflite):
    _, xnn = run_runner({"model_path": str(tiny_tflite), **FAST_JOB})
    assert xnn["delegate_requested"] == "xnnpack" and xnn["delegate"] == "xnnpack" and xnn["ops_delegated"] > 0
    _, ref = run_runner({"model_path": str(tiny_tflite), "delegate": "none", **FAST_JOB})
    assert ref["delegate_requested"] == ref["delegate"] == "none"


def _zone(root: Path, i: int, name: str, millideg: int) -> None:
    z = root / f"thermal_zone{i}"
    z.mkdir(parents=True)
    (z / "type").write_text(name + "\n")
    (z / "temp").write_text(f"{millideg}\n")


def test_one_thermal_reader_with_collisions_sentinels_and_ignored_sensors(tmp_path):
    """A Jetson-like tree: PMIC-Die reads a constant 100 C, one zone -256 C, two zones share a name."""
    sys.path.insert(0, str(RUNNER.parent))
    from runner import read_thermal_zones

    for i, (name, value) in enumerate([("CPU-therm", 41500), ("GPU-therm", 39000), ("PMIC-Die", 100000),
                                       ("CV0-therm", -256000), ("CPU-therm", 42000)]):
        _zone(tmp_path, i, name, value)
    pattern = str(tmp_path / "thermal_zone*")
    assert read_thermal_zones(pattern, ("PMIC",)) == {"CPU-therm": 41.5, "GPU-therm": 39.0,
                                                      "CPU-therm:thermal_zone4": 42.0}
    res = subprocess.run([sys.executable, str(RUNNER), "--thermal", "--thermal-glob", pattern,
                          "--ignore-sensor", "pmic"], capture_output=True, text=True, timeout=60)
    assert json.loads(res.stdout) == read_thermal_zones(pattern, ("PMIC",))


def test_cpu_clocks_are_sampled_before_and_during_the_run(tiny_tflite, tmp_path):
    for cpu in ("cpu0", "cpu1"):
        d = tmp_path / cpu / "cpufreq"
        d.mkdir(parents=True)
        (d / "scaling_cur_freq").write_text("1500000\n")
        (d / "scaling_max_freq").write_text("1800000\n")
    code, out = run_runner({"model_path": str(tiny_tflite), "min_runs": 5, "min_s": 0.3, "warmup_s": 0,
                            "sample_interval_s": 0.05, "cpufreq_glob": str(tmp_path / "cpu[0-9]*" / "cpufreq")})
    assert code == 0, out
    phases = [row[1] for row in out["cpu_freq"]]
    assert phases[0] == "before" and phases.count("run") >= 2 and phases[-1] == "after"
    assert out["cpu_freq"][0][2] == {"cpu0": {"cur": 1500, "max": 1800}, "cpu1": {"cur": 1500, "max": 1800}}
    assert out["end_rss_mb"] > 0
