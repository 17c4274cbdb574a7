"""Training reports its steps to the progress display; a bad HARNESS_RECIPE stops before work; nightly report
names carry the date once."""
from __future__ import annotations

import re

import pytest
import yaml

from errors import UserError
from harness.cli import main


def test_training_and_conversion_report_progress(quick_recipes, tmp_path, capsys):
    from converters.build import VariantBuilder
    from harness.orchestration.progress import ProgressPrinter
    from tests.fixtures_converters import TINY_SR

    events: list[tuple[str, int, int]] = []
    printer = ProgressPrinter(enabled=False)  # a pipe: plain lines
    def hook(m, v, phase, done, total):
        events.append((phase, done, total))
        printer.event("convert_progress", {"model": m, "variant": v, "phase": phase, "done": done, "total": total})
    VariantBuilder(tmp_path, progress=hook).build(TINY_SR, "fp32")
    phases = [e[0] for e in events]
    assert phases[0] == "load" and "convert" in phases and "analyse" in phases
    steps = [e for e in events if e[0] == "train"]
    assert steps and steps[-1][1] == steps[-1][2] > 1  # the recipe's last step was reported
    err = capsys.readouterr().err
    assert re.search(rf"{re.escape(TINY_SR)}/fp32: train \d+/\d+", err)


def test_bad_recipe_is_a_user_error_before_any_work(monkeypatch, tmp_path, capsys):
    from harness.planning.config import local_only
    from harness.planning.plan import make_plan

    monkeypatch.setenv("HARNESS_RECIPE", "fastest")
    with pytest.raises(UserError, match="HARNESS_RECIPE"):
        make_plan(local_only(), models=["srcnn"], variants=["fp32"])
    assert main(["convert", "--models", "srcnn", "--variants", "fp32", "--cache-dir", str(tmp_path)]) == 2
    assert "HARNESS_RECIPE" in capsys.readouterr().err and not list(tmp_path.glob("*.tflite"))


def test_nightly_report_names_do_not_repeat_the_date(tmp_path, tiny_tflite, isolated_cache):
    farm = tmp_path / "farm.yaml"
    farm.write_text(yaml.safe_dump({"defaults": {"min_runs": 5, "min_s": 0.05, "warmup_s": 0.0, "cooldown_s": 0.0},
                                    "devices": [{"name": "local", "kind": "local"}]}))
    out = tmp_path / "reports"
    assert main(["nightly", "--devices", str(farm), "--models", str(tiny_tflite), "--variants", "fp32",
                 "--db", str(tmp_path / "n.db"), "--out-dir", str(out), "--cache-dir", str(tmp_path / "a"),
                 "--no-peak-probe"]) == 0
    [html] = out.glob("*.html")
    date = re.search(r"\d{8}", html.name).group(0)
    assert html.name.count(date) == 1, html.name
