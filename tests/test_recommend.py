"""`harness recommend` on stored rows: the Pareto front, budgets in each unit, ties, missing accuracy,
invalid rows, inconclusive nights, sustained figures, every output format and bad budgets."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from harness.planning.budget import AccuracyDrop, Budget, BudgetError, parse_budget, parse_value
from harness.statistics.recommend import AccuracyChange, Candidate, candidates, dominates, pareto, recommend
from harness.store.db import ResultsDB
from harness.store.results import Measurement, RunInfo, Validity

OK = Validity(True, True, True, True, True, stable=True)
THROTTLED = Validity(True, True, True, False, True, stable=True)


def row(variant: str, p50: float, p99: float | None, *, top1: float | None = 0.70, delta: float | None = None,
        size: int = 4_000_000, run: str = "r1", device: str = "pixel", validity: Validity = OK,
        sustained: dict | None = None, **kw) -> Measurement:
    metrics = {}
    if top1 is not None:
        metrics["top1"] = top1
        if delta is not None:
            metrics["top1_delta_fp32"] = delta
    return Measurement(run_id=run, device=device, model="squeezenet", variant=variant, status="ok",
                       p50_us=p50 * 1000, p99_us=p99 * 1000 if p99 is not None else None, model_size_bytes=size,
                       validity=validity, metrics=metrics, extra={"sustained": sustained} if sustained else {},
                       finished_at=time.time(), **kw)


def store(path: Path, rows: list[Measurement], run: str = "r1", label: str | None = None,
          devices: list[dict] | None = None, created: float | None = None) -> None:
    db = ResultsDB(path)
    db.add_run(RunInfo(run_id=run, created_at=created or time.time(), host="h", git_revision=None, packages={},
                       plan={"devices": {"devices": devices or []}}, status="finished", label=label))
    for m in rows:
        db.add(m)
    db.close()


def _cli(harness_cli, *args: str) -> subprocess.CompletedProcess[str]:
    """`harness recommend ARGS` as a real process forked from a warm interpreter (tests/cli_fork.py)."""
    return harness_cli("recommend", *args, text=True, timeout=120)


def judged(recs, variant):
    return next(j for r in recs for j in r.judged if j.candidate.variant == variant)


LADDER = [row("fp32", 40, 48, top1=0.700), row("fp16", 38, 44, top1=0.700, delta=0.0, size=2_000_000),
          row("dr_int8", 22, 27, top1=0.697, delta=-0.003, size=1_100_000),
          row("int8", 15, 19, top1=0.660, delta=-0.040, size=1_000_000)]


def test_budget_picks_the_fastest_that_keeps_accuracy_and_names_each_rejection():
    budget = Budget(p99_ms=30, accuracy_drop=AccuracyDrop(0.5, "pt"), size_mb=5)
    [rec] = recommend(candidates(LADDER), {"pixel": budget})
    assert rec.chosen is not None and rec.chosen.variant == "dr_int8"
    assert "fastest of 1 meeting the budget" in rec.reason and "-0.30 pt (no interval)" in rec.reason
    assert judged([rec], "int8").reason == "accuracy drop 4 pt (point change, no interval) > 0.5 pt"
    assert judged([rec], "fp32").reason == "p99 48 ms > 30 ms"
    assert judged([rec], "fp16").reason == "p99 44 ms > 30 ms"
    # Without the accuracy budget int8 is the fastest and is chosen.
    [loose] = recommend(candidates(LADDER), {"pixel": Budget(p99_ms=30)})
    assert loose.chosen.variant == "int8"
    # fp16 is faster than fp32 at the same accuracy and half the size: fp32 is off the front.
    assert {j.candidate.variant for j in rec.judged if j.on_front} == {"fp16", "dr_int8", "int8"}


def test_no_variant_meets_the_budget():
    [rec] = recommend(candidates(LADDER), {"pixel": Budget(p99_ms=5)})
    assert rec.chosen is None and rec.reason == "no variant meets the budget"
    assert all(j.status == "rejected" for j in rec.judged)


def test_ties_within_the_noise_go_to_accuracy_then_size_then_name():
    tied = [row("a", 20.0, 25, delta=-0.002, size=3_000_000), row("b", 20.4, 25, delta=-0.001, size=3_000_000),
            row("c", 30, 35, delta=0.0)]
    [rec] = recommend(candidates(tied), {})
    assert rec.chosen.variant == "b" and "within 3% of a (a tie)" in rec.reason
    assert judged([rec], "a").status == "meets budget"
    same = [row("y", 20.0, 25, delta=-0.002, size=1_000_000), row("x", 20.0, 25, delta=-0.002, size=1_000_000)]
    [rec2] = recommend(candidates(same), {})
    assert rec2.chosen.variant == "x"  # identical on every axis: by name, not by the order the rows came
    assert {j.on_front for j in rec2.judged} == {True}  # neither dominates the other


def test_missing_accuracy_is_not_measured_and_never_passes_an_accuracy_budget():
    rows = [row("fp32", 40, 48, top1=None), row("int8", 15, 19, top1=None)]
    [rec] = recommend(candidates(rows), {"pixel": Budget(accuracy_drop=AccuracyDrop(1, "pt"))})
    assert rec.chosen is None
    assert judged([rec], "int8").reason.startswith("accuracy not measured (budget: drop ≤ 1 pt)")
    [free] = recommend(candidates(rows), {})
    assert free.chosen.variant == "int8" and "accuracy not measured" in free.reason


def test_invalid_rows_are_never_recommended_and_say_why():
    rows = [row("fp32", 40, 48), row("int8", 10, 12, delta=0.0, validity=THROTTLED)]
    [rec] = recommend(candidates(rows), {})
    assert rec.chosen.variant == "fp32"
    j = judged([rec], "int8")
    assert j.status == "invalid" and "row flagged invalid (throttled) in run r1" in j.reason and not j.on_front


def test_inconclusive_verdicts_are_not_judged():
    rows = [row("fp32", 40, 48), row("int8", 10, 12, delta=0.0)]
    key = ("pixel", "squeezenet", "int8")
    [rec] = recommend(candidates(rows, {key: "vs night n1: within the noise"}), {})
    assert rec.chosen.variant == "fp32" and judged([rec], "int8").status == "not judged"


def test_sustained_figures_decide_the_latency_budget():
    sus = {"duration_s": 360.0, "steady_p50_us": 41000.0, "steady_p99_us": 47000.0, "cold_p50_us": 24000.0}
    rows = [row("dr_int8", 24, 29, delta=-0.001), row("dr_int8", 27, 45, delta=-0.001, run="r2", sustained=sus),
            row("fp32", 45, 50)]
    cands = candidates(rows)
    dr = next(c for c in cands if c.variant == "dr_int8")
    assert dr.p50_ms == 24 and dr.steady_p50_ms == 41 and dr.runs == ("r1", "r2")
    [rec] = recommend(cands, {"pixel": Budget(p50_ms=30)})
    assert judged([rec], "dr_int8").reason == "p50 meets 30 ms cold (24 ms), 41 ms after 6 min: over budget"
    assert rec.chosen is None


def test_interval_worst_end_judges_the_drop():
    base = dict(device="d", model="m", p99_ms=None, size_mb=1.0, memory_mb=None, energy_mj=None)
    narrow = Candidate(variant="a", p50_ms=10, accuracy=AccuracyChange("top1", -0.002, -0.004, 0.0, 0.7), **base)
    wide = Candidate(variant="b", p50_ms=9, accuracy=AccuracyChange("top1", -0.002, -0.009, 0.005, 0.7), **base)
    [rec] = recommend([narrow, wide], {"d": Budget(accuracy_drop=AccuracyDrop(0.5, "pt"))})
    assert rec.chosen.variant == "a"  # b's point change is inside, its interval's worst end is not
    assert "worst end of the interval" in judged([rec], "b").reason and "0.9 pt" in judged([rec], "b").reason
    psnr = Candidate(variant="c", p50_ms=8, accuracy=AccuracyChange("psnr_db", -0.2, -0.25, -0.1, 30.0), **base)
    assert "not comparable" in judged(recommend([psnr], {"d": Budget(accuracy_drop=AccuracyDrop(1, "pt"))}), "c").reason
    assert judged(recommend([psnr], {"d": Budget(accuracy_drop=AccuracyDrop(0.3, "dB"))}), "c").status == "chosen"
    # 1 % of fp32's 30 dB is 0.3 dB: the worst end 0.25 dB is inside.
    assert judged(recommend([psnr], {"d": Budget(accuracy_drop=AccuracyDrop(1, "%"))}), "c").status == "chosen"
    assert dominates(narrow, psnr) is False and len(pareto([narrow, wide])) == 2


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("p99_ms", 30, 30.0), ("p99_ms", "30ms", 30.0), ("p99_ms", "0.03 s", 30.0), ("p50_ms", "2500us", 2.5),
    ("size_mb", 5, 5.0), ("size_mb", "500kB", 0.5), ("size_mb", "2MiB", 2.097152), ("size_mb", "1GB", 1000.0),
    ("memory_mb", "64 MB", 64.0), ("energy_mj", "2mJ", 2.0), ("energy_mj", "0.5J", 500.0),
    ("energy_mj", "300uJ", 0.3), ("accuracy_drop", "0.5pt", AccuracyDrop(0.5, "pt")),
    ("accuracy_drop", "0.3 dB", AccuracyDrop(0.3, "dB")), ("accuracy_drop", "1%", AccuracyDrop(1.0, "%"))])
def test_budgets_in_each_unit(key, value, expected):
    assert parse_value(key, value) == pytest.approx(expected) if isinstance(expected, float) else \
        parse_value(key, value) == expected


@pytest.mark.parametrize(("key", "value", "says"), [
    ("p99_ms", "30 parsecs", "expected a number in ms"), ("p99_ms", "-3", "expected a number"),
    ("p99_ms", 0, "above 0"), ("size_mb", "5 MBs", "expected a number in MB"), ("accuracy_drop", 0.5, "pt"),
    ("accuracy_drop", "half a point", "(e.g. 0.5pt)"), ("speed", 3, "unknown budget 'speed'"),
    ("p99_ms", True, "expected a number")])
def test_bad_budget_values(key, value, says):
    with pytest.raises(BudgetError, match=None) as err:
        parse_value(key, value)
    assert says in str(err.value)
    with pytest.raises(BudgetError):
        parse_budget({key: value})


def test_cli_every_format_and_the_html_section(tmp_path, harness_cli):
    db = tmp_path / "r.db"
    store(db, LADDER, devices=[{"name": "pixel", "budget": {"p99_ms": 30, "accuracy_drop": "0.5pt", "size_mb": 5}}])
    table = _cli(harness_cli, "--db", str(db))
    assert table.returncode == 0, table.stderr
    assert "dr_int8" in table.stdout and "p99 48 ms > 30 ms" in table.stdout
    md = _cli(harness_cli, "--db", str(db), "--format", "md").stdout
    assert md.startswith("### recommendation · run r1") and "| pixel | squeezenet |" in md
    csv_lines = _cli(harness_cli, "--db", str(db), "--format", "csv").stdout.splitlines()
    assert csv_lines[0].startswith("device,model,variant,status,p50 ms,p99 ms") and len(csv_lines) == 5
    data = json.loads(_cli(harness_cli, "--db", str(db), "--format", "json").stdout)
    assert data[0]["chosen"] == "dr_int8" and {v["variant"]: v["status"] for v in data[0]["variants"]} == {
        "fp32": "rejected", "fp16": "rejected", "dr_int8": "chosen", "int8": "rejected"}
    # A flag overrides the stored budget: at 20 ms p99 only int8 is fast enough, and it loses accuracy.
    strict = json.loads(_cli(harness_cli, "--db", str(db), "--format", "json", "--p99", "20ms").stdout)
    assert strict[0]["chosen"] is None
    page = tmp_path / "rec.html"
    assert _cli(harness_cli, "--db", str(db), "--html", str(page)).returncode == 0
    text = page.read_text()
    assert '<section id="recommendation">' in text and "data:image/svg+xml;base64," in text
    assert "chosen dr_int8 starred" in text


@pytest.mark.parametrize(("flag", "value", "says"), [("--p99", "fast", "--p99: expected a number in ms"),
                                                     ("--accuracy-drop", "0.5", "--accuracy-drop: expected an amount"),
                                                     ("--size", "5 bananas", "--size: expected a number in MB"),
                                                     ("--energy", "-1mJ", "--energy: expected a number in mJ")])
def test_cli_bad_budget_flag_is_one_line_exit_2(tmp_path, flag, value, says, harness_cli):
    db = tmp_path / "r.db"
    store(db, LADDER)
    res = _cli(harness_cli, "--db", str(db), f"{flag}={value}")
    assert res.returncode == 2 and says in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


def test_cli_bad_budget_in_devices_yaml_names_the_field(tmp_path, harness_cli):
    db = tmp_path / "r.db"
    store(db, LADDER)
    devices = tmp_path / "devices.yaml"
    devices.write_text(yaml.safe_dump({"devices": [{"name": "pixel", "kind": "local",
                                                    "budget": {"p99_ms": "30 lightyears"}}]}))
    res = _cli(harness_cli, "--db", str(db), "--devices", str(devices))
    assert res.returncode == 2 and "budget" in res.stderr and "p99_ms" in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_cli_nightly_refuses_an_uncomparable_night(tmp_path, harness_cli):
    db = tmp_path / "r.db"
    store(db, [row("fp32", 40, 48, run="n1"), row("int8", 15, 19, delta=0.0, run="n1")], run="n1",
          label="nightly:ok", created=1000.0)
    store(db, [row("fp32", 40, 48, run="n2"), row("int8", 15, 19, delta=0.0, run="n2")], run="n2",
          label="nightly:uncomparable", created=2000.0)
    data = json.loads(_cli(harness_cli, "--db", str(db), "--nightly", "--format", "json").stdout)
    assert data[0]["chosen"] is None and all(v["status"] == "not judged" for v in data[0]["variants"])
    assert "night n2 labelled uncomparable" in data[0]["variants"][0]["reason"]
    res = _cli(harness_cli, "--db", str(db), "--nightly", "--run", "n1")
    assert res.returncode == 2 and "--nightly and --run" in res.stderr


def test_report_has_the_recommendation_and_the_sustained_plot(tmp_path):
    from harness.reporting.report import render_html

    sus = {"duration_s": 360.0, "steady_p50_us": 41000.0, "steady_p99_us": 47000.0, "cold_p50_us": 24000.0,
           "steady_s": 120.0, "steady_over_cold": 1.708, "first_throttle_s": 130.0,
           "throttle_cause": "CPU clock fell from 2400 to 1800 MHz", "temp_start_c": 38.0, "temp_reached_c": 71.5,
           "interrupted": False, "windows": [{"end_s": 30.0 * (i + 1), "runs": 1000, "p50_us": 24000.0 + 1500 * i,
                                              "hottest_c": 38.0 + 3 * i, "cpu_mhz": 2400.0} for i in range(12)]}
    db = tmp_path / "r.db"
    store(db, LADDER + [row("dr_int8", 27, 45, delta=-0.001, run="r1", device="pixel-sustained", sustained=sus)],
          devices=[{"name": "pixel", "budget": {"p99_ms": 30, "accuracy_drop": "0.5pt"}}])
    r = ResultsDB(db)
    text = render_html(r.get_run("r1"), r.measurements("r1"))
    r.close()
    assert '<section id="recommendation">' in text and "chosen dr_int8 starred" in text
    assert "p99 ≤ 30 ms, accuracy drop ≤ 0.5 pt" in text
    assert '<section id="sustained">' in text and "first throttle at 2.2 min" in text
    assert text.count("data:image/svg+xml;base64,") >= 3


def _night(run: str, rows: list[tuple], **kw) -> tuple[str, list[Measurement]]:
    return run, [row(v, p50, p99, run=run, **(extra or {})) for v, p50, p99, extra in rows]


def test_the_nightly_series_judges_each_variant_at_its_worst_night():
    from harness.statistics.recommend_series import recommend_series

    q = {"top1": 0.70, "delta": 0.0}
    # int8 is fastest on the latest night only once: on n2 it was 35 ms, over the 30 ms budget.
    nights = [_night("n1", [("fp32", 40, 48, {"top1": 0.70}), ("fp16", 24, 28, q), ("int8", 15, 19, q)]),
              _night("n2", [("fp32", 41, 49, {"top1": 0.70}), ("fp16", 25, 29, q), ("int8", 35, 40, q)]),
              _night("n3", [("fp32", 40, 47, {"top1": 0.70}), ("fp16", 24, 27, q), ("int8", 14, 18, q)])]
    budget = {"pixel": Budget(p99_ms=30.0)}
    latest_only = recommend(candidates(nights[-1][1]), budget)
    assert latest_only[0].chosen.variant == "int8"  # the latest night alone would ship int8
    (r,) = recommend_series(nights, budget)
    assert r.chosen is not None and r.chosen.variant == "fp16"
    assert "holds on all 3 nights (p50 24-25 ms" in r.reason and "chosen on 1 of 3 nights taken alone" in r.reason
    assert judged([r], "int8").status == "rejected"
    assert judged([r], "int8").reason == "p99 40 ms > 30 ms (on night n2)"
    assert judged([r], "int8").candidate.series == (("n1", 15.0, 19.0), ("n2", 35.0, 40.0), ("n3", 14.0, 18.0))


def test_a_variant_missing_or_invalid_on_one_night_is_not_judged():
    from harness.statistics.recommend_series import recommend_series

    q = {"top1": 0.70, "delta": 0.0}
    nights = [_night("n1", [("fp32", 40, 48, {"top1": 0.70}), ("fp16", 24, 28, q)]),
              _night("n2", [("fp32", 40, 48, {"top1": 0.70}), ("fp16", 24, 28, q), ("int8", 15, 19, q)]),
              _night("n3", [("fp32", 40, 47, {"top1": 0.70}), ("fp16", 24, 27, {**q, "validity": THROTTLED}),
                            ("int8", 14, 18, q)])]
    (r,) = recommend_series(nights, {"pixel": Budget(p99_ms=60.0)})
    assert r.chosen is not None and r.chosen.variant == "fp32"
    assert judged([r], "int8").status == "not judged" and "no successful row on night n1" in judged([r], "int8").reason
    assert judged([r], "fp16").status == "invalid" and "night n3: row flagged invalid" in judged([r], "fp16").reason


def test_cli_nightly_judges_the_series_and_nights_bounds_it(tmp_path, harness_cli):
    import numpy as np

    rng = np.random.default_rng(0)
    db = tmp_path / "r.db"
    dev = [{"name": "pixel", "kind": "android", "serial": "x", "budget": {"p99_ms": 30}}]

    def rows(run: str, int8_p99: float) -> list[Measurement]:  # three repeats with samples, as a nightly stores
        out = []
        for v, p50, p99 in (("fp32", 40, 48), ("fp16", 24, 28), ("int8", 15, int8_p99)):
            for k in range(3):
                lat = tuple((rng.normal(p50, 0.2, 200) * 1000).round(1))
                out.append(row(v, p50, p99, run=run, repeat_index=k, latencies_us=lat,
                               delta=None if v == "fp32" else 0.0))
        return out

    for i, int8_p99 in enumerate((19, 40, 18, 18)):
        run = f"n{i + 1}"
        store(db, rows(run, int8_p99), run=run, label="nightly:ok", created=1000.0 * (i + 1), devices=dev)
    res = _cli(harness_cli, "--db", str(db), "--nightly", "--format", "json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data[0]["chosen"] == "fp16" and "holds on all 4 nights (p50 24 ms, the worst judged)" in data[0]["reason"]
    # The last two nights only: int8 held on both.
    data = json.loads(_cli(harness_cli, "--db", str(db), "--nightly", "--nights", "2", "--format", "json").stdout)
    assert data[0]["chosen"] == "int8" and "holds on all 2 nights" in data[0]["reason"]
    res = _cli(harness_cli, "--db", str(db), "--nightly", "--nights", "0")
    assert res.returncode == 2 and res.stderr.strip() == "harness: error: --nights: expected 1 to 365 (got 0)"


def test_the_recommendation_at_phone_width_in_chromium(tmp_path, chromium, harness_cli):
    """`recommend --html` and the report's section, each in a real headless Chromium at a phone's width:
    the page never scrolls sideways, the choice and its reason wrap inside the screen, the Pareto plot is
    decoded and drawn, and the wide table of every variant scrolls in its own box."""
    from harness.reporting.report import render_html
    from tests.fixtures_web import PHONE, CdpPage, png_size

    db = tmp_path / "r.db"
    store(db, LADDER, devices=[{"name": "pixel", "budget": {"p99_ms": 30, "accuracy_drop": "0.5pt", "size_mb": 5}}])
    page = tmp_path / "rec.html"
    assert _cli(harness_cli, "--db", str(db), "--html", str(page)).returncode == 0
    r = ResultsDB(db)
    report = tmp_path / "report.html"
    report.write_text(render_html(r.get_run("r1"), r.measurements("r1")))
    r.close()
    for path in (page, report):
        browser = CdpPage(chromium, tmp_path / f"profile-{path.stem}", PHONE)
        try:
            browser.navigate(path.as_uri())
            assert browser.wait_for("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
            assert browser.evaluate("document.documentElement.scrollWidth") <= PHONE[0], path.name
            sec = "document.querySelector('#recommendation')"
            assert browser.evaluate(f"{sec}.getBoundingClientRect().right") <= PHONE[0], path.name
            # The one-line choice: in view, wrapped, not cut.
            choice = browser.evaluate(f"[...{sec}.querySelectorAll('p')].map(p => [p.textContent, "
                                      "p.getBoundingClientRect().right, p.scrollWidth <= p.clientWidth])")
            assert any("dr_int8" in t and "fastest" in t for t, _, _ in choice), choice
            assert all(right <= PHONE[0] and fits for _, right, fits in choice), choice
            assert browser.evaluate(f"{sec}.querySelectorAll('figure img').length") == 1
            # The table is wider than a phone: it scrolls in its box, the page does not.
            box = browser.evaluate(f"(() => {{ const d = {sec}.querySelector('.scroll'); "
                                   "return [d.scrollWidth, d.clientWidth, getComputedStyle(d).overflowX]; })()")
            assert box[1] <= PHONE[0] and box[2] == "auto", box
            png = browser.screenshot(tmp_path / f"{path.stem}-phone.png")
        finally:
            browser.close()
        assert png_size(png) == PHONE
