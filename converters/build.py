"""Build (model, variant) artifacts, cached by content so a repeated plan converts nothing.

The cache key covers the model definition (zoo code and arguments, or the user file's bytes),
the pass and its parameters, and the TensorFlow version; it is computed without importing
TensorFlow, so a fully cached plan never pays for it.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from importlib import metadata
from collections.abc import Callable, Mapping
from typing import cast
from pathlib import Path
from converters.cache import default_cache_dir
from converters.passes import ConversionError, Params, Source, get_pass, parse_variant
from converters.variant_metrics import VariantMetrics, with_control

CONVERTERS_DIR = Path(__file__).resolve().parent
TF_LOCK = threading.Lock()  # TensorFlow graph building is not safe from several threads at once
# A cached entry carrying one of these was not fully scored: it is scored again when served (_score_again).
_SCORING_ERRORS = ("accuracy_error", "analysis_error", "control_error")


@dataclass(frozen=True)
class BuiltVariant:
    """A .tflite on disk with how it was made and what it keeps (size, accuracy, MACs...)."""

    model: str
    variant: str
    path: Path
    params: Params
    metrics: VariantMetrics = field(default_factory=VariantMetrics)
    cached: bool = False


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sha256_tree(path: Path) -> str:
    h = hashlib.sha256()
    if path.is_file():
        h.update(path.read_bytes())
    else:
        for p in sorted(path.rglob("*")):
            if p.is_file():
                h.update(str(p.relative_to(path)).encode())
                h.update(p.read_bytes())
    return h.hexdigest()


def _code_fingerprint() -> str:
    """Model definitions and passes live in converters/*.py: their text is part of every key."""
    h = hashlib.sha256()
    for p in sorted(CONVERTERS_DIR.glob("*.py")):
        # no effect on artifacts
        if p.name in {"__init__.py", "build.py", "analysis.py", "exports.py", "cli_convert.py"}:
            continue
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _tf_version() -> str:
    try:
        return metadata.version("tensorflow")
    except metadata.PackageNotFoundError:
        return "none"


def _coremltools_version() -> str:
    try:
        return metadata.version("coremltools")
    except metadata.PackageNotFoundError:
        return "none"


def artifact_suffix(path: Path) -> str:
    """The whole suffix of a cached artifact (`.tflite`, `.onnx`, `.mlpackage.zip`): keys have no dots."""
    name = Path(path).name
    return name[name.index("."):] if "." in name else ""


def is_user_model(name: str) -> bool:
    if name.endswith((".tflite", ".keras", ".h5", ".hdf5")) or os.sep in name:
        return True
    try:
        return Path(name).is_dir()
    except (OSError, ValueError):  # a name too long for a path, or with a NUL: not a folder
        return False


def source_fingerprint(model: str) -> str:
    if is_user_model(model):
        p = Path(model).expanduser()
        if not p.exists():
            raise ConversionError(f"{model}: no such file or directory")
        return "file:" + _sha256_tree(p)
    from converters.zoo import get_spec  # noqa: F401 (raises for unknown names)

    try:
        get_spec(model)
    except KeyError as exc:
        raise ConversionError(str(exc.args[0])) from None
    return f"zoo:{model}:{_code_fingerprint()}"


def cache_key(model: str, variant: str, params: Mapping[str, object], context: Mapping[str, str] | None = None) -> str:
    """`context`: what else shapes the artifact (the user's image folder, the recipe length)."""
    tools = {"coremltools": _coremltools_version()} if variant.startswith("coreml") else {}
    blob = json.dumps(
        {"source": source_fingerprint(model), "variant": variant, "params": params, "tf": _tf_version(),
         **tools, **({"context": context} if context else {})},
        sort_keys=True,
    )
    return _sha256_bytes(blob.encode())[:24]


def build_context(image_dir: Path | None) -> dict[str, str]:
    """Inputs besides model and pass that change artifacts: training data and recipe length."""
    ctx: dict[str, str] = {}
    if image_dir is not None:
        ctx["images"] = _sha256_tree(Path(image_dir)) if Path(image_dir).exists() else str(image_dir)
        from converters.box_labels import coco_outside

        labels = coco_outside(Path(image_dir))
        if labels is not None:  # COCO's annotations/ folder beside the images: its boxes score detectors
            ctx["labels"] = _sha256_tree(labels)
    recipe = os.environ.get("HARNESS_RECIPE", "default")
    if recipe != "default":
        ctx["recipe"] = recipe
    from converters.shipped import retrain_requested

    if retrain_requested():  # zoo weights trained here rather than shipped: their own artifacts
        ctx["weights"] = "retrained"
    return ctx


def load_source(model: str, image_dir: Path | None = None, cache_dir: Path | None = None) -> Source:
    """A zoo model (built in code, trained by its recipe when one is registered) or a user file."""
    import tf_keras as keras

    if is_user_model(model):
        return _user_source(Path(model).expanduser(), model, image_dir)
    from converters.zoo import get_spec

    try:
        spec = get_spec(model)
    except KeyError as exc:
        raise ConversionError(str(exc.args[0])) from None
    keras.utils.set_random_seed(0)
    try:
        km = spec.create()
    except Exception as exc:  # bad overrides (size not a multiple of 8, ...): one line for this model
        raise ConversionError(f"{model}: cannot build ({_first_line(exc)})") from None
    from converters import shipped, training

    if not shipped.load(spec, km, image_dir):  # the recipe's result as shipped with the package, else trained
        km = training.trained(spec, km, image_dir, cache_dir, retrained=shipped.retrain_requested(),
                              load_shipped=lambda s, m: shipped.load(s, m, None))
    return Source(name=model, keras_model=km, task=spec.task, input_shape=tuple(km.input_shape),
                  image_dir=image_dir, spec=spec)


def _user_source(p: Path, model: str, image_dir: Path | None) -> Source:
    """A tf_keras or Keras 3 file (.keras, .h5) or SavedModel directory.

    tf_keras models serve every pass. A Keras 3 model is rebuilt in tf_keras from its config and weights
    where its layers allow; otherwise it converts through a SavedModel export, and the passes that need
    tf_keras say so in their row.
    """
    import tf_keras

    from converters import keras3

    if p.is_dir():
        if not (p / "saved_model.pb").exists():
            raise ConversionError(f"{model}: directory is not a SavedModel (no saved_model.pb)")
        if (p / "keras_metadata.pb").exists():  # saved by tf_keras: the Keras model itself serves every pass
            try:
                km = tf_keras.models.load_model(str(p), compile=False)
                return Source(name=p.name, keras_model=km, input_shape=tuple(km.input_shape), image_dir=image_dir)
            except Exception:  # custom layers not importable here: the graph still converts
                pass
        return Source(name=p.name, saved_model_dir=p, input_shape=signature_input_shape(p), image_dir=image_dir,
                      keras_note=f"{keras3.TF_KERAS_ONLY}; a plain SavedModel has no Keras layers to fine-tune")
    try:
        km = tf_keras.models.load_model(str(p), compile=False)
        return Source(name=p.stem, keras_model=km, input_shape=tuple(km.input_shape), image_dir=image_dir)
    except Exception as exc:
        tf_keras_error = _first_line(exc)
    try:
        import keras

        k3 = keras.models.load_model(str(p), compile=False)
    except Exception as exc:
        raise ConversionError(f"{model}: not a Keras model (tf_keras: {tf_keras_error[:150]}; "
                              f"Keras 3: {_first_line(exc)[:150]})") from None
    try:
        km = keras3.rebuild_in_tf_keras(k3)
        return Source(name=p.stem, keras_model=km, input_shape=tuple(km.input_shape), image_dir=image_dir)
    except Exception as exc:  # a layer tf_keras lacks: passes that only convert still run
        why = _first_line(exc)[:150]
    import tempfile

    export_dir = Path(tempfile.mkdtemp(prefix="harness-keras3-"))
    k3.export(str(export_dir), verbose=False)
    return Source(name=p.stem, saved_model_dir=export_dir, input_shape=tuple(k3.input_shape), image_dir=image_dir,
                  keras_note=f"{keras3.TF_KERAS_ONLY}; this Keras 3 model could not be rebuilt in tf_keras ({why})")


def signature_input_shape(saved_model_dir: Path) -> tuple[int | None, ...] | None:
    """The input shape of a SavedModel's serving signature (`model.export()` writes one), batch left free:
    what int8 calibration and the accuracy data are made for. None for several inputs or none."""
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(saved_model_dir))
        fn = loaded.signatures.get("serving_default") or next(iter(loaded.signatures.values()), None)
    except Exception:  # not loadable here: the converter says why in its own row
        return None
    if fn is None:
        return None
    args, kwargs = fn.structured_input_signature
    specs = [s for s in tf.nest.flatten((args, kwargs)) if isinstance(s, tf.TensorSpec)]
    if len(specs) != 1 or specs[0].shape.rank is None:
        return None
    return tuple(specs[0].shape.as_list())


# `--task` as the user types it, and the task it names.
USER_TASKS = {"sr": "super_resolution", "classify": "classification", "detect": "detection"}
TASK_FLAG = {v: k for k, v in USER_TASKS.items()}


def user_accuracy_gate(task: str | None, image_dir: Path | None) -> str | None:
    """Why a user's model gets no accuracy figure (None: it gets one). Its shapes never choose a task:
    an untrained image-to-image net is not a super-resolution model because its output is image-shaped."""
    if task is None:
        return "not measured: name the model's task and eval data (--task sr|classify|detect --images DIR)"
    flag = TASK_FLAG.get(task, task)
    if image_dir is None:
        return f"not measured: --task {flag} needs its eval data (--images DIR)"
    if task == "classification":
        from converters.datasets import class_folders

        if not (Path(image_dir).is_dir() and class_folders(image_dir)):
            return "not measured: --task classify needs labelled images (--images DIR with one folder per class)"
    if task == "detection":
        from converters.box_labels import LabelError, read_labelled

        try:
            read_labelled(image_dir)
        except (LabelError, OSError) as exc:  # the plan refuses bad labels first; a library caller gets why
            return f"not measured: {_first_line(exc)}"
    return None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:300]


def _validate_tflite(path: Path, label: str) -> None:
    """A user .tflite that the interpreter cannot load is a clear error, not a runner crash; loaded in a child
    process (converters.isolate), so a file that crashes LiteRT natively is this variant's error row."""
    from converters import isolate

    try:
        isolate.call("converters.analysis", "tflite_io", str(path), what=label)
    except isolate.NativeCrash:
        raise
    except ConversionError as exc:
        raise ConversionError(f"{label}: not a valid .tflite model ({exc})") from None
    except Exception as exc:
        raise ConversionError(f"{label}: not a valid .tflite model ({(str(exc).splitlines() or ['?'])[0][:200]})"
                              ) from None


# progress(model, variant, phase, done, total): training steps and conversion phases as they go
Progress = Callable[[str, str, str, int, int], None]


class VariantBuilder:
    """Builds variants on demand and keeps loaded sources, so one model is trained/built once."""

    def __init__(self, cache_dir: Path | None = None, image_dir: Path | None = None,
                 progress: Progress | None = None, controls: bool = True, task: str | None = None) -> None:
        """`progress(model, variant, phase, done, total)`: training steps and conversion phases as they go.
        `controls`: a variant that fine-tunes is also scored beside its control (converters.control),
        built and cached like any variant (False: compared with fp32 only, and its tables say so).
        `task`: what the user's own models do (USER_TASKS), as they named it; shapes never choose it."""
        if task is not None and task not in USER_TASKS.values():
            raise ConversionError(f"task {task!r}: expected one of {', '.join(USER_TASKS)}")
        self.task = task
        self.progress = progress
        self.controls = controls
        self.cache_dir = Path(cache_dir or default_cache_dir())
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.image_dir = image_dir
        self._sources: dict[str, Source] = {}
        self.converted = 0  # how many artifacts this builder actually produced (0 on a warm cache)
        self._context: dict[str, str] | None = None

    def source(self, model: str) -> Source:
        if model not in self._sources:
            self._sources[model] = load_source(model, self.image_dir, self.cache_dir)
            if self.task is not None and self._sources[model].spec is None:
                self._sources[model].task = self.task
        return self._sources[model]

    def _metrics(self, model: str, variant: str, path: Path, src: Source | None,
                 gzip_bytes: int | None = None) -> VariantMetrics:
        """Analysis of the file and accuracy against ground truth and the fp32 variant.

        Failures here are recorded in the metrics, never lost as the artifact itself is fine.
        """
        from converters import analysis

        out: VariantMetrics = {}
        try:
            out.update(analysis.describe(path, gzip_bytes))
        except Exception as exc:
            out["analysis_error"] = _first_line(exc)
        try:
            out.update(self._accuracy(model, variant, path, src))
        except Exception as exc:
            out["accuracy_error"] = _first_line(exc)
        return out

    def _accuracy(self, model: str, variant: str, path: Path, src: Source | None) -> VariantMetrics:
        from converters.datasets import class_folders, task_info

        if src is not None and src.spec is not None and not getattr(src.spec, "trainable", True):
            return {"accuracy": None, "accuracy_note": "not measured: untrained (no pretrained weights; nothing is "
                    "downloaded)"}
        from converters import isolate

        user = src is None or src.spec is None
        # The user's model: accuracy only for a task they named, with its eval data. Its shapes still pick
        # the inputs on which a variant's outputs are compared with fp32's (a fidelity, not an accuracy).
        unmeasured = user_accuracy_gate(self.task, self.image_dir) if user else None
        if src is not None:
            info = src.task_info()
        else:  # a user .tflite: the named task's data, shaped by its tensors (read in a child process)
            io = isolate.call("converters.analysis", "tflite_io", str(path), what=model)
            info = task_info(self.task or "unknown", io["inputs"][0]["shape"], io["outputs"][0]["shape"])
        if user and not unmeasured and info.kind == "unknown":
            unmeasured = (f"not measured: the model's input and output shapes do not fit "
                          f"--task {TASK_FLAG.get(str(self.task), self.task)}")
        if user and not unmeasured and info.kind == "detection":  # only output layouts it can read
            problem = isolate.call("converters.detection_eval", "layout_problem", str(path), what=model)
            unmeasured = f"not measured: {problem}" if problem else None
        ref = None
        if variant.split("@", 1)[0] != "fp32" and src is not None:
            try:
                ref = self.build(model, "fp32").path
            except ConversionError:
                ref = None
        if unmeasured:
            if ref is None or info.kind in ("unknown", "detection"):
                return {"accuracy": None, "accuracy_note": unmeasured}
            got: VariantMetrics = isolate.call("converters.accuracy", "evaluate", path, info, self.image_dir, ref,
                                               False, what=f"{model}/{variant}")
            kept: VariantMetrics = {}  # the fidelity to fp32's outputs: no ground truth needed
            if "psnr_vs_fp32_db" in got:
                kept["psnr_vs_fp32_db"] = got["psnr_vs_fp32_db"]
            if "top1_agreement_fp32" in got:
                kept["top1_agreement_fp32"] = got["top1_agreement_fp32"]
            return {**kept, "accuracy": None, "accuracy_note": unmeasured}
        labelled = not user or bool(
            self.image_dir is not None and Path(self.image_dir).is_dir() and class_folders(self.image_dir))
        # in a child process: a variant that crashes the interpreter loses its accuracy, not the run
        scores: VariantMetrics = isolate.call("converters.accuracy", "evaluate", path, info, self.image_dir, ref,
                                              labelled, user and info.kind == "detection", what=f"{model}/{variant}")
        return {**scores}

    def _control(self, model: str, variant: str, metrics: VariantMetrics) -> VariantMetrics:
        """The control's label and its per-example scores beside the variant's (same examples)."""
        from converters.control import control_variant

        label = control_variant(metrics, variant)
        per = metrics.get("per_example")
        if label is None or not isinstance(per, dict):
            return {}
        try:
            ctl = self.build(model, label)
        except ConversionError as exc:
            return {"control_variant": label, "control_error": _first_line(exc)}
        got = ctl.metrics.get("per_example")
        if not isinstance(got, dict) or got.get("metric") != per.get("metric") or \
                len(got.get("variant") or []) != len(per.get("variant") or []):
            return {"control_variant": label, "control_error": "the control was not scored on the same examples"}
        return {"control_variant": label, "per_example": with_control(per, got)}

    def _score_again(self, model: str, variant: str, out: Path, meta: dict[str, object],
                     meta_path: Path) -> VariantMetrics:
        """A cached artifact whose scoring failed (an eval that passed isolate's time limit on a loaded host,
        a crashed worker) is scored again, not served without its accuracy until someone deletes the entry:
        the file stands, so this costs an eval, not a rebuild. The entry is rewritten with what it gives."""
        old = cast(VariantMetrics, meta["metrics"])  # what this builder wrote there
        metrics = cast(VariantMetrics, {k: v for k, v in old.items() if k not in _SCORING_ERRORS})
        src = None
        if not model.endswith(".tflite"):
            with TF_LOCK:
                src = self.source(model)
        metrics.update(self._metrics(model, variant, out, src))
        if self.controls:
            metrics.update(self._control(model, variant, metrics))
        meta_path.write_text(json.dumps({**meta, "metrics": metrics}, default=str))
        return metrics

    def build(self, model: str, variant: str, overrides: Params | None = None) -> BuiltVariant:
        """Return the cached artifact or convert it now; raises ConversionError with one line."""
        spec = get_pass(variant)
        _, given = parse_variant(variant)  # prune@sparsity=0.5: checked against the pass's declared parameters
        params = {**spec.defaults, **given, **(overrides or {})}
        if self._context is None:  # hashing the user's image folder once per builder is enough
            self._context = build_context(self.image_dir)
            if self.task is not None:  # the user's models' accuracy depends on it (zoo models know theirs)
                self._context["task"] = self.task
        key = cache_key(model, variant, params, self._context)
        meta_path = self.cache_dir / f"{key}.json"
        if meta_path.exists():
            meta = json.loads(meta_path.read_text())
            out = self.cache_dir / f"{key}{meta.get('suffix', '.tflite')}"
            if out.exists():
                scored = meta["metrics"]
                if any(k in scored for k in _SCORING_ERRORS):
                    scored = self._score_again(model, variant, out, meta, meta_path)
                return BuiltVariant(model, variant, out, meta["params"], scored, cached=True)
        out = self.cache_dir / f"{key}.tflite"
        src: Source | None = None
        if model.endswith(".tflite"):
            if variant.split("@", 1)[0] != "fp32":
                raise ConversionError(
                    f"{model}/{variant}: a .tflite file can only run as is (variant fp32); "
                    "bring a Keras file or SavedModel for other passes"
                )
            data = Path(model).expanduser().read_bytes()
            tmp = out.with_suffix(".tmp")
            tmp.write_bytes(data)
            _validate_tflite(tmp, model)
            extra: VariantMetrics = {}
        else:
            from converters.applies import why_not
            from converters.progress import report, reporting

            why = why_not(model, variant) if is_user_model(model) else None
            if why:  # the plan refuses it first; a library caller gets the same line, before TF starts
                raise ConversionError(f"{model}/{variant}: does not apply: {why}")
            progress = self.progress
            hook = None if progress is None else (
                lambda phase, done, total: progress(model, variant, phase, done, total))
            with TF_LOCK, reporting(hook):
                report("load", 0, 1)
                src = self.source(model)
                report("convert", 0, 1)
                if spec.needs_keras and src.keras_model is None:
                    raise ConversionError(f"{model}/{variant}: "
                                          f"{src.keras_note or 'this pass needs a Keras model, not a SavedModel'}")
                result = spec.fn(src, params)
            data, extra = (result if isinstance(result, tuple) else (result, {}))
            extra = {**extra}
            suffix = extra.pop("artifact_suffix", ".tflite")  # .onnx for TensorRT, .mlpackage.zip for Core ML
            out = self.cache_dir / f"{key}{suffix}"
            tmp = self.cache_dir / f"{key}.tmp"
            tmp.write_bytes(data)
        tmp.replace(out)
        metrics: VariantMetrics = {"size_bytes": len(data), "gzip_bytes": len(gzip.compress(data, 9))}
        if out.suffix == ".tflite":
            if self.progress is not None:
                self.progress(model, variant, "analyse", 0, 1)
            metrics.update(self._metrics(model, variant, out, src, metrics["gzip_bytes"]))
        metrics.update(extra)
        if out.suffix == ".tflite" and self.controls:
            metrics.update(self._control(model, variant, metrics))
        meta_path.write_text(json.dumps({"model": model, "variant": variant, "params": params, "metrics": metrics,
                                         "suffix": artifact_suffix(out)}, default=str))
        self.converted += 1
        return BuiltVariant(model, variant, out, params, metrics, cached=False)
