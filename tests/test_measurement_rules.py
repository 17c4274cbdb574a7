"""The measurement rules every target shares, each written once (devices/timing.py, devices/remote_paths.py,
devices/idle_baseline.py, devices/sampler.py, devices/energy_validity.py), tested on their own."""
from __future__ import annotations

import time
from pathlib import Path

from devices.remote_paths import KEY_CHARS, content_key, content_path
from devices.timing import clock_offset_s, timed_window_on_host, window_ending_at


def test_clock_offset_is_host_minus_remote_at_the_round_trips_middle():
    remote_now = time.time() - 100.0  # a board 100 s behind
    off = clock_offset_s(lambda: f"{remote_now:.6f}\n")
    assert off is not None and 99.5 < off < 100.5
    assert clock_offset_s(lambda: "date: invalid option") is None


def test_clock_offset_reads_once_between_two_host_readings():
    calls: list[float] = []

    def slow() -> str:
        calls.append(time.time())
        time.sleep(0.2)
        return str(calls[0])  # the remote answered with the host's time at the start of the call

    off = clock_offset_s(slow)
    assert len(calls) == 1 and off is not None and 0.05 < off < 0.2  # half the round trip, not all of it


def test_window_ending_at_is_the_duration_before_the_return_and_never_before_launch():
    assert window_ending_at(100.0, 2.5) == (97.5, 100.0)
    assert window_ending_at(100.0, "2.5") == (97.5, 100.0)  # type: ignore[arg-type]  # as JSON may carry it
    assert window_ending_at(100.0, 30.0, not_before_unix_s=90.0) == (90.0, 100.0)


def test_timed_window_on_host_prefers_the_targets_own_then_the_offset_then_none():
    assert timed_window_on_host((1.0, 2.0), (10.0, 11.0), 5.0) == (1.0, 2.0)
    assert timed_window_on_host(None, (10.0, 11.0), 5.0) == (15.0, 16.0)
    assert timed_window_on_host(None, (10.0, 11.0), 0.0) == (10.0, 11.0)  # same clock: offset 0, not unknown
    assert timed_window_on_host(None, (10.0, 11.0), None) is None
    assert timed_window_on_host(None, None, 5.0) is None


def test_content_path_names_the_bytes_not_the_file(tmp_path: Path):
    a, b = tmp_path / "a" / "m.tflite", tmp_path / "b" / "m.tflite"
    a.parent.mkdir()
    b.parent.mkdir()
    a.write_bytes(b"one")
    b.write_bytes(b"two")
    assert len(content_key(a)) == KEY_CHARS
    assert content_path("/data/local/tmp/models/", a) == f"/data/local/tmp/models/{content_key(a)}-m.tflite"
    assert content_path("w/models", a) != content_path("w/models", b)  # same name, other bytes: other path
    b.write_bytes(b"one")
    assert content_path("w/models", a) == content_path("w/models", b)  # same bytes: pushed once
    assert content_path("w/engines", a, "fp16.engine").endswith(f"/{content_key(a)}-fp16.engine")


def test_energy_on_external_power_keeps_no_sample_and_says_why_per_device():
    from devices.energy_validity import ON_EXTERNAL_POWER, battery_samples_verdict

    samples = [(1.0, 900.0, "battery"), (2.0, 950.0, "battery")]
    for device in ("android", "ios"):
        kept, said = battery_samples_verdict(samples, True, device, "unreadable")
        assert kept == [] and said["energy_invalid"] == ON_EXTERNAL_POWER[device]
        assert "charging" in said["energy_invalid"] and said["power_samples_while_powered"] == samples
    assert battery_samples_verdict([], False, "ios", "no readings: current_now") == (
        [], {"energy_invalid": "no readings: current_now"})
    assert battery_samples_verdict(samples, False, "android", "x") == (samples, {})


def test_few_samples_note_at_the_threshold():
    from devices.energy_validity import MIN_WINDOW_SAMPLES, few_samples_note
    from harness.statistics.energy import MIN_WINDOW_SAMPLES as stats_threshold

    assert stats_threshold == MIN_WINDOW_SAMPLES, "one threshold: the statistics use the validity rule's"
    assert few_samples_note(MIN_WINDOW_SAMPLES, 1.0) is None
    note = few_samples_note(MIN_WINDOW_SAMPLES - 1, 0.5)
    assert note is not None and note.startswith(f"{MIN_WINDOW_SAMPLES - 1} power samples in the 0.50 s")


def test_idle_split_by_host_time_and_everything_busy_without_a_baseline():
    from types import SimpleNamespace

    from devices.idle_baseline import idle_seconds, rest_before_job, split_idle

    samples = [(1.0, 10.0, "s"), (2.0, 11.0, "s"), (3.0, 50.0, "s")]
    assert split_idle(samples, 2.5, 2.0) == ([(3.0, 50.0, "s")], [(1.0, 10.0, "s"), (2.0, 11.0, "s")])
    assert split_idle(samples, 2.5, 0.0) == (samples, [])
    assert idle_seconds(SimpleNamespace(idle_power_s=None)) == 0.0 and idle_seconds(object()) == 0.0
    assert idle_seconds(SimpleNamespace(idle_power_s=1.5)) == 1.5
    t = time.time()
    assert rest_before_job(0.05) >= t + 0.05


def test_sampler_thread_counts_failures_stops_on_a_dead_link_and_never_waits_out_an_interval():
    from devices.sampler import SamplerThread

    class Flaky(SamplerThread):
        errors = (OSError,)

        def __init__(self) -> None:
            super().__init__(0.01, "test-sampler", first_wait_s=0.0)
            self.ticks: list[int] = []
            self.dead = False

        def tick(self, n: int) -> None:
            self.ticks.append(n)
            if n in (2, 5):
                raise OSError("probe failed")
            if n == 8:
                self.dead = True
                raise OSError("link gone")

        def gave_up(self) -> bool:
            return self.dead

    with Flaky() as s:
        deadline = time.monotonic() + 5
        while s._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
    assert s.ticks == list(range(9)) and s.failures == 3  # two failed probes cost a sample each, the third ends it

    class Slow(SamplerThread):
        def tick(self, n: int) -> None:
            pass

    t0 = time.monotonic()
    with Slow(60.0, "slow-sampler"):
        pass
    assert time.monotonic() - t0 < 2.0, "leaving the job stops the sampler at once"


def test_local_temperatures_leave_sys_path_alone():
    """devices/local_target.py once put the checkout on sys.path at every temperature read."""
    import sys
    from types import SimpleNamespace

    from devices.local_target import LocalTarget

    target = LocalTarget(SimpleNamespace(name="local", python=None, ignore_sensors=()))
    before = list(sys.path)
    for _ in range(3):
        assert isinstance(target.temperatures(), dict)
    assert sys.path == before
