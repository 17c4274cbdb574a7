"""Rows that differ say how: variants of one pass show the parameters that set them apart and their gzip size."""
from __future__ import annotations

from harness.reporting.tables import measurements_text
from harness.store.results import Measurement


def _row(variant: str, params: dict, size: int, gz: int) -> Measurement:
    return Measurement(run_id="r", device="local", model="srcnn", variant=variant, status="ok", p50_us=1000.0,
                       model_size_bytes=size, metrics={"pass_params": params, "size_bytes": size, "gzip_bytes": gz})


def _table(rows: list[Measurement]) -> list[dict[str, str]]:
    header, *lines = measurements_text(rows, fmt="csv").strip().splitlines()
    return [dict(zip(header.split(","), line.split(","))) for line in lines]


def test_variants_of_one_pass_show_their_differing_parameters_and_gzip_size():
    rows = [_row("fp32", {}, 35100, 32000),
            _row("prune", {"sparsity": 0.9, "steps": 400, "lr": None}, 35100, 9000),
            _row("prune@sparsity=0.5", {"sparsity": 0.5, "steps": 400, "lr": None}, 35100, 21000),
            _row("cluster", {"clusters": 16, "steps": 200}, 35100, 12000)]
    got = _table(rows)
    assert [r["pass params"] for r in got] == ["-", "sparsity=0.9", "sparsity=0.5", "-"]
    assert [r["file size"] for r in got] == ["35.1 kB"] * 4  # the same file size...
    assert [r["gzip"] for r in got] == ["32.0 kB", "9.0 kB", "21.0 kB", "12.0 kB"]  # ...not the same download


def test_no_extra_columns_when_no_two_variants_of_a_pass_differ():
    got = _table([_row("fp32", {}, 35100, 32000), _row("prune", {"sparsity": 0.9}, 35100, 9000)])
    assert "pass params" not in got[0] and "gzip" not in got[0]
