"""What a run measures: models x variants x enabled devices, with bench overrides from the CLI."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from harness.planning.config import BenchSettings, Device, DevicesFile, delegate_problem, parse_devices
from harness.planning.model_files import check_model_file, label_clash
from errors import UserError, clean, quote

DEFAULT_MODELS = ("srcnn", "fsrcnn", "squeezenet")
DEFAULT_VARIANTS = ("fp32", "fp16", "dr_int8", "int8")

# --quick: the same models, two variants, short measurement windows; about a minute on 2 cores.
QUICK_VARIANTS = ("fp32", "dr_int8")
QUICK_BENCH = {"warmup_s": 0.1, "min_runs": 10, "min_s": 0.3, "cooldown_s": 0.0}
# A bench override as the user typed it on `harness run`; messages name the flag, not the field.
FLAGS = {"threads": "--threads", "min_runs": "--runs", "min_s": "--min-seconds", "max_s": "--max-seconds",
         "warmup_runs": "--warmup-runs", "warmup_s": "--warmup-seconds", "cooldown_s": "--cooldown",
         "cooldown_until_c": "--cooldown-until", "delegate": "--delegate", "sustained_s": "--sustained",
         "sustained_window_s": "--window"}


def _flag(field_name: str, overrides: Mapping[str, object]) -> str:
    """`--runs` for an override the user gave, `bench.min_runs` for one from the devices file."""
    return FLAGS.get(field_name, f"--{field_name}") if field_name in overrides else f"bench.{field_name}"


@dataclass(frozen=True)
class Plan:
    models: tuple[str, ...]
    variants: tuple[str, ...]
    devices: DevicesFile
    bench_overrides: dict[str, object] = field(default_factory=dict)
    image_dir: str | None = None
    peak_probe: bool = True  # time a large matmul once per device: results show their share of the peak
    repeat: int = 1  # each job measured this many times, interleaved across variants (A B C A B C)
    input_shapes: dict[str, list[int]] = field(default_factory=dict)  # dynamic inputs resized (by input name)
    task: str | None = None  # what the user's own models do (--task), for their accuracy; never from shapes
    # `run --pool`: each job of a pool runs once, on whichever of its devices is free (the devices above are its
    # members when the plan was made; a farm takes its live members again on resume)
    pools: tuple[str, ...] = ()

    def bench_for(self, device: Device) -> BenchSettings:
        """A device's own settings with the CLI's overrides on top, validated again."""
        merged = {**device.bench.model_dump(), **self.bench_overrides}
        try:
            return BenchSettings.model_validate(merged)
        except Exception as exc:
            raise UserError(f"bench settings for device {device.name}: {exc}") from None

    def job_key(self, device: Device) -> str:
        """What a job is planned on: the device, or its pool when the plan names the pool."""
        return str(device.pool) if self.pools and device.pool in self.pools else str(device.name)

    def jobs(self) -> list[tuple[str, str, str]]:
        keys = list(dict.fromkeys(self.job_key(d) for d in self.devices.enabled))  # a pool once, not per member
        return [(k, m, v) for k in keys for m in self.models for v in self.variants]

    def repeated_jobs(self) -> list[tuple[str, str, str, int]]:
        """Every job `repeat` times, whole rounds one after another: run-to-run variance is sampled
        across the same stretch of time for every variant, not one variant early and another late."""
        return [(d, m, v, r) for r in range(self.repeat) for d, m, v in self.jobs()]

    def to_dict(self) -> dict[str, object]:
        return {
            "models": list(self.models),
            "variants": list(self.variants),
            "devices": self.devices.model_dump(mode="json"),
            "bench_overrides": self.bench_overrides,
            "image_dir": self.image_dir,
            "peak_probe": self.peak_probe,
            "repeat": self.repeat,
            "input_shapes": self.input_shapes,
            **({"task": self.task} if self.task else {}),
            **({"pools": list(self.pools)} if self.pools else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Plan:
        """The plan a run stored (to_dict's JSON), narrowed as it is read."""
        overrides, shapes, image_dir, task = (data.get("bench_overrides"), data.get("input_shapes"),
                                              data.get("image_dir"), data.get("task"))
        repeat = data.get("repeat", 1)
        return cls(
            models=tuple(_listed(data["models"], "models")),
            variants=tuple(_listed(data["variants"], "variants")),
            devices=parse_devices(data["devices"], "stored plan"),
            bench_overrides=dict(overrides) if isinstance(overrides, dict) else {},
            image_dir=image_dir if isinstance(image_dir, str) else None,
            peak_probe=bool(data.get("peak_probe", True)),
            repeat=int(repeat) if isinstance(repeat, (int, float, str)) else 1,
            input_shapes={str(k): [int(x) for x in v]
                          for k, v in (shapes.items() if isinstance(shapes, dict) else ()) if isinstance(v, list)},
            task=task if isinstance(task, str) else None,
            pools=tuple(str(p) for p in _listed(data.get("pools") or (), "pools")),
        )


def _listed(value: object, what: str) -> list[str]:
    """A stored plan's list of names; TypeError for anything else."""
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"stored plan: {what} is not a list")
    return [v if isinstance(v, str) else str(v) for v in value]


