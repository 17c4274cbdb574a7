"""Shared fixtures. Area-specific fixtures live in tests/fixtures_*.py, loaded as plugins below."""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow's thread pools one thread wide in every test process and the processes they start: the README's
# command runs three xdist workers on two cores, where a second intra-op thread only contends for a core that
# another worker is using (four training files at -n 3: 231 vs 252 CPU-s, the same wall; the whole suite's
# CPU moved within its noise, 1430 vs 1473 CPU-s with the board's --no-compile beside it: stop 38's note).
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
# NumPy madvises transparent huge pages for each array of 4 MB or more. On a VM whose fresh huge pages are slow to
# fault in (this CI's Firecracker VM: the kernel zeroing 2 MB pages was 43 % of perf's samples in the shipped
# SqueezeNet test, whose 3000 held-out 224 px images are 1.8 GB) that costs far more than the fewer TLB misses
# save: that test 42.6 vs 70.6 s wall, 3.0 vs 29.3 s of system CPU, the same arrays. NumPy's own switch, set
# before any process of the run imports NumPy; a value the user set wins (benchmarks/numpy_hugepages.py: the data
# generation alone, 0.89x wall).
os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "device-outputs"

# `python -m harness` in a subprocess must run this checkout's code, wherever the editable install points.
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)

# A test run started in the background by a non-interactive shell (`cmd &`, `nohup cmd &`) inherits SIGINT
# ignored, and an ignored signal stays ignored across exec in every process a test starts: `harness serve` and
# `harness run` children then never see the Ctrl-C a test sends them (tests/test_android_host.py hung on it).
# A handler here is reset to the default in each child at exec, as at a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# One line per area; each module is a pytest plugin with that area's fixtures.
pytest_plugins: list[str] = []
for _name in sorted(p.stem for p in Path(__file__).parent.glob("fixtures_*.py")):
    pytest_plugins.append(f"tests.{_name}")


@pytest.fixture(scope="session")
def device_outputs() -> Path:
    """The real recorded tool outputs in tests/fixtures/device-outputs (provenance in its README)."""
    return FIXTURES


@pytest.fixture(scope="session")
def tiny_tflite(tmp_path_factory) -> Path:
    """A real, small conv model converted by TensorFlow: about 0.2 ms on this host."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(1)
    m = tf.keras.Sequential([
        tf.keras.Input((32, 32, 3)),
        tf.keras.layers.Conv2D(8, 3, activation="relu"),
        tf.keras.layers.GlobalAveragePooling2D(),
        tf.keras.layers.Dense(4),
    ])
    data = tf.lite.TFLiteConverter.from_keras_model(m).convert()
    path = tmp_path_factory.mktemp("models") / "tiny.tflite"
    path.write_bytes(data)
    return path


@pytest.fixture(scope="session")
def python_exe() -> str:
    return sys.executable


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch) -> Path:
    """Point XDG_CACHE_HOME at a temp dir so artifacts and the local target's workdir are private."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="session")
def harness_cli():
    """`harness ARGS` as a real process forked from one warm interpreter (tests/cli_fork.py): for the many
    tests that check what one command prints and returns, not how Python starts."""
    from tests.cli_fork import ForkedCLI

    cli = ForkedCLI()
    yield cli
    cli.close()
