"""What a run measures: models x variants x enabled devices, with bench overrides from the CLI."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.planning.config import BenchSettings, DevicesFile, delegate_problem, parse_devices
from errors import UserError

DEFAULT_MODELS = ("srcnn", "fsrcnn", "squeezenet")
DEFAULT_VARIANTS = ("fp32", "fp16", "dr_int8", "int8")

# --quick: the same models, two variants, short measurement windows; about a minute on 2 cores.
QUICK_VARIANTS = ("fp32", "dr_int8")
QUICK_BENCH = {"warmup_s": 0.1, "min_runs": 10, "min_s": 0.3, "cooldown_s": 0.0}


@dataclass(frozen=True)
class Plan:
    models: tuple[str, ...]
    variants: tuple[str, ...]
    devices: DevicesFile
    bench_overrides: dict[str, Any] = field(default_factory=dict)
    image_dir: str | None = None
    peak_probe: bool = True  # time a large matmul once per device: results show their share of the peak
    repeat: int = 1  # each job measured this many times, interleaved across variants (A B C A B C)

    def bench_for(self, device: Any) -> BenchSettings:
        """A device's own settings with the CLI's overrides on top, validated again."""
        merged = {**device.bench.model_dump(), **self.bench_overrides}
        try:
            return BenchSettings(**merged)
        except Exception as exc:
            raise UserError(f"bench settings for device {device.name}: {exc}") from None

    def jobs(self) -> list[tuple[str, str, str]]:
        return [(d.name, m, v) for d in self.devices.enabled for m in self.models for v in self.variants]

    def repeated_jobs(self) -> list[tuple[str, str, str, int]]:
        """Every job `repeat` times, whole rounds one after another: run-to-run variance is sampled
        across the same stretch of time for every variant, not one variant early and another late."""
        return [(d, m, v, r) for r in range(self.repeat) for d, m, v in self.jobs()]

    def to_dict(self) -> dict[str, Any]:
        return {
            "models": list(self.models),
            "variants": list(self.variants),
            "devices": self.devices.model_dump(mode="json"),
            "bench_overrides": self.bench_overrides,
            "image_dir": self.image_dir,
            "peak_probe": self.peak_probe,
            "repeat": self.repeat,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Plan":
        return cls(
            models=tuple(data["models"]),
            variants=tuple(data["variants"]),
            devices=parse_devices(data["devices"], "stored plan"),
            bench_overrides=dict(data.get("bench_overrides") or {}),
            image_dir=data.get("image_dir"),
            peak_probe=bool(data.get("peak_probe", True)),
            repeat=int(data.get("repeat", 1)),
        )


def make_plan(
    devices: DevicesFile,
    *,
    models: list[str] | None = None,
    variants: list[str] | None = None,
    quick: bool = False,
    overrides: dict[str, Any] | None = None,
    image_dir: str | None = None,
    peak_probe: bool = True,
    repeat: int = 1,
) -> Plan:
    """Check names and overrides now, so a typo fails before anything is converted."""
    from converters.passes import PASSES, load_extensions

    load_extensions()
    chosen_variants = tuple(variants or (QUICK_VARIANTS if quick else DEFAULT_VARIANTS))
    # An unknown pass among known ones becomes an error row per job (the others still run);
    # a plan with no known pass at all is a typo to report now.
    if not any(v in PASSES for v in chosen_variants):
        raise UserError(f"--variants: unknown variant {chosen_variants[0]!r} (known: {', '.join(sorted(PASSES))})")
    chosen_models = tuple(models or DEFAULT_MODELS)
    from converters.build import is_user_model
    from converters.zoo import get_spec

    for m in chosen_models:
        if is_user_model(m):
            from pathlib import Path

            if not Path(m).expanduser().exists():
                raise UserError(f"--models: {m}: no such file or directory")
            continue
        try:
            get_spec(m)  # zoo names, with optional @key=value overrides
        except KeyError as exc:
            raise UserError(f"--models: {exc.args[0]} (or give a model file path)") from None
    bench = {**(QUICK_BENCH if quick else {}), **{k: v for k, v in (overrides or {}).items() if v is not None}}
    try:
        BenchSettings(**bench)
    except Exception as exc:
        first = getattr(exc, "errors", lambda: [{"loc": ("?",), "msg": str(exc)}])()[0]
        field_name = ".".join(str(p) for p in first["loc"]) or "bench"
        raise UserError(f"--{field_name.replace('_', '-')}: {first['msg']}") from None
    if not devices.enabled:
        raise UserError("devices file: no enabled device")
    if not 1 <= repeat <= 100:
        raise UserError(f"--repeat: expected 1 to 100 (got {repeat})")
    plan = Plan(chosen_models, chosen_variants, devices, bench, image_dir, peak_probe, repeat)
    for dev in devices.enabled:
        problem = delegate_problem(dev, plan.bench_for(dev))
        if problem:
            flag = "--delegate" if "delegate" in bench else "devices file"
            raise UserError(f"{flag}: device {dev.name}: {problem}")
    return plan