def check_recipe() -> None:
    """$HARNESS_RECIPE is checked before any work, like a flag."""
    from converters.passes import ConversionError
    from converters.training import recipe_mode

    try:
        recipe_mode()
    except ConversionError as exc:
        raise UserError(str(exc)[:200]) from None


def check_variants(variants: tuple[str, ...]) -> tuple[str, ...]:
    """Variants in their canonical labels (`prune@sparsity=0.5`), parameters checked against each pass's
    declared ones. An unknown pass among known ones becomes an error row per job (the others still run);
    a plan with no known pass at all, or a bad parameter of a known pass, is a typo to report now."""
    from converters.passes import PASSES, ConversionError, load_extensions, parse_variant, variant_label

    load_extensions()
    names = [v.split("@", 1)[0] for v in variants]
    if not any(n in PASSES for n in names):
        raise UserError(f"--variants: unknown variant {quote(names[0], 60)} (known: {', '.join(sorted(PASSES))})")
    labels = []
    for v, n in zip(variants, names):
        if n not in PASSES:
            labels.append(v)
            continue
        try:
            labels.append(variant_label(*parse_variant(v)))
        except ConversionError as exc:
            raise UserError(f"--variants: {exc}") from None
    for i, label in enumerate(labels):  # one row per label: a second would be measured and not stored
        if label in labels[:i]:
            first = variants[labels.index(label)]
            same = f"{quote(first, 60)} and {quote(variants[i], 60)} are both {quote(label, 60)}" \
                if first != variants[i] else f"{quote(label, 60)} is given twice"
            raise UserError(f"--variants: {same}")
    return tuple(labels)


def make_plan(
    devices: DevicesFile,
    *,
    models: list[str] | None = None,
    variants: list[str] | None = None,
    quick: bool = False,
    overrides: Mapping[str, object] | None = None,
    image_dir: str | None = None,
    peak_probe: bool = True,
    repeat: int = 1,
    input_shapes: dict[str, list[int]] | None = None,
    task: str | None = None,
    pools: tuple[str, ...] = (),
) -> Plan:
    """Check names and overrides now, so a typo fails before anything is converted."""
    check_recipe()
    chosen_variants = check_variants(tuple(variants or (QUICK_VARIANTS if quick else DEFAULT_VARIANTS)))
    chosen_models = tuple(models or DEFAULT_MODELS)
    from converters.build import is_user_model
    from converters.zoo import get_spec

    for m in chosen_models:
        if is_user_model(m):
            problem = check_model_file(m, input_shapes)
            if problem:
                raise UserError(f"--models {clean(m)}: {problem}")
            continue
        try:
            get_spec(m)  # zoo names, with optional @key=value overrides
        except KeyError as exc:
            raise UserError(f"--models: {clean(exc.args[0], 300)} (or give a model file path)") from None
    clash = label_clash(chosen_models)
    if clash:
        raise UserError(f"--models: {clash}")
    check_applies(chosen_models, chosen_variants)
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    bench = {**(QUICK_BENCH if quick else {}), **given}
    _check_bench(bench, given, None)
    if not devices.enabled:
        raise UserError("devices file: no enabled device")
    if pools:
        devices = pool_members(devices, pools)
    for dev in devices.enabled:  # the flags on top of each device's own settings must still agree
        _check_bench({**dev.bench.model_dump(), **bench}, given, dev.name)
    if not 1 <= repeat <= 100:
        raise UserError(f"--repeat: expected 1 to 100 (got {repeat})")
    plan = Plan(chosen_models, chosen_variants, devices, bench, image_dir, peak_probe, repeat,
                dict(input_shapes or {}), check_task(task, chosen_models, image_dir), tuple(pools))
    for dev in devices.enabled:
        if plan.bench_for(dev).sustained_s and (why := sustained_problem(dev)):
            flag = "--sustained" if "sustained_s" in bench else "bench.sustained_s"
            raise UserError(f"{flag}: device {quote(dev.name, 40)}: {why}")
        problem = delegate_problem(dev, plan.bench_for(dev))
        if problem:
            flag = "--delegate" if "delegate" in bench else "devices file"
            raise UserError(f"{flag}: device {dev.name}: {problem}")
    return plan


