"""devices.yaml's device models: what each kind of device and its runtime are configured with, and the bench
settings of a measurement. They live beside the platforms and runtimes that read them, so devices/ types its
configs for real; harness/planning/config.py composes them into the plan (adding the budget check, which reads
harness's own budget rules) and turns every problem into one UserError line."""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from devices.runtimes import delegate_problem as runtime_delegate_problem
from errors import clean, unsafe


class BenchSettings(BaseModel):
    """How a measurement is taken. Defaults follow benchmark_model and MLPerf Mobile."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # `.inf`/`.nan` are no bench setting

    threads: int = Field(default=2, ge=1, le=256)
    delegate: Literal["xnnpack", "none", "gpu", "nnapi"] = "xnnpack"
    delegate_library: str | None = Field(default=None, min_length=1, description=(
        "LiteRT runner (local, raspberry_pi, jetson litert): the shared library of the gpu/nnapi "
        "delegate, loaded with load_delegate, e.g. /usr/lib/libtensorflowlite_gpu_delegate.so"))
    warmup_runs: int = Field(default=1, ge=0)
    warmup_s: float = Field(default=0.5, ge=0)
    min_runs: int = Field(default=50, ge=1)
    min_s: float = Field(default=1.0, ge=0)
    max_s: float = Field(default=150.0, gt=0)
    max_runs: int = Field(default=0, ge=0)
    sample_interval_s: float = Field(default=0.5, gt=0)
    cooldown_s: float = Field(default=2.0, ge=0)
    cooldown_until_c: float | None = Field(default=None, description="wait until the hottest zone is below")
    cooldown_max_s: float = Field(default=120.0, ge=0)
    throttle_temp_c: float = Field(default=80.0, description="a zone above this during a run flags throttling")
    cv_threshold: float = Field(default=0.10, gt=0, description="CV above this is noted (one outlier suffices)")
    spread_threshold: float = Field(default=0.10, gt=0, description="a robust spread (1.4826 MAD/median) "
                                    "above this marks a row unstable")
    host_busy_pct: float = Field(default=25.0, gt=0, le=100, description="other processes' share of all CPUs "
                                 "(percent) above which a row measured on this host is flagged `host busy`")
    idle_power_s: float = Field(default=0.0, ge=0, le=600, description="seconds of power sampled at rest "
                                "before each job; their median is subtracted from energy per inference")
    timeout_s: float = Field(default=600.0, gt=0, description="a job that takes longer becomes an error row")
    sustained_s: float | None = Field(default=None, gt=0, le=86400, description=(
        "sustained mode: run each model this many seconds without stopping, in windows (cold vs steady "
        "p50, time to the first throttle event, temperature reached); the job's timeout grows to fit"))
    sustained_window_s: float | None = Field(default=None, gt=0, description=(
        "sustained mode: window length in seconds (default sustained_s / 20, at least 0.5 s)"))

    @property
    def job_timeout_s(self) -> float:
        """timeout_s, or in sustained mode long enough for the whole loop plus loading and sampling."""
        return max(self.timeout_s, (self.sustained_s or 0) * 1.1 + 120) if self.sustained_s else self.timeout_s

    @model_validator(mode="after")
    def _check(self) -> BenchSettings:
        if self.max_s < self.min_s:
            raise ValueError(f"max_s ({self.max_s}) is below min_s ({self.min_s})")
        return self


class DeviceBase(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    if TYPE_CHECKING:  # each kind's model declares its own `kind` Literal (the union's discriminator)
        kind: str

    name: str = Field(min_length=1, max_length=100)
    enabled: bool = True
    bench: BenchSettings = Field(default_factory=BenchSettings)
    ignore_sensors: list[str] = Field(default_factory=list, description="thermal zones that are not "
                                      "temperatures on this board, besides the kind's own list")
    # checked where harness/ composes these models (harness/planning/config.py: harness/planning/budget.py reads it)
    pool: str | None = Field(default=None, min_length=1, max_length=100, description=(
        "the device type or pool it belongs to (e.g. pixel7): a plan naming the pool (`run --pool pixel7`) runs "
        "each job once, on whichever of the pool's devices is free"))
    budget: dict[str, float | str] | None = Field(default=None, description=(
        "what `harness recommend` may ship on this device: p50_ms, p99_ms, accuracy_drop (0.5pt, 0.3dB, 1%), "
        "size_mb, memory_mb, energy_mj; a number in the key's unit or a string with a unit (30ms, 5MB)"))

    @field_validator("name")
    @classmethod
    def _printable(cls, v: str) -> str:
        """A name is printed in tables, logs and file names: no control characters or terminal escapes."""
        if unsafe(v):
            raise ValueError("control characters are not allowed in a device name")
        return v

    @field_validator("pool")
    @classmethod
    def _printable_pool(cls, v: str | None) -> str | None:
        if v is not None and unsafe(v):
            raise ValueError("control characters are not allowed in a pool name")
        return v

    @model_validator(mode="after")
    def _delegate_possible(self) -> DeviceBase:
        problem = delegate_problem(self, self.bench)
        if problem:
            raise ValueError(problem)
        return self


def delegate_problem(device: object, bench: BenchSettings) -> str | None:
    """Why this device's runtime cannot run `bench.delegate` (None when it can): the runtime registry
    (devices/runtimes.py) knows what each runtime supports."""
    return runtime_delegate_problem(getattr(device, "kind", None), getattr(device, "runtime", None),
                                    bench.delegate, bench.delegate_library)


class LocalDevice(DeviceBase):
    kind: Literal["local"]
    runtime: Literal["litert", "onnxruntime"] = Field(
        default="litert", description="onnxruntime: the variant's ONNX export timed with ONNX Runtime's Python API "
        "(CPU execution provider), not the LiteRT runner")
    python: str | None = Field(default=None, description="interpreter that runs the runner")
    op_profiling: bool = Field(default=False, description="per-op profile from the LiteRT C API profiler "
                               "(ai-edge-litert>=2.3), a separate pass after the timed runs")
    separate_machine: bool = Field(default=False, description="this device's `python` runs the runner on "
                                   "another machine (a wrapper): it is measured beside the other local devices, "
                                   "not in turn with them")


class SshDevice(DeviceBase):
    host: str
    port: int = Field(default=22, ge=1, le=65535)
    user: str
    key_file: str | None = None
    known_hosts: str = "~/.ssh/known_hosts"
    accept_unknown_host_key: bool = False
    password_env: str | None = Field(default=None, description="environment variable holding a password")
    workdir: str = "~/harness"
    python: str = "python3"
    connect_timeout_s: float = Field(default=10.0, gt=0)
    dead_link_s: float = Field(default=10.0, ge=2, description="a link silent this long is dead (TCP_USER_TIMEOUT)")
    reconnect_attempts: int = Field(default=3, ge=1, le=20)
    reconnect_backoff_s: float = Field(default=1.0, ge=0, description="first wait between attempts, doubled each time")
    venv: bool = Field(default=True, description="`devices setup` makes WORKDIR/venv; runs use it when present")
    use_sudo: bool = Field(default=False, description="run tegrastats/jetson_clocks with `sudo -n` (no prompt)")
    wheels: str | None = Field(default=None, description="a folder on this host with the board's wheels (pip "
                               "download --platform ...): `devices setup` copies its .whl files to WORKDIR/wheels "
                               "and installs from there, for boards that cannot reach a package index")
    emulated: str | None = Field(default=None, min_length=1, max_length=200, description="this board is an "
                                 "emulator (e.g. 'qemu-system-aarch64 TCG'): every row says so, its timings are "
                                 "not a real board's")

    @field_validator("password_env")
    @classmethod
    def _password_set(cls, v: str | None) -> str | None:
        """An unset variable is a config error now, not an authentication failure after the conversions."""
        if v is not None and not os.environ.get(v):
            raise ValueError(f"names ${clean(v, 60)}, which is not set (or empty) in this environment")
        return v

    @field_validator("wheels")
    @classmethod
    def _wheels_folder(cls, v: str | None) -> str | None:
        """A folder that is not there, or holds no wheel, is a config error now, not a failed setup later."""
        if v is not None:
            p = Path(v).expanduser()
            if not p.is_dir():
                raise ValueError("no such folder" if not p.exists() else "not a folder (a folder of .whl files "
                                 "is expected)")
            if not any(p.glob("*.whl")):
                raise ValueError("no .whl file in this folder")
        return v

    @field_validator("emulated")
    @classmethod
    def _emulated_printable(cls, v: str | None) -> str | None:
        if v is not None and unsafe(v):
            raise ValueError("control characters are not allowed")
        return v

    @field_validator("key_file")
    @classmethod
    def _key_exists(cls, v: str | None) -> str | None:
        """A key that is not there is a config error now, not an 'unreachable' row after the conversions."""
        if v is not None:
            p = Path(v).expanduser()
            if not p.exists():
                raise ValueError("no such file")
            if not p.is_file():
                raise ValueError("not a file (a private key file is expected)")
        return v


class SshBenchmarkModel(BaseModel):
    """`runtime: benchmark_model` on a Linux board: the user's own TFLite benchmark_model binary."""

    benchmark_model: str | None = Field(default=None, description="path of benchmark_model on the board "
                                        "(runtime benchmark_model)")
    op_profiling: bool = Field(default=False, description="per-op profile: --enable_op_profiling (runtime "
                               "benchmark_model) or the LiteRT C API profiler (runtime litert, ai-edge-litert>=2.3)")
    benchmark_model_flags: list[str] = Field(default_factory=list, description="more benchmark_model flags")

    @model_validator(mode="after")
    def _binary_named(self) -> SshBenchmarkModel:
        if getattr(self, "runtime", None) == "benchmark_model" and not self.benchmark_model:
            raise ValueError("runtime benchmark_model needs benchmark_model: the binary's path on the board")
        return self


