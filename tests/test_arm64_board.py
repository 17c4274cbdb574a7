"""A real arm64 board in the test run: Debian arm64 under qemu-system-aarch64 (TCG) as a raspberry_pi target.

An arm64 kernel and userspace, the aarch64 ai-edge-litert wheel, `harness devices setup` from nothing (no
venv, no LiteRT, no route to a package index), `harness run` of SRCNN and SqueezeNet in fp32 and int8, the
same outputs as on this host, and the board dying mid-run. The image is built from Debian packages by
tests/arm64_image.py (cached in ~/.cache/harness/arm64-board); tests/arm64_vm.py boots it. What this does
not verify: a Pi's thermals, clocks, throttling or timings (TCG's are not a board's; the rows say
`emulated`). Boot, setup and run times land in ~/.cache/harness/arm64-board/last-timings.json.
"""
from __future__ import annotations

import base64
import io
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from harness.store.db import ResultsDB
from tests.arm64_image import build, cache_root, find_image
from tests.arm64_vm import LITERT, Arm64Vm, arm64_wheels, needs_arm64_tools
from tests.fixtures_converters import share_weights

MODELS = "srcnn@size=24,squeezenet@size=48@classes=6"
# TCG runs a model tens of times slower than the board would: few runs, short windows.
BENCH = {"warmup_s": 0.0, "warmup_runs": 1, "min_runs": 5, "min_s": 0.5, "cooldown_s": 0.0, "threads": 2,
         "timeout_s": 240}
TIMINGS: dict[str, Any] = {}
INT8_STEPS = 1

# Run on the board (venv python) and on this host alike: each model's outputs for the inputs given, all the jobs
# in one process (each Python start with numpy and LiteRT is ~5 s of emulated CPU on the board).
OUTPUTS_SCRIPT = """
import base64, io, json, sys
import numpy as np
from ai_edge_litert.interpreter import Interpreter
answers = []
for job in json.load(sys.stdin):
    it = Interpreter(model_path=job["model"], num_threads=1)
    it.allocate_tensors()
    for d, b in zip(it.get_input_details(), job["inputs"]):
        it.set_tensor(d["index"], np.load(io.BytesIO(base64.b64decode(b))))
    it.invoke()
    outs = []
    for d in it.get_output_details():
        buf = io.BytesIO()
        np.save(buf, it.get_tensor(d["index"]))
        q = d.get("quantization") or (0.0, 0)
        outs.append({"npy": base64.b64encode(buf.getvalue()).decode(), "scale": float(q[0]), "zero": int(q[1])})
    answers.append(outs)
print(json.dumps(answers))
"""


def _harness(*args: str, cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HARNESS_RECIPE": "quick"}
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, env=env)


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    needs_arm64_tools()
    t0 = time.monotonic()
    cached = find_image() is not None
    image = build()
    TIMINGS["image"] = "cached" if cached else f"built in {time.monotonic() - t0:.0f} s"
    TIMINGS["image_manifest"] = {k: image.manifest[k] for k in ("kernel", "rootfs_mb", "build_s")}
    wheels = arm64_wheels()
    vm = Arm64Vm(image, tmp_path_factory.mktemp("arm64-board"))
    vm.start()
    TIMINGS["boot_s"] = round(vm.boot_s or 0.0, 1)
    vm.wheels = wheels
    yield vm
    vm.kill()
    TIMINGS["load_after"] = os.getloadavg()
    (cache_root() / "last-timings.json").write_text(json.dumps(TIMINGS, indent=1, default=str))
    print(f"\narm64 board timings: {json.dumps(TIMINGS, default=str)}", file=sys.__stderr__)


@pytest.fixture(scope="module")
def variants_cache(tmp_path_factory, run_weights) -> Path:
    """One conversion cache for the module's runs: the kill test re-measures the variants already built. The
    two tiny zoo models' quick-recipe weights are the test run's (tests/fixtures_converters.py): trained once."""
    return share_weights(tmp_path_factory.mktemp("arm64-variants"), run_weights)


@pytest.fixture(scope="module")
def devfile(board, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("arm64-yaml") / "devices.yaml"
    path.write_text(yaml.safe_dump({"defaults": BENCH, "devices": [board.device("qpi", wheels=str(board.wheels))]}))
    return path


def test_a_host_without_the_tools_is_skipped_naming_the_debian_package(monkeypatch):
    import shutil

    import tests.arm64_image as image

    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(pytest.skip.Exception, match=r"needs qemu-system-arm \(apt-get install qemu-system-arm\)"):
        needs_arm64_tools()
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "mmdebstrap" else f"/usr/bin/{name}")
    monkeypatch.setattr(image, "find_image", lambda cache=None: None)
    with pytest.raises(pytest.skip.Exception, match=r"needs mmdebstrap \(apt-get install mmdebstrap\) to build"):
        needs_arm64_tools()


