"""Quiet by default: a `harness run` shows progress and tables; TensorFlow/absl start-up logs,
converter warnings and C++ converter lines go to a log file named at the end (`--verbose` keeps them)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

NOISE = ("absl::InitializeLog", "I0000", "E0000", "cudart_stub", "oneDNN", "UserWarning", "fully_quantize",
         "inference_type", "WARNING:absl", "Created TensorFlow Lite XNNPACK delegate", "Assets written to")

SCRIPT = r"""
import logging, os, sys, warnings
from pathlib import Path
from harness.orchestration.quiet import quiet_logs
with quiet_logs(sys.argv[1] == "verbose", Path(sys.argv[2])) as log:
    os.write(2, b"fully_quantize: 0, inference_type: 6, input_inference_type: FLOAT32\n")  # what C++ writes
    warnings.warn("converter noise", UserWarning)
    logging.getLogger("absl").warning("absl start-up noise")
    logging.getLogger("paramiko.transport").error("Socket exception: Bad file descriptor (9)")
    print("progress line", file=sys.stderr, flush=True)
print(f"log={log}")
"""


def _script(mode: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Path | None]:
    res = subprocess.run([sys.executable, "-c", SCRIPT, mode, str(tmp_path / "logs")], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    log = res.stdout.strip().split("log=", 1)[1]
    return res, (Path(log) if log != "None" else None)


def test_library_noise_goes_to_the_log_and_progress_to_the_terminal(tmp_path):
    res, log = _script("quiet", tmp_path)
    assert res.stderr == "progress line\n"
    text = log.read_text()
    for line in ("fully_quantize: 0", "converter noise", "absl start-up noise", "Socket exception"):
        assert line in text


def test_verbose_keeps_the_noise_on_the_terminal(tmp_path):
    res, log = _script("verbose", tmp_path)
    assert log is None and not (tmp_path / "logs").exists()
    for line in ("fully_quantize: 0", "converter noise", "absl start-up noise", "progress line"):
        assert line in res.stderr


def test_a_default_run_prints_progress_and_tables_only(tmp_path):
    """A real run that converts (TensorFlow imported, a quantized variant built) and measures."""
    (tmp_path / "devices.yaml").write_text("devices:\n  - {name: local, kind: local}\n")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "HARNESS_RECIPE": "quick"}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    res = subprocess.run([sys.executable, "-m", "harness", "run", "--quick", "--models", "srcnn", "--variants",
                          "dr_int8", "--devices", "devices.yaml", "--db", "r.db", "--no-peak-probe", "--runs", "5",
                          "--min-seconds", "0.1", "--no-progress"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    for noise in NOISE:
        assert noise not in res.stderr, f"{noise!r} reached the terminal:\n{res.stderr[-3000:]}"
    assert "srcnn/dr_int8: converted" in res.stderr and "p50" in res.stderr
    assert "srcnn" in res.stdout and "1 measured" in res.stdout
    found = re.search(r"logs \(TensorFlow, converter, transports\): (\S+)", res.stderr)
    assert found, res.stderr
    log = Path(found.group(1)).read_text()
    assert "I0000" in log or "absl::InitializeLog" in log or "tensorflow" in log.lower(), log[:2000]
