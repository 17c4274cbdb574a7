"""Per-op profiles on this host from the LiteRT C API profiler (rpi/litert_profile.py), real LiteRT throughout:
a TensorFlow-built model with one small and one big convolution, the runner's profile pass, its failures
(one line, latencies kept), and `harness run` + `harness report` on the local target end to end."""
from __future__ import annotations

import html
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from converters import analysis
from rpi import litert_profile as lp
from rpi.runner import run_job

REPO = Path(__file__).resolve().parents[1]
FAST = {"min_runs": 5, "min_s": 0.05, "warmup_s": 0.0, "warmup_runs": 1}

pytest.importorskip("ai_edge_litert", reason="pip install ai-edge-litert (the LiteRT wheel with libLiteRt.so)")


@pytest.fixture(scope="module")
def profiler_lib() -> str:
    """libLiteRt.so of the installed wheel; without it (ai-edge-litert older than 2.3) these tests skip."""
    try:
        return lp.library_path()
    except lp.ProfilerUnavailable as exc:
        pytest.skip(f"{exc} -- pip install 'ai-edge-litert>=2.3'")


@pytest.fixture(scope="module")
def two_conv(tmp_path_factory) -> Path:
    """A 1x1 conv to 4 channels, then a 5x5 conv to 64 channels: the second has ~160x the MACs."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(2)
    m = tf.keras.Sequential([
        tf.keras.Input((48, 48, 8)),
        tf.keras.layers.Conv2D(4, 1, padding="same", name="small"),
        tf.keras.layers.Conv2D(64, 5, padding="same", name="big"),
    ])
    path = tmp_path_factory.mktemp("models") / "two_conv.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(m).convert())
    return path


def _ops(path: Path) -> list[str]:
    from ai_edge_litert.interpreter import Interpreter

    return [o["op_name"] for o in sorted(Interpreter(model_path=str(path))._get_ops_details(), key=lambda o: o["index"])]


def test_profile_ranks_the_big_conv_first_and_counts_the_models_ops(profiler_lib, two_conv):
    ops = _ops(two_conv)
    prof = lp.profile(str(two_conv), threads=1, runs=10, tflite_ops=ops)
    assert prof["method"] == lp.METHOD and prof["runs"] == 10
    # Both convolutions are there, as CONV_2D, once each: the model's own op list.
    model_ops = analysis.analyze(two_conv.read_bytes())["ops"]
    by_type = {r["node_type"]: r for r in prof["by_node_type"]}
    assert by_type["CONV_2D"]["count"] == model_ops["CONV_2D"] == 2
    mapped = [r for r in prof["run_order"] if r.get("tflite_node") is not None]
    assert sorted(r["tflite_node"] for r in mapped) == [i for i, n in enumerate(ops) if n == "CONV_2D"]
    # The big conv (node 1) is the slowest op by far; every op was timed in every profiled run.
    top = max(prof["run_order"], key=lambda r: r["median_ms"])
    assert top["tflite_node"] == 1 and top["pct"] > 80.0
    assert all(r["times_called"] == 10 for r in prof["run_order"])
    # The ops sit inside the invoke they are timed in, so their sum is never above it. How far below depends on
    # the load (0.94 on a quiet host; 0.065 once under a loaded CI run: the invoke of this 0.3 ms model waited
    # on the scheduler), so no lower bound here.
    assert 0.0 < prof["sum_of_ops_over_invoke"] <= 1.02


def test_profile_runs_at_the_shapes_the_timed_runs_used(profiler_lib, tmp_path):
    import tensorflow as tf

    tf.keras.utils.set_random_seed(3)
    inp = tf.keras.Input((None, None, 1))  # an SR-style model: height and width come with the job
    model = tf.keras.Model(inp, tf.keras.layers.Conv2D(8, 3, padding="same")(inp))
    path = tmp_path / "dynamic.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    from ai_edge_litert.interpreter import Interpreter

    name = Interpreter(model_path=str(path)).get_input_details()[0]["name"]
    res = run_job({"model_path": str(path), "op_profiling": True, "op_profile_runs": 3,
                   "input_shapes": {name: [1, 40, 24, 1]}, **FAST})
    assert res["inputs"][0]["shape"] == [1, 40, 24, 1]
    assert res["op_profile"]["input_shapes"] == [[1, 40, 24, 1]]


def test_mac_op_list_is_the_analysers():
    assert lp.MAC_OPS == analysis.MAC_OPS


def test_kernels_keep_their_names_when_they_cannot_be_matched_to_nodes():
    # One run: the delegate's umbrella TFLite node (type 2) around two XNNPACK operators (type 8), then
    # a TFLite op the delegate did not take. Only one MAC node is named for two MAC kernels.
    run = [("LiteRT::Run[buffer registration]", 1, 5, 0), ("Invoke", 1, 100, 0),
           ("TfLiteXNNPackDelegate", 2, 90, 3),
           ("Convolution (NHWC, F32) IGEMM", 8, 60, 0), ("Fully Connected (NC, F32) GEMM", 8, 20, 1),
           ("SOFTMAX", 2, 10, 2)]
    out = lp.summarize([run, run], tflite_ops=["CONV_2D", "RESHAPE", "SOFTMAX"])
    kinds = [r["node_type"] for r in out["by_node_type"]]
    assert kinds == ["Convolution (NHWC, F32) IGEMM", "Fully Connected (NC, F32) GEMM", "SOFTMAX"]
    assert "2 XNNPACK MAC kernels for 1 delegated MAC nodes" in out["op_type_mapping"]
    assert out["sum_of_ops_ms"] == pytest.approx(0.09) and out["invoke_p50_ms"] == pytest.approx(0.1)
    # With the node list that fits, both kernels are named after their nodes; the CPU op stays apart.
    named = lp.summarize([run], tflite_ops=["CONV_2D", "FULLY_CONNECTED", "SOFTMAX"])
    assert [r["op_type"] for r in named["run_order"]] == ["CONV_2D", "FULLY_CONNECTED", "SOFTMAX"]


def _profile_child(model: Path, env_path: str | None, **job) -> dict:
    env = None
    if env_path is not None:
        env = {"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"}
    res = subprocess.run([sys.executable, str(REPO / "rpi" / "litert_profile.py"), "--job", "-"],
                         input=json.dumps({"model_path": str(model), **job}), capture_output=True, text=True,
                         timeout=120, env=env)
    assert res.returncode == 0, res.stderr[-500:]
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1
    return json.loads(lines[0])


def test_no_library_or_no_cpu_path_is_one_line_and_no_numbers(two_conv, tmp_path):
    # A LiteRT wheel without libLiteRt.so (an older ai-edge-litert) shadows the real one.
    fake = tmp_path / "site" / "ai_edge_litert"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("__version__ = '1.2.0'\n")
    out = _profile_child(two_conv, str(tmp_path / "site"))
    assert set(out) == {"op_profile_error"}
    assert out["op_profile_error"] == ("no per-op profile: ai-edge-litert 1.2.0 ships no libLiteRt.so "
                                       "(the C API profiler needs ai-edge-litert>=2.3)")
    # The reference kernels (delegate none) are not what the C API's CPU accelerator runs.
    out = _profile_child(two_conv, None, delegate="none")
    assert set(out) == {"op_profile_error"} and "not delegate none" in out["op_profile_error"]
    out = _profile_child(tmp_path / "missing.tflite", None)
    assert set(out) == {"op_profile_error"} and "\n" not in out["op_profile_error"]


def test_runner_profile_pass_and_its_failures_keep_the_latencies(profiler_lib, two_conv, tmp_path):
    res = run_job({"model_path": str(two_conv), "op_profiling": True, "op_profile_runs": 5, **FAST})
    assert len(res["latencies_us"]) >= 5 and "op_profile_error" not in res
    prof = res["op_profile"]
    assert prof["runs"] == 5 and prof["by_node_type"][0]["node_type"] == "CONV_2D"
    # Without op_profiling there is no pass at all.
    assert "op_profile" not in run_job({"model_path": str(two_conv), **FAST})
    # The runner alone on a board (profiler not pushed) and a profiler that crashes: one line each,
    # and every latency sample is still in the result.
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(REPO / "rpi" / "runner.py", alone / "runner.py")
    crash = tmp_path / "crash"
    crash.mkdir()
    shutil.copy(REPO / "rpi" / "runner.py", crash / "runner.py")
    (crash / "litert_profile.py").write_text("import os\nos.abort()\n")
    job = json.dumps({"model_path": str(two_conv), "op_profiling": True, **FAST})
    for folder, why in ((alone, "litert_profile.py is not next to runner.py"),
                        (crash, "the profile pass exited -6 without a result")):
        out = subprocess.run([sys.executable, str(folder / "runner.py"), "--job", "-"], input=job,
                             capture_output=True, text=True, timeout=120)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert out.returncode == 0 and result["error"] is None
        assert len(result["latencies_us"]) >= 5 and "op_profile" not in result
        assert result["op_profile_error"].startswith("no per-op profile: " + why)


def test_harness_run_and_report_on_the_local_target(profiler_lib, two_conv, tmp_path, isolated_cache, harness_cli):
    devices = tmp_path / "devices.yaml"
    devices.write_text("devices:\n  - {name: here, kind: local, op_profiling: true}\n"
                       "  - {name: plain, kind: local}\n")
    db = tmp_path / "r.db"
    run = subprocess.run([sys.executable, "-m", "harness", "run", "--devices", str(devices), "--db", str(db),
                          "--models", str(two_conv), "--variants", "fp32", "--runs", "5", "--min-seconds", "0.05",
                          "--warmup-seconds", "0", "--cooldown", "0", "--no-peak-probe", "--no-progress"],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-1500:]
    md = harness_cli("report", "--db", str(db), "--format", "md", text=True, timeout=120, cwd=tmp_path)
    assert md.returncode == 0, md.stderr[-800:]
    section = md.stdout.split("**Where the time goes: here two_conv.tflite/fp32**")
    assert len(section) == 2, md.stdout[-1500:]  # the profiled device only
    assert "**Where the time goes: plain" not in md.stdout
    body = section[1]
    assert "method: LiteRT C API profiler" in body and "| op | median ms | share | MACs |" in body
    macs = analysis.analyze(two_conv.read_bytes())["macs_by_op"]["CONV_2D"]
    first = next(ln for ln in body.splitlines() if ln.startswith("| CONV_2D"))
    cells = [c.strip() for c in first.strip("|").split("|")]
    assert cells[3] == f"{macs / 1e6:.1f} M" and float(cells[2].rstrip("%")) > 90.0
    # The slowest single op is the big conv (node 1), with the MACs the .tflite gives that node.
    singles = md.stdout.split("Slowest single ops:")[1]
    per_node = analysis.macs_by_node(two_conv.read_bytes())
    assert sum(per_node.values()) == macs and per_node[1] > 100 * per_node[0]
    top = next(ln for ln in singles.splitlines() if ln.startswith("| CONV_2D"))
    assert top.startswith("| CONV_2D #1 ") and f"| {per_node[1] / 1e6:.1f} M |" in top
    page_run = harness_cli("report", "--db", str(db), "--out", str(tmp_path / "r.html"), text=True, timeout=120,
                           cwd=tmp_path)
    assert page_run.returncode == 0
    page = (tmp_path / "r.html").read_text()
    assert 'id="op-profile"' in page and "CONV_2D (" in page and "IGEMM" in page


def test_a_pi_with_the_litert_runner_gets_the_profiler_pushed_and_a_profile(profiler_lib, sshd_board, two_conv):
    """Over a real sshd: the profiler goes next to the runner on the board only when op_profiling is on."""
    from types import SimpleNamespace

    from devices.rpi_target import RaspberryPiTarget
    from devices.target import JobSpec
    from harness.orchestration.measure import to_measurement
    from harness.planning.config import BenchSettings

    bench = BenchSettings(warmup_s=0.0, warmup_runs=1, min_runs=5, min_s=0.05, cooldown_s=0.0)
    for name, profiling in (("pi-plain", False), ("pi-prof", True)):
        cfg = sshd_board.config_for(name, "raspberry_pi", op_profiling=profiling)
        target = RaspberryPiTarget(cfg)
        try:
            target.prepare()
            raw = target.benchmark(JobSpec(model_path=two_conv, bench=bench))
        finally:
            target.close()
        pushed = Path(cfg.workdir) / "litert_profile.py"
        assert pushed.exists() is profiling
        art = SimpleNamespace(model="two_conv", variant="fp32", metrics={}, path=two_conv)
        m = to_measurement("run", name, art, bench, raw, 0.0)
        assert m.status == "ok" and len(m.latencies_us) >= 5
        if profiling:
            assert pushed.read_bytes() == (REPO / "rpi" / "litert_profile.py").read_bytes()
            prof = m.extra["op_profile"]
            assert prof["method"] == lp.METHOD and prof["by_node_type"][0]["node_type"] == "CONV_2D"
            big = max(prof["run_order"], key=lambda r: r["median_ms"])
            assert big["macs"] == analysis.macs_by_node(two_conv.read_bytes())[1]
        else:
            assert "op_profile" not in m.extra and "op_profile_error" not in m.extra


def test_report_names_the_method_and_says_why_a_row_has_no_profile():
    from devices.probes import benchmark_model as bm
    from harness.reporting.report import render_html, render_markdown
    from harness.store.results import Measurement, RunInfo
    from tests.test_adb_benchmark_model import OP_TABLE

    run = [("Invoke", 1, 1000, 0), ("Convolution (NHWC, F32) IGEMM", 8, 700, 0),
           ("Fully Connected (NC, F32) GEMM", 8, 200, 1), ("Max Pooling (NHWC, F32)", 8, 50, 2)]
    host = {**lp.summarize([run] * 3, ["CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D"], ["conv", "fc", "pool"]),
            "method": lp.METHOD}
    why = "no per-op profile: ai-edge-litert 1.2.0 ships no libLiteRt.so (the C API profiler needs ai-edge-litert>=2.3)"
    common = {"run_id": "r", "model": "m", "variant": "fp32", "status": "ok", "p50_us": 1000.0,
              "latencies_us": (1000.0,), "metrics": {"macs_by_op": {"CONV_2D": 7_000_000, "FULLY_CONNECTED": 1_000}}}
    rows = [Measurement(device="host", extra={"op_profile": host}, **common),
            Measurement(device="old", extra={"op_profile_error": why}, **common),
            Measurement(device="phone", extra={"op_profile": bm.parse(OP_TABLE)["op_profile"]}, **common)]
    info = RunInfo(run_id="r", created_at=0.0, host="h", git_revision=None, packages={}, plan={})
    md = render_markdown(info, rows)
    host_md = md.split("**Where the time goes: host m/fp32**")[1].split("**Where the time goes")[0]
    assert "method: " + lp.METHOD in host_md and "| op | median ms | share | MACs |" in host_md
    assert "| CONV_2D (Convolution (NHWC, F32) IGEMM) | 0.700 | 73.7% | 7.0 M |" in host_md
    assert "| CONV_2D #0 conv | Convolution (NHWC, F32) IGEMM | 0.700 | 73.7% | - |" in host_md  # no MACs given
    assert "sum of ops / invoke p50 = 0.95" in host_md and "sum of ops / timed p50 = 0.95" in host_md
    old_md = md.split("**Where the time goes: old m/fp32**")[1].split("**Where the time goes")[0]
    assert old_md.strip() == why
    phone_md = md.split("**Where the time goes: phone m/fp32**")[1]
    assert "| op | avg ms | share | MACs |" in phone_md and "Slowest single ops" not in phone_md
    page = render_html(info, rows)
    assert html.escape(why) in page and "Slowest single ops" in page and "median ms" in page


def test_a_recorded_detector_profile_keeps_both_levels_apart_and_names_every_mac_kernel():
    """Real events (tests/fixtures/litert_profiler): XNNPACK operators and TFLite nodes left on the CPU."""
    rec = json.loads((REPO / "tests" / "fixtures" / "litert_profiler" / "faster_rcnn_fp32.events.json").read_text())
    ops, runs = rec["tflite_ops"], [[tuple(e) for e in run] for run in rec["runs"]]
    out = lp.summarize(runs, ops)
    op_events = [e for e in runs[0] if e[1] in (2, 4, 8)]
    assert out["nodes_executed"] == len(op_events) and out["runs"] == 2
    assert out["op_type_mapping"].startswith("k-th XNNPACK MAC kernel")
    # Every MAC op of the model is one row named after it, in node order; the CPU ops are their own nodes.
    by_type = {r["node_type"]: r["count"] for r in out["by_node_type"]}
    for name in lp.MAC_OPS:
        assert by_type.get(name, 0) == ops.count(name)
    mac_rows = [r for r in out["run_order"] if r["level"] == "xnnpack" and r["op_type"] in lp.MAC_OPS]
    assert [ops[r["tflite_node"]] for r in mac_rows] == [r["op_type"] for r in mac_rows]
    assert [r["tflite_node"] for r in mac_rows] == sorted(r["tflite_node"] for r in mac_rows)
    cpu_rows = [r for r in out["run_order"] if r["level"] == "tflite"]
    assert cpu_rows and all(ops[r["tflite_node"]] == r["node_type"] for r in cpu_rows)
    # The ops sit inside the invoke they were timed in.
    assert 0.5 < out["sum_of_ops_over_invoke"] <= 1.0
