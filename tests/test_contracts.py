"""The golden contract files in contracts/ still describe what the Python side produces.

Swift (ios_app/) and JVM (android_app/) tests load the same files; if the runner's JSON, the timed loop or
the live stream changes, these tests fail until the files (and then the apps) are regenerated to match.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from contracts.timed_loop_cases import CASES, run_case

REPO = Path(__file__).resolve().parent.parent
C = REPO / "contracts"


def _types(d: dict) -> dict[str, str]:
    return {k: type(v).__name__ for k, v in d.items() if v is not None}


def test_schema_version_is_the_runners_and_the_databases():
    from harness.store.results import SCHEMA_VERSION
    from rpi import runner

    for name in ("ok.json", "error.json"):
        assert json.loads((C / "results" / name).read_text())["schema_version"] == runner.SCHEMA_VERSION
    assert runner.SCHEMA_VERSION == SCHEMA_VERSION


def test_the_runner_accepts_the_golden_job_and_writes_the_golden_result_shape(tiny_tflite):
    job = json.loads((C / "jobs" / "basic.json").read_text())
    from rpi.runner import DEFAULT_JOB

    assert set(job) - {"model_path"} == set(DEFAULT_JOB), "jobs/basic.json lists every job field the runner knows"
    out = subprocess.run([sys.executable, str(REPO / "rpi" / "runner.py"), "--job", "-"],
                         input=json.dumps({**job, "model_path": str(tiny_tflite)}), capture_output=True, text=True,
                         timeout=120, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    golden = json.loads((C / "results" / "ok.json").read_text())
    assert got["error"] is None
    assert set(got) == set(golden), f"runner keys changed: {sorted(set(got) ^ set(golden))}"
    gt, ht = _types(golden), _types(got)
    assert {k: gt[k] for k in gt if k in ht} == {k: ht[k] for k in gt if k in ht}
    assert len(golden["latencies_us"]) == job["max_runs"] == len(got["latencies_us"])


def test_the_runner_error_shape(tmp_path):
    job = json.loads((C / "jobs" / "basic.json").read_text())
    out = subprocess.run([sys.executable, str(REPO / "rpi" / "runner.py"), "--job", "-"],
                         input=json.dumps({**job, "model_path": str(tmp_path / "missing.tflite")}),
                         capture_output=True, text=True, timeout=120)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    golden = json.loads((C / "results" / "error.json").read_text())
    assert set(got) == set(golden) and isinstance(got["error"], str) and got["error"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_timed_loop_vectors_match_the_runner(case):
    golden = {c["name"]: c for c in json.loads((C / "timed_loop" / "cases.json").read_text())}
    assert golden[case["name"]]["job"] == case["job"]
    assert run_case(case) == golden[case["name"]]["expected"]


def test_the_live_stream_framing_matches_the_server(tmp_path):
    """Publish the recorded events through the real server and read its bytes back: same framing."""
    import urllib.request

    from harness.live.server import LiveServer

    records = [block for block in (C / "events" / "run.sse").read_text().split("\n\n") if block.startswith("id:")]
    assert records, "events/run.sse holds id/event/data records"
    parsed = []
    for block in records:
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        parsed.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
    server = LiveServer(tmp_path / "r.db", host="127.0.0.1", port=0, watch_db=False).start()
    try:
        for _, kind, data in parsed:
            server.hub.publish(kind, data)
        req = urllib.request.Request(f"{server.url.split('?')[0].rstrip('/')}/api/events",
                                     headers={"Last-Event-ID": "0"})
        raw = b""
        with urllib.request.urlopen(req, timeout=10) as resp:
            while raw.count(b"\n\nid:") < len(parsed) - 1 or not raw.endswith(b"\n\n") or b"event: run_finished" not in raw:
                chunk = resp.read1(65536)
                if not chunk:
                    break
                raw += chunk
    finally:
        server.stop()
    text = raw.decode()
    assert text.startswith("retry: ")
    for i, (_, kind, data) in enumerate(parsed, start=1):
        assert f"id: {i}\nevent: {kind}\ndata: {json.dumps(data, default=str)}\n\n" in text
