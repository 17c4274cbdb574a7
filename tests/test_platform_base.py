"""One platform base (devices/target.py Target), one companion-app runtime for both phones
(devices/runtime/companion_app.py): the sampler thread, the cool-down and the app protocol exist once, and each
platform supplies only its probe functions and its transport."""
from __future__ import annotations

import ast
import time
from pathlib import Path
import pytest

from devices.config import BenchSettings, LocalDevice
from devices.sampler import ProbeReading
from devices.local import LocalTransport
from devices.target import Target

DEVICES = Path(__file__).resolve().parent.parent / "devices"


class _Platform(Target):
    """A platform that supplies only probe functions: a cooling sensor and a battery that reads 2 W."""

    kind = "local"

    def __init__(self, temps: list[float], limit: float | None = None) -> None:
        super().__init__(LocalDevice(name="p", kind="local"), LocalTransport())
        self.readings, self.limit = list(temps), limit

    def facts(self) -> dict[str, object]:
        return {}

    def prepare(self) -> None:
        pass

    def benchmark(self, job):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def temperatures(self) -> dict[str, float]:
        return {"soc": self.readings.pop(0) if len(self.readings) > 1 else self.readings[0]}

    def start_limit_c(self) -> float | None:
        return self.limit

    def probe(self, n: int) -> ProbeReading:
        if n == 2:
            raise OSError("a probe that fails costs its sample")
        return ProbeReading(power_mw=2000.0, temperatures_c={"soc": 40.0 + n} if n % 2 else {},
                            status=n if n % 2 else None, external_power=n == 3)


def test_the_base_sampler_stamps_what_a_platform_probe_reads_on_the_hosts_clock():
    p = _Platform([30.0])
    t0 = time.monotonic()
    wall0 = time.time()
    with p.sampler(BenchSettings(sample_interval_s=0.02), t0, first_wait_s=0.0, errors=(OSError,)) as s:
        deadline = time.monotonic() + 10
        while len(s.power) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert s.failures >= 1 and len(s.power) >= 5
    assert all(w >= round(wall0, 3) and mw == 2000.0 and src == "battery" for w, mw, src in s.power)
    assert [z for _, phase, z in s.temps][:2] == [{"soc": 41.0}, {"soc": 43.0}] and s.temps[0][1] == "run"
    assert s.statuses[:2] == [1, 3] and all(0 <= t < 10 for t, _ in s.status_times)
    assert s.external_power is True  # one reading on external power is enough


def test_the_base_cool_down_waits_for_the_threshold_then_the_platforms_start_limit():
    p = _Platform([70.0, 60.0, 45.0, 39.0], limit=40.0)
    waited = p.cool_down(BenchSettings(cooldown_s=0.0, cooldown_until_c=50.0, cooldown_max_s=5.0))
    assert p.readings == [39.0] and waited < 5.0  # 70, 60 (> 50: wait), 45 (< 50), 39 (< the limit 40)
    assert p.last_cooldown["hottest_c"] == 39.0 and p.last_cooldown["still_hot"] is False
    hot = _Platform([45.0], limit=40.0)
    hot.cool_down(BenchSettings(cooldown_s=0.0, cooldown_max_s=0.3))
    assert hot.last_cooldown["still_hot"] is True and hot.last_cooldown["limit_c"] == 40.0  # bounded wait
    none = _Platform([45.0])
    none.cool_down(BenchSettings(cooldown_s=0.0))
    assert set(none.last_cooldown) == {"waited_s"}


def _classes_and_calls(path: Path) -> tuple[set[str], set[str]]:
    tree = ast.parse(path.read_text())
    bases = {ast.unparse(b) for node in ast.walk(tree) if isinstance(node, ast.ClassDef) for b in node.bases}
    calls = {ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return bases, calls


@pytest.mark.parametrize("name", sorted(p.name for p in DEVICES.glob("*_target.py")))
def test_no_platform_keeps_its_own_sampler_thread_or_cool_down_loop(name):
    """Before: android_target.py and ios_target.py each had a SamplerThread subclass, android_target.py its own
    max_start_temp_c loop, rpi_target.py and jetson_target.py each their own stream session."""
    bases, calls = _classes_and_calls(DEVICES / name)
    assert not {"SamplerThread", "ProbeSampler", "threading.Thread"} & (bases | calls), name
    tree = ast.parse((DEVICES / name).read_text())
    defs = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    assert "probe_session" not in defs, name  # the base's, fed by board_sampler/read_samples
    assert not any(isinstance(n, (ast.While, ast.For)) for n in ast.walk(defs["cool_down"])) if "cool_down" in defs \
        else True, name


def test_both_phones_run_the_one_companion_app_runtime():
    from devices.runtime import load
    from devices.runtime.companion_app import CompanionApp

    assert isinstance(load("android", "app"), CompanionApp) and isinstance(load("ios", "app"), CompanionApp)
    # the platforms read no result file and parse no JSON: that is the runtime's, once
    for name in ("android_target.py", "ios_target.py"):
        _, calls = _classes_and_calls(DEVICES / name)
        assert not {"json.loads", "json.dumps", "RunnerResult.from_json"} & calls, name


def test_the_app_result_wait_names_what_went_wrong(tmp_path):
    """The one poll loop: a result that never comes, an app that exits without one."""
    from devices.runtime.companion_app import Launch, wait_for_result

    class Folder:
        def push(self, local: Path, remote: str) -> None: ...
        def pull(self, remote: str, local: Path) -> None: local.write_text((tmp_path / remote).read_text())
        def remove(self, remote: str) -> None: ...
        def size(self, remote: str) -> int | None:
            return (tmp_path / remote).stat().st_size if (tmp_path / remote).exists() else None

    got, seen = wait_for_result(Launch(Folder(), "r.json", "Documents/r.json"), 0.3)
    assert got.error == "the app wrote no Documents/r.json within 0 s" and seen is None
    got, _ = wait_for_result(Launch(Folder(), "r.json", "Documents/r.json", app="the app (pid 7)",
                                    alive=lambda: False), 30)
    assert got.error.startswith("the app (pid 7) exited without writing Documents/r.json")
    (tmp_path / "r.json").write_text('{"error": null}')
    got, seen = wait_for_result(Launch(Folder(), "r.json", "r"), 30)
    assert got == '{"error": null}' and seen is not None