class RaspberryPiDevice(SshDevice, SshBenchmarkModel):
    kind: Literal["raspberry_pi"]
    runtime: Literal["litert", "benchmark_model"] = Field(
        default="litert", description="benchmark_model: the board's TFLite benchmark_model binary, not the runner")
    board_model: str | None = Field(default=None, description="overrides /proc/device-tree/model")
    vcgencmd: str = Field(default="vcgencmd", description="path of vcgencmd on the board")


class JetsonDevice(SshDevice, SshBenchmarkModel):
    kind: Literal["jetson"]
    tegrastats_interval_ms: int = Field(default=500, ge=10)
    power_rail: str | None = Field(default=None, description="input rail for energy, e.g. VDD_IN or POM_5V_IN")
    trtexec: str = "/usr/src/tensorrt/bin/trtexec"
    tensorrt_precisions: list[Literal["fp32", "fp16", "int8"]] = Field(
        default_factory=lambda: ["fp16"])  # type: ignore[arg-type]  # pydantic's stubs lose the Literal
    runtime: Literal["litert", "tensorrt", "tftrt", "benchmark_model"] = Field(
        default="litert", description="tensorrt: build and time an engine with trtexec; benchmark_model: the "
        "board's TFLite benchmark_model binary; tftrt: convert the "
        "variant's SavedModel with TF-TRT on the board (first of tensorrt_precisions is the row's figure)")
    tftrt_allow_plain_tf: bool = Field(default=False, description="runtime tftrt where the board's TensorFlow has "
                                       "no TensorRT: time the plain SavedModel (runtime tensorflow), not an error")
    tegrastats: str = Field(default="tegrastats", description="path of tegrastats on the board")
    jetson_clocks: str = Field(default="jetson_clocks", description="path of jetson_clocks on the board")


