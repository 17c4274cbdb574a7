"""The farm's coordinator at scale, sized for a shared 2-core host: benchmarks/farm_scale.py with 3 agent nodes of
4 devices each and 4 jobs per device (48 jobs). The devices' runtime sleeps instead of measuring (its rows say
so); what is checked is the farm's own bookkeeping: every job one row, no device ever double-booked (counted
on the agents and from the rows' times). The full 8 x 8 x 10 = 640-job run is the benchmark itself
(`python benchmarks/farm_scale.py`, figures in the README)."""
from __future__ import annotations

import pytest

pytest.importorskip("ray", reason="pip install 'ray==2.60.0' (the `farm` extra)")


def test_48_sleeping_jobs_on_12_devices_of_3_agents_none_double_booked(monkeypatch, tmp_path):
    from benchmarks import farm_scale

    for var in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, "")  # the benchmark sets its own; each is restored after the test
        monkeypatch.delenv(var)
    lines: list[str] = []
    rc = farm_scale.run(3, 4, 4, 0.2, out=lines.append)
    print("\n".join(lines))
    assert rc == 0, lines
    assert any(line.startswith("rows: 48 (48 ok)") for line in lines), lines
    assert any("double-booked: 0 refused starts on the agents, 0 overlapping spans on the agents, 0 overlapping "
               "rows per device" in line for line in lines), lines