def pool_members(devices: DevicesFile, pools: tuple[str, ...], flag: str = "--pool") -> DevicesFile:
    """The enabled devices of the named pools; a pool no device belongs to is a typo, said now."""
    known = sorted({d.pool for d in devices.enabled if d.pool})
    for name in pools:
        if name not in known:
            have = f"pools: {', '.join(quote(k, 40) for k in known[:10])}" if known else "no device names a pool"
            raise UserError(f"{flag} {clean(name, 40)}: no enabled device of that pool ({have})")
    return devices.model_copy(update={"devices": [d for d in devices.enabled if d.pool in pools]})


def sustained_problem(device: Device) -> str | None:
    """Why this device cannot run sustained mode (None when it can): the LiteRT runner (this host, a Pi,
    a Jetson) loops itself, an Android phone runs benchmark_model windows, the Android and iOS apps their own
    sustained loops; the other runtimes do not yet."""
    kind, runtime = getattr(device, "kind", ""), getattr(device, "runtime", None)
    if (kind == "local" and runtime in (None, "litert")) or \
            (kind in ("raspberry_pi", "jetson") and runtime in (None, "litert", "benchmark_model")):
        return None  # benchmark_model on a board: back-to-back windows (devices/board_sustained.py)
    if (kind == "android" and runtime == "benchmark_model") or kind == "ios":  # iOS: the companion app's loop
        return None
    if kind == "android" and runtime == "app":  # the companion app's SustainedLoop (devices/runtime/companion_app.py)
        return None
    if kind == "jetson" and runtime == "tensorrt":  # one trtexec --duration loop (devices/trtexec_sustained.py)
        return None
    if kind == "jetson" and runtime == "tftrt":  # rpi/tftrt_runner.py runs the runner's own sustained loop
        return None
    return (f"no sustained mode for {kind}{f' runtime {runtime}' if runtime else ''} yet (it runs on the LiteRT "
            "runner: local, raspberry_pi, jetson with runtime litert; benchmark_model on Android and the boards; "
            "trtexec and TF-TRT on a Jetson (runtime tensorrt, tftrt); Android and iOS through the companion app)")


def check_applies(models: tuple[str, ...], variants: tuple[str, ...]) -> None:
    """Refuse a pass that has nothing to do on a model file (subpixel without a transposed convolution,
    truncated_svd without a large Dense layer), read from the file's Keras config before anything converts."""
    from converters.applies import why_not
    from converters.build import is_user_model

    for m in models:
        if not is_user_model(m):
            continue
        for v in variants:
            why = why_not(m, v)
            if why:
                raise UserError(f"--variants {quote(v, 60)}: does not apply to {clean(m)}: {why}; "
                                "leave it out for this model")


def check_task(task: str | None, models: tuple[str, ...], image_dir: str | None = None) -> str | None:
    """`--task sr|classify|detect` as the task's name; it tells what the user's own model files do.
    For detect with --images, the box labels are read now, so a bad line fails before any conversion."""
    if task is None:
        return None
    from converters.build import USER_TASKS, is_user_model

    if task not in USER_TASKS:
        raise UserError(f"--task: unknown task {quote(task, 40)} (known: {', '.join(USER_TASKS)})")
    if not any(is_user_model(m) for m in models):
        raise UserError("--task: names what your own model files do; the zoo models' tasks are known "
                        "(give a model file in --models)")
    if task == "detect" and image_dir is not None:
        from converters.box_labels import LabelError, read_labelled

        try:
            read_labelled(image_dir)
        except LabelError as exc:
            raise UserError(f"--task detect --images: {exc}") from None
    return USER_TASKS[task]


def _check_bench(bench: Mapping[str, object], given: Mapping[str, object], device: str | None) -> None:
    """Validate merged bench settings; the message names the flag the user typed."""
    from pydantic import ValidationError

    try:
        BenchSettings.model_validate(bench)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = f" (with device {quote(device, 40)}'s settings)" if device else ""
        if first["loc"]:
            flag = _flag(str(first["loc"][0]), given)
            raise UserError(f"{flag}: {first['msg']}{where}") from None
        # the cross-field check: max_s below min_s
        lo, hi = _flag("min_s", given), _flag("max_s", given)
        raise UserError(f"{hi} ({bench.get('max_s')}) is below {lo} ({bench.get('min_s')}){where}") from None
