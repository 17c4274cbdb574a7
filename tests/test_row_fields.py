"""The typed JSON parts of a row (harness.store.row_fields): a dict read from elsewhere becomes a row's metrics or
series only when every key the type names holds a value of that type, checked at run time, not cast.

Before this change the fields were `dict[str, Any]`: no check existed, so `is_metrics`, `is_series` and `misfit`
are absent there and every test below fails on import.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from devices.probes import tegrastats, vcgencmd
from errors import UserError
from harness.store.row_fields import Metrics, Series, is_ignored_sensors, is_metrics, is_series, misfit

DEVICE_OUTPUTS = Path(__file__).parent / "fixtures" / "device-outputs"


def test_metrics_of_a_build_and_of_the_row_fit_and_other_keys_may_be_there():
    metrics = {"size_bytes": 1234, "gzip_bytes": 1000, "macs": 10_000, "kernel_dtypes": ["FLOAT32"],
               "accuracy": None, "psnr_db": 30.5, "eval_crops": 4, "pass_params": {"sparsity": 0.5, "then": None},
               "per_example": {"metric": "psnr_db", "kind": "mean", "data": "4 crops", "variant": [30, 31.5],
                               "fp32": [30.1, 31.0], "bicubic": [28.0, 29.0]},
               "achieved_gflops": 1.5, "device_peak_rounds_gflops": [10.0, 11],
               "battery_level": 80, "imported_note": "a log's own figure"}  # keys Metrics does not name
    assert is_metrics(metrics) and misfit(Metrics, metrics) is None


@pytest.mark.parametrize("key, value", [
    ("size_bytes", "1 MB"),  # text where bytes are counted
    ("size_bytes", True),  # a bool is no count
    ("fine_tune_lr", "fast"),
    ("kernel_dtypes", "INT8"),  # a list of names, not one
    ("pass_params", {"sparsity": [0.5]}),
    ("per_example", {"metric": "map50", "kind": "map", "data": "d", "variant": [0.5, 0.7]}),  # map: images, not numbers
    ("per_example", {"metric": "top1", "kind": "median", "data": "d", "variant": [1, 0]}),  # no such kind
])
def test_a_value_of_another_type_under_a_metric_name_is_named(key, value):
    values = {"size_bytes": 10, key: value}
    assert not is_metrics(values)
    assert misfit(Metrics, values) == key


def test_matched_detections_fit_the_map_kind():
    per = {"metric": "map50", "kind": "map", "data": "d",
           "variant": [{"dets": [[0, 0.9, 1], [1, 0.2, 0]], "gt": {"0": 1}}], "fp32": []}
    assert is_metrics({"per_example": per, "map50": 0.5})


@pytest.mark.parametrize("log", sorted(p.name for p in (DEVICE_OUTPUTS / "tegrastats").glob("*.txt")))
def test_every_recorded_tegrastats_series_is_a_series(log):
    """The series `harness import` keeps on the row: a real log's must fit the type, or the row would lose it."""
    figures = tegrastats.parse_for_import((DEVICE_OUTPUTS / "tegrastats" / log).read_text())
    assert figures["series"]["t_s"]
    assert is_series(figures["series"]), misfit(Series, figures["series"])
    assert is_ignored_sensors(figures.get("ignored_sensors") or [])


def test_a_raspberry_pi_sampler_series_is_a_series():
    samples = [{"t_s": 0.0, "temp_c": 50.1, "power_mw": 2100.0, "power_source": "hwmon0",
                "throttled": {"now": ["under-voltage"]}},
               {"t_s": 0.5, "temp_c": 51.0, "power_mw": None, "power_source": None, "throttled": {}}]
    series = vcgencmd.sampler_series(samples)
    assert is_series(series) and series["throttled_now"] == [["under-voltage"], []]
    assert not is_series({**series, "t_s": ["0.0"]}) and misfit(Series, {**series, "temps_c": [1.0]}) == "temps_c"


def test_import_refuses_a_log_figure_that_has_a_metric_name_but_not_its_type(tmp_path):
    from harness.commands.import_logs import store

    args = argparse.Namespace(file="capture.log", db=str(tmp_path / "r.db"), device="d", model="m", variant="v",
                              tool="benchmark_model")
    with pytest.raises(UserError, match=r"capture\.log: size_bytes: '12 MB' is not what a result row keeps"):
        store({"size_bytes": "12 MB", "summary": {"count": 2, "mean_us": 10.0}}, args)
    store({"size_bytes": 12, "summary": {"count": 2, "mean_us": 10.0}}, args)  # the same figure as a count