def test_devices_reads_the_arm64_kernel(board, devfile, tmp_path):
    res = _harness("devices", "--json", "--devices", str(devfile), cwd=tmp_path)
    row = json.loads(res.stdout)[0]
    assert row["status"] == "not set up", row  # Debian's python3 and numpy, no LiteRT yet
    assert row["machine"] == "aarch64" and row["os"].startswith("Linux 6.") and row["os"].endswith("-arm64")
    assert row["cores"] == 2 and 800 <= row["memory_mb"] <= 1024
    assert row["board"] == "linux,dummy-virt" and row["emulated"].startswith("qemu-system-aarch64")
    # what the virt machine lacks is empty, with the reason beside it; nothing is filled in
    assert row["thermal_zones"] == {} and "no thermal zone" in row["missing"]["thermal_zones"]
    assert row["cpu_freq_mhz"] == {} and "no cpufreq driver" in row["missing"]["cpu_freq_mhz"]
    assert "unavailable" in row["vcgencmd"] and row["power_sensor"] is None
    assert row["runtime"] is None and row["numpy"].startswith("1.")  # python3-numpy from bookworm
    # the image carries the .pyc files py3compile writes on a real board, and Python took them: the facts run
    # imported numpy without writing its .pyc again (it is older than this boot)
    pyc = "/usr/lib/python3/dist-packages/numpy/__pycache__/__init__.cpython-311.pyc"
    made, btime = _on_board(board, f"stat -c %Y {pyc}; grep ^btime /proc/stat").split()[::2]
    assert int(made) < int(btime), (made, btime)


def test_setup_from_nothing_with_the_hosts_wheels(board, devfile, tmp_path):
    t0 = time.monotonic()
    res = _harness("devices", "setup", "--json", "--devices", str(devfile), cwd=tmp_path)
    TIMINGS["setup_s"] = round(time.monotonic() - t0, 1)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    row = json.loads(res.stdout)[0]
    steps = row["setup"]
    assert row["status"] == "ok" and row["machine"] == "aarch64"
    assert row["runtime"] == "ai-edge-litert" and row["runtime_version"] == LITERT.split("==")[1]
    assert steps[0].startswith("python 3.11") and steps[0].endswith("(aarch64)")
    # Debian's python3-venv ships pip as a wheel: the venv has no pip of its own, pip ran from that wheel
    assert any(s.startswith("venv created at /root/harness/venv without pip (pip runs from "
                            "/usr/share/python-wheels/pip-") for s in steps), steps
    assert any("wheel(s) copied from" in s for s in steps) and any("ai-edge-litert" in s for s in steps), steps
    assert row["python_path"] == "/root/harness/venv/bin/python"
    # pip compiled nothing (--no-compile); what the facts run imported was compiled at its import
    site = "/root/harness/venv/lib/python3.11/site-packages"
    counts = _on_board(board, f"ls {site}/numpy/__pycache__ | wc -l; ls {site}/numpy/_core/tests/__pycache__ "
                              f"2>/dev/null | wc -l; ls {site}/numpy/_core/tests/*.py | wc -l").split()
    assert int(counts[0]) > 0 and int(counts[1]) == 0 and int(counts[2]) > 10, counts
    assert _on_board(board, f"ls -d {site}/pip {site}/setuptools 2>/dev/null | wc -l").split() == ["0"]


def _on_board(board, command: str) -> str:
    """stdout of a shell command on the board, over ssh with its pinned host key."""
    res = subprocess.run(_ssh(board) + [command], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-1500:]
    return res.stdout


def _ssh(board) -> list[str]:
    return ["ssh", "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={board.known_hosts}", "-o",
            "StrictHostKeyChecking=yes", "-i", str(board.client_key), "-p", str(board.port), "root@127.0.0.1"]


def _outputs(argv: list[str], jobs: list[tuple[str, list[str]]]) -> list[tuple[list[np.ndarray], list[float]]]:
    """Per (model, inputs) job, its outputs (dequantized) and their scales, from one run of OUTPUTS_SCRIPT."""
    res = subprocess.run(argv, input=json.dumps([{"model": m, "inputs": i} for m, i in jobs]), capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-1500:]
    answers = json.loads(res.stdout.strip().splitlines()[-1])
    assert len(answers) == len(jobs), answers
    out = []
    for answer in answers:
        arrays, scales = [], []
        for o in answer:
            arr = np.load(io.BytesIO(base64.b64decode(o["npy"])))
            arrays.append((arr.astype(np.float64) - o["zero"]) * o["scale"] if o["scale"] else arr.astype(np.float64))
            scales.append(o["scale"])
        out.append((arrays, scales))
    return out


def _inputs(model: Path) -> list[str]:
    """Seeded inputs for the model's input tensors, as .npy bytes (the same bytes go to both sides)."""
    from ai_edge_litert.interpreter import Interpreter

    rng = np.random.default_rng(0)
    out = []
    for d in Interpreter(model_path=str(model)).get_input_details():
        shape, dtype = tuple(int(x) for x in d["shape"]), np.dtype(d["dtype"])
        arr = (rng.random(shape).astype(dtype) if dtype.kind == "f" else
               rng.integers(np.iinfo(dtype).min, np.iinfo(dtype).max + 1, size=shape).astype(dtype))
        buf = io.BytesIO()
        np.save(buf, arr)
        out.append(base64.b64encode(buf.getvalue()).decode())
    return out