class AndroidDevice(DeviceBase):
    kind: Literal["android"]
    serial: str = Field(min_length=1, description="adb serial or host:port")
    adb_host: str = "127.0.0.1"
    adb_port: int = Field(default=5037, ge=1, le=65535)
    runtime: Literal["benchmark_model", "app"] = "benchmark_model"
    benchmark_model: str | None = Field(default=None, description="path of the Android benchmark_model binary")
    cpu_mask: str | None = Field(default=None, pattern=r"^(0x)?[0-9a-fA-F]+$",
                                 description="taskset mask, e.g. f0 for the big cores")
    min_battery_pct: int = Field(default=20, ge=0, le=100)
    max_start_temp_c: float | None = Field(default=None, description="wait (up to bench.cooldown_max_s) "
                                           "until the hottest sensor is below this before each job")
    workdir: str = "/data/local/tmp/harness"
    op_profiling: bool = Field(default=False, description="--enable_op_profiling (slows the run)")
    report_peak_memory: bool = Field(default=True, description="--report_peak_memory_footprint")
    extra_flags: list[str] = Field(default_factory=list, description="more benchmark_model flags")
    app_package: str = "dev.harness.companion"
    app_activity: str = ".BenchmarkActivity"
    app_live_activity: str = Field(default=".LiveActivity", description="the app's screen that follows "
                                   "`harness serve` (--on-device)")
    apk: str | None = Field(default=None, description="companion app APK to install or update before the "
                            "first job (runtime: app)")
    apk_version_code: int | None = Field(default=None, ge=1, description="the APK's versionCode, where it "
                                         "cannot be read from the APK")
    app_dir: str | None = Field(default=None, description="where the app reads models and writes results "
                                "(default /sdcard/Android/data/<app_package>/files/harness)")
    battery_supply: str | None = Field(default=None, description="power_supply name, e.g. battery")
    connect_timeout_s: float = Field(default=10.0, gt=0)
    link_timeout_s: float = Field(default=5.0, gt=0, description="a silent phone that does not answer a "
                                  "liveness check within this is offline")
    link_check_s: float = Field(default=5.0, gt=0, description="check the link after this much silence")


class IosDevice(DeviceBase):
    kind: Literal["ios"]
    udid: str = Field(min_length=1, pattern=r"^[0-9A-Fa-f-]+$", description="the phone's UDID (usbmuxd serial)")
    bundle_id: str = Field(default="dev.harness.companion", pattern=r"^[A-Za-z0-9.-]+$",
                           description="the companion app's bundle identifier")
    compute_units: Literal["cpuOnly", "cpuAndGPU", "cpuAndNeuralEngine", "all"] = Field(
        default="all", description="MLModelConfiguration.computeUnits the app uses")


DeviceConfig = Annotated[
    LocalDevice | RaspberryPiDevice | JetsonDevice | AndroidDevice | IosDevice,
    Field(discriminator="kind"),
]
