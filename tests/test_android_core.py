"""The companion app's plain-JVM core (android_app/core) compiled and unit-tested with the JDK, JUnit and Gson
from Debian's packages, since Gradle cannot fetch anything here.

The JUnit tests load the same golden contract files as pytest and the Swift tests, and the SSE tests follow a
real `harness serve` (LiveServer) started here: its URL reaches JUnit as -Dharness.live.url.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORE = REPO / "android_app" / "core"
CONTRACTS = REPO / "contracts"
JARS = {  # jar under /usr/share/java -> the Debian package that installs it
    "gson.jar": "libgoogle-gson-java",
    "junit4.jar": "junit4",
    "hamcrest-core.jar": "libhamcrest-java (installed with junit4)",
}


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"needs {name}: apt-get install openjdk-17-jdk-headless (listed in .ci/apt-packages.txt)")
    return found


def _classpath() -> list[str]:
    out = []
    for jar, package in JARS.items():
        p = Path("/usr/share/java") / jar
        if not p.is_file():
            pytest.skip(f"needs {p}: apt-get install {package} (listed in .ci/apt-packages.txt)")
        out.append(str(p))
    return out


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> tuple[str, list[str], list[str]]:
    """javac of main and test sources into a temp dir: (java, classpath, test class names)."""
    javac, java = _tool("javac"), _tool("java")
    cp = _classpath()
    out = tmp_path_factory.mktemp("jvm-classes")
    sources = sorted(str(p) for p in CORE.glob("src/*/java/**/*.java"))
    assert sources, "android_app/core has Java sources"
    proc = subprocess.run([javac, "--release", "11", "-Xlint:all", "-Werror", "-encoding", "UTF-8", "-d", str(out),
                           "-cp", ":".join(cp), *sources], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"javac failed:\n{proc.stdout}\n{proc.stderr}"
    tests = sorted("dev.harness.core." + p.stem for p in CORE.glob("src/test/java/dev/harness/core/*Test.java"))
    return java, [str(out), *cp], tests


def _junit(compiled, *props: str, classes: list[str] | None = None) -> tuple[int, str, dict[str, int]]:
    java, cp, tests = compiled
    proc = subprocess.run([java, "-cp", ":".join(cp), f"-Dharness.contracts={CONTRACTS}", *props,
                           "dev.harness.core.AllTests", *(classes or tests)],
                          capture_output=True, text=True, timeout=300)
    text = proc.stdout + proc.stderr
    m = re.search(r"JUNIT tests=(\d+) failures=(\d+) assumptions=(\d+) ignored=(\d+)", text)
    assert m, f"no JUnit summary:\n{text[-3000:]}"
    counts = dict(zip(("tests", "failures", "assumptions", "ignored"), map(int, m.groups()), strict=True))
    return proc.returncode, text, counts


def test_core_has_no_android_imports():
    for src in CORE.glob("src/**/*.java"):
        text = src.read_text()
        assert not re.search(r"^import\s+(static\s+)?androidx?\.", text, re.M), f"{src.name} imports android"


def test_jvm_core_unit_tests_pass_against_a_real_live_server(compiled, tmp_path):
    """Every JUnit test, none skipped: the contract files, the timed-loop vectors, SSE against `harness serve`."""
    from harness.live.server import LiveServer

    records = [b for b in (CONTRACTS / "events" / "run.sse").read_text().split("\n\n") if b.startswith("id:")]
    with LiveServer(tmp_path / "r.db", host="127.0.0.1", port=0, watch_db=False) as server:
        for block in records:
            fields = dict(line.split(": ", 1) for line in block.splitlines())
            server.hub.publish(fields["event"], json.loads(fields["data"]))
        code, text, counts = _junit(compiled, f"-Dharness.live.url=http://127.0.0.1:{server.port}/",
                                    f"-Dharness.live.events={len(records)}")
    assert code == 0 and counts["failures"] == 0, text[-6000:]
    assert counts["assumptions"] == 0 and counts["ignored"] == 0, text[-3000:]
    assert counts["tests"] >= 40
    for cls in ("AppRunTest", "JobRequestTest", "EvalPassTest", "AndroidXmlTest", "IosBlockTest"):
        assert f"dev.harness.core.{cls}" in compiled[2], cls


def test_the_live_server_tests_refuse_to_pass_silently_without_a_server(compiled):
    """Without the server's URL the two live tests are reported as skipped assumptions, not as passes."""
    code, text, counts = _junit(compiled, classes=["dev.harness.core.LiveServerTest"])
    assert code == 0 and counts["assumptions"] == 2, text[-3000:]


def test_jvm_schema_version_is_the_runners():
    from rpi import runner

    src = (CORE / "src/main/java/dev/harness/core/Json.java").read_text()
    assert re.search(r"SCHEMA_VERSION = (\d+);", src).group(1) == str(runner.SCHEMA_VERSION)