def test_run_srcnn_and_squeezenet_in_fp32_and_int8(board, devfile, variants_cache, tmp_path):
    db = tmp_path / "results.db"
    cache = variants_cache
    t0 = time.monotonic()
    res = _harness("run", "--devices", str(devfile), "--models", MODELS, "--variants", "fp32,int8",
                   "--db", str(db), "--cache-dir", str(cache), "--no-progress", "--no-peak-probe", cwd=tmp_path)
    TIMINGS["run_wall_s"] = round(time.monotonic() - t0, 1)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    rows = ResultsDB(db).measurements()
    assert sorted((m.model.split("@")[0], m.variant) for m in rows) == [
        ("squeezenet", "fp32"), ("squeezenet", "int8"), ("srcnn", "fp32"), ("srcnn", "int8")]
    ssh = _ssh(board) + [f"/root/harness/venv/bin/python -c {shlex.quote(OUTPUTS_SCRIPT)}"]
    diffs = {}
    for m in rows:
        assert m.status == "ok", m.error
        assert m.extra["machine"] == "aarch64" and m.extra["emulated"].startswith("qemu-system-aarch64")
        assert any(n.startswith("emulated (qemu-system-aarch64") for n in m.validity.notes)
        assert m.runtime == "ai-edge-litert" and m.runtime_version == "2.3.0" and len(m.latencies_us) >= 5
        assert m.temp_max_c is None and not m.power_samples  # the virt machine has neither; none invented
    inputs = [_inputs(Path(m.extra["artifact_path"])) for m in rows]
    boards = _outputs(ssh, [(m.extra["remote_model_path"], i) for m, i in zip(rows, inputs)])
    hosts = _outputs([sys.executable, "-c", OUTPUTS_SCRIPT], [(m.extra["artifact_path"], i) for m, i in zip(rows, inputs)])
    for m, (on_board, scales), (on_host, _) in zip(rows, boards, hosts):
        assert [a.shape for a in on_board] == [b.shape for b in on_host]
        worst = max(float(np.max(np.abs(a - b))) for a, b in zip(on_board, on_host))
        span = max(float(np.max(np.abs(b))) for b in on_host) or 1.0
        key = f"{m.model.split('@')[0]}:{m.variant}"
        step = max(scales) or span / 127.0  # a float output of an int8 model: one int8 step of its range
        diffs[key] = {"max_abs_diff": worst, "output_max_abs": span}
        # XNNPACK's ARM kernels against its x86 ones: float rounding only in fp32 (6e-7 of 0.73 seen); in
        # int8, one step of the output's quantization at most (identical outputs seen)
        limit = 1e-4 * span if m.variant == "fp32" else INT8_STEPS * step
        diffs[key]["limit"] = limit
        assert worst <= limit, (key, worst, limit)
    TIMINGS["board_vs_host_outputs"] = diffs


def test_board_killed_mid_run_keeps_rows_and_is_unreachable(board, devfile, variants_cache, tmp_path):
    db = tmp_path / "results.db"
    cache = variants_cache
    env = {**os.environ, "HARNESS_RECIPE": "quick"}
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", "--devices", str(devfile), "--models", MODELS,
                             "--variants", "fp32,int8", "--db", str(db), "--cache-dir", str(cache), "--no-progress", "--no-peak-probe"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env)
    deadline = time.monotonic() + 600
    kept: list[Any] = []
    while not kept and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(1.0)
        if db.exists():
            kept = [m for m in ResultsDB(db).measurements() if m.status == "ok"]
    assert kept, "no row was measured before the deadline"
    killed_at = time.time()
    board.kill()
    out, err = proc.communicate(timeout=300)
    rows = ResultsDB(db).measurements()
    ok = [m for m in rows if m.status == "ok"]
    lost = [m for m in rows if m.status != "ok"]
    assert {m.variant for m in kept} <= {m.variant for m in ok} and len(ok) >= len(kept), (out[-1500:], err[-1500:])
    assert lost and len(rows) == 4, [(m.model, m.variant, m.status, m.error) for m in rows]
    noticed = min(m.finished_at for m in lost) - killed_at
    # connect_timeout_s 20, 2 attempts, 1 s back-off: a board gone is said within that
    assert noticed < 20 * 2 + 1 + 5, f"the dead board was noticed {noticed:.1f} s after the kill"
    TIMINGS["kill_noticed_s"] = round(noticed, 1)
    t0 = time.monotonic()
    res = _harness("devices", "--json", "--devices", str(devfile), cwd=tmp_path, timeout=300)
    took = time.monotonic() - t0
    row = json.loads(res.stdout)[0]
    assert row["status"] == "unreachable" and res.returncode == 1, row
    assert took < 20 * 2 + 1 + 15, f"`harness devices` took {took:.0f} s to call the dead board unreachable"
    TIMINGS["unreachable_after_s"] = round(took, 1)
