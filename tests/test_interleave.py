"""Issue 22: two builds judged side by side (A B A B rounds), in `harness nightly` and `harness compare --remeasure`.

Runs measured apart do not share the host's level; rounds measured side by side do. The tests below fail on
the code before this change: a burst that hit one side of one round made a +30 % slowdown "inconclusive",
and `compare` had no way to measure two stored runs' files again side by side.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.cli import main
from harness.statistics.regression import interleaved_verdict
from harness.store.db import ResultsDB
from harness.store.results import Measurement, Validity


def _round(side: str, rep: int, p50: float, *, busy: bool = False) -> Measurement:
    return Measurement(run_id="again", device="local", model=f"{side}.tflite", variant="fp32", status="ok",
                       repeat_index=rep, latencies_us=(p50,) * 20, p50_us=p50,
                       validity=Validity(True, True, True, True, True, host_quiet=not busy))


def test_a_round_whose_own_window_saw_a_busy_host_is_left_out():
    """Five rounds, B 30 % slower in each; in round 3 a burst hit A's window only (A twice as slow, its
    runner saw other processes on the CPUs). Before: the one round pulled the t interval below zero
    (`inconclusive`, a real regression not confirmed). Now the round is left out and named."""
    base = [_round("a", r, 2000.0 if r == 2 else 1000.0, busy=r == 2) for r in range(5)]
    new = [_round("b", r, 1300.0 * (1 + 0.01 * (r % 2))) for r in range(5)]
    v = interleaved_verdict(base, new, threshold=0.02)
    assert v.verdict == "slower" and 0.29 <= v.change <= 0.32
    assert v.repeats_a == 4 and "left out round(s) 3: host busy" in (v.reason or "")
    # the same rounds, nobody flagged: that round stays in and the interval is too wide to call it
    plain = [_round("a", r, 2000.0 if r == 2 else 1000.0) for r in range(5)]
    assert interleaved_verdict(plain, new, threshold=0.02).verdict == "inconclusive"


def test_a_busy_host_gives_no_verdict_from_paired_rounds():
    """Three of five rounds busy: two quiet ones cannot judge. At load 24-33 (every round busy) the paired
    t interval called an A/A key faster; now such a re-measurement decides nothing and says why."""
    base = [_round("a", r, 1000.0, busy=r < 3) for r in range(5)]
    new = [_round("b", r, 1000.0 * (0.9 + 0.002 * r)) for r in range(5)]
    v = interleaved_verdict(base, new, threshold=0.02)
    assert v.verdict == "inconclusive" and "host busy in 3 of 5 paired rounds" in (v.reason or "")
    quiet = [_round("a", r, 1000.0) for r in range(5)]
    assert interleaved_verdict(quiet, new, threshold=0.02).verdict == "faster"


def _conv_model(path: Path, size: int, filters: int) -> Path:
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    m = tf.keras.Sequential([tf.keras.Input((size, size, 3)),
                             tf.keras.layers.Conv2D(filters, 3, padding="same", activation="relu"),
                             tf.keras.layers.Conv2D(filters, 3, padding="same"),
                             tf.keras.layers.GlobalAveragePooling2D()])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(m).convert())
    return path


@pytest.mark.slow
def test_compare_remeasure_judges_two_stored_runs_side_by_side(tmp_path, capsys, isolated_cache):
    """Two real runs on this host: the same model name, the second build about 9x the work. `compare
    --remeasure 3` measures both files again in A B A B A B rounds, stores that run (labelled), and calls
    it slower from the paired rounds; an A/A pair re-measured the same way is never called slower."""
    devices = tmp_path / "devices.yaml"
    devices.write_text(yaml.safe_dump({"devices": [{"name": "local", "kind": "local", "bench": {
        "min_runs": 20, "min_s": 0.2, "warmup_s": 0.05, "cooldown_s": 0.0,
        # this test is about the mechanics (files, rounds, stored run, verdict); the busy-host rule is tested
        # above on its own, and another job on a shared host must not turn this into `inconclusive`
        "host_busy_pct": 100.0, "spread_threshold": 1e6}}]}))
    small = _conv_model(tmp_path / "a" / "net.tflite", 48, 8)
    big = _conv_model(tmp_path / "b" / "net.tflite", 96, 24)
    db = tmp_path / "r.db"
    ids = []
    for model in (small, big, small):
        main(["run", "--devices", str(devices), "--models", str(model), "--variants", "fp32", "--db", str(db),
              "--no-peak-probe"])
        capsys.readouterr()
        ids.append(ResultsDB(db).latest_run_id())
    assert main(["compare", ids[0], ids[1], "--db", str(db), "--remeasure", "3", "--json"]) == 0
    import json

    (item,) = json.loads(capsys.readouterr().out)
    lat = item["latency"]
    assert item["verdict"] == "slower" and lat["basis"] == "interleaved rounds" and lat["change"] > 1.0
    assert lat["repeats_a"] >= 3
    rdb = ResultsDB(db)
    try:
        again = [r for r in rdb.runs() if r.label == "compare:remeasure"]
        assert len(again) == 1
        rows = sorted(rdb.measurements(again[0].run_id), key=lambda m: (m.repeat_index, m.model))
    finally:
        rdb.close()
    assert [m.repeat_index for m in rows] == [0, 0, 1, 1, 2, 2] and all(m.status == "ok" for m in rows)
    # A/A (the same file measured in two runs), with --fail-on-slower: never slower, never exit 1
    assert main(["compare", ids[0], ids[2], "--db", str(db), "--remeasure", "3", "--fail-on-slower"]) == 0
    out = capsys.readouterr().out
    assert "measured again side by side (3 interleaved rounds" in out and "slower" not in out.split("note:")[0]


@pytest.mark.parametrize("value", ["2", "51", "x", "nan"])
def test_remeasure_rounds_are_checked(value, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["compare", "a", "b", "--db", str(tmp_path / "r.db"), "--remeasure", value])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) <= 2 and "--remeasure" in err[-1] and "Traceback" not in err[-1]


def test_remeasure_says_when_the_runs_settings_differ():
    """`--threads 1` on one side is a change of settings, not of the file: --remeasure measures both files with
    run A's settings (on the quiet host it found 0 of 6 one-thread keys slower that the stored runs found 8 of 8),
    so it must say which settings differ."""
    from harness.orchestration.interleave import settings_differ
    from harness.planning.config import parse_devices
    from harness.planning.plan import Plan

    devices = parse_devices({"devices": [{"name": "local", "kind": "local"}]})
    a = Plan(("m.tflite",), ("fp32",), devices, {"threads": 2})
    b = Plan(("m.tflite",), ("fp32",), devices, {"threads": 1})
    assert settings_differ(a, b.to_dict()) == "threads 2 vs 1"
    assert settings_differ(a, a.to_dict()) == ""
