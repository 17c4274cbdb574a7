"""What a built variant records about itself (`BuiltVariant.metrics`), typed: the keys and their units.

The builder writes it (size, the .tflite's analysis, accuracy on the task's data and beside fp32, the pass's own
facts, the control it is judged against) and caches it as JSON; harness keeps it as the row's `metrics`.
A key absent is a figure not measured. Every key is optional (`total=False`): which ones a variant has depends on
its pass, its format and its task.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Required, TypedDict

if TYPE_CHECKING:
    from typing_extensions import TypeIs


class MatchedImage(TypedDict):
    """One image's detections matched to its ground truth at IoU 0.5 (converters.accuracy.matched_json)."""

    dets: list[list[float]]  # [class, score, 1 if it matched a ground-truth box else 0] per detection
    gt: dict[str, int]  # class -> ground-truth boxes of it in the image


class _Scored(TypedDict):
    metric: str  # psnr_db | top1 | map50
    data: str  # which examples


class MeanScores(_Scored, total=False):
    """One score per example (PSNR dB per crop, 1/0 per image for top-1): the variant's and those of each
    comparison scored on the same examples, in the same order."""

    kind: Required[Literal["mean"]]
    variant: Required[list[float]]
    fp32: list[float]
    control: list[float]
    bicubic: list[float]  # super-resolution: the bicubic upscale's PSNR per crop, dB


class MapScores(_Scored, total=False):
    """Detections matched per image, from which mAP is drawn on any resample of the images."""

    kind: Required[Literal["map"]]
    variant: Required[list[MatchedImage]]
    fp32: list[MatchedImage]
    control: list[MatchedImage]


# Per-example scores of one metric, kept so a paired change can be drawn (harness.statistics.accuracy_change).
PerExample = MeanScores | MapScores


def is_map(per: PerExample) -> TypeIs[MapScores]:
    """Detections matched per image (else one score per example); read with .get: a stored row may be older."""
    return per.get("kind") == "map"


def with_control(per: PerExample, control: PerExample) -> PerExample:
    """The variant's per-example scores with its control's beside them (same metric, hence the same kind)."""
    if is_map(per):
        if not is_map(control):
            raise ValueError("the control's scores are one per example, the variant's detections per image")
        return {**per, "control": control["variant"]}
    if is_map(control):
        raise ValueError("the control's scores are detections per image, the variant's one per example")
    return {**per, "control": control["variant"]}


class TaskScores(TypedDict, total=False):
    """Accuracy of a variant's outputs on its task's data: on the host (converters.accuracy) or of the outputs
    the device itself computed (converters.device_eval, with accuracy_source "device")."""

    accuracy: float | None  # the task's headline figure (psnr_db, top1 or map50); None: not measured
    accuracy_note: str  # why there is no accuracy
    accuracy_source: str  # "device": scored from the device's own outputs
    accuracy_error: str  # why the scoring failed (the artifact, or the row's timing, stands without it)
    psnr_db: float  # super-resolution, mean over crops
    ssim: float
    psnr_bicubic_db: float
    ssim_bicubic: float
    psnr_gain_bicubic_db: float
    eval_crops: int
    top1: float  # classification, share of images 0..1
    top1_chance: float  # share of the commonest class: what always guessing it scores
    eval_images: int
    map50: float  # detection, mAP at IoU 0.5
    images: int
    objects: int


class VariantMetrics(TaskScores, total=False):
    """Everything `converters.build` records for a variant (and caches beside its file)."""

    # the file
    size_bytes: int
    gzip_bytes: int  # gzip -9 of the file: what a sparse or clustered model saves in a download
    artifact_suffix: str  # a pass's own file kind (.onnx, .mlpackage.zip); popped before the metrics are kept
    format: str  # mlpackage (Core ML), onnx or saved_model (TensorRT's export)
    opset: int  # the ONNX opset of a TensorRT export
    note: str  # what the file is for, where it is not a .tflite to run as is
    zip_bytes: int
    weight_bytes: int
    # the .tflite's analysis (converters.analysis.Analysis), or why it failed
    ops: dict[str, int]
    params: int
    macs: int  # multiply-accumulates per inference
    macs_by_op: dict[str, int]
    weight_sparsity: float  # share of zero weights 0..1
    sparse_tensors: int
    kernel_dtypes: list[str]
    deep_compression_bytes: int
    xnnpack_ops: int  # ops XNNPACK took, of ops_total (the interpreter's op list on this host)
    ops_total: int
    xnnpack_op_types: list[str]
    cpu_ops: list[str]  # op names left to the interpreter's own kernels
    analysis_error: str
    # beside fp32, on the same inputs
    psnr_vs_fp32_db: float
    psnr_delta_fp32_db: float
    top1_agreement_fp32: float
    top1_delta_fp32: float
    map50_delta_fp32: float
    per_example: PerExample
    # the pass's own facts
    steps_run: int  # fine-tuning steps the pass ran (0 or absent: none)
    fine_tune_lr: float | None
    distill: float  # knowledge-distillation weight of the fine-tune (0 or absent: none); its control gets the same
    compressed_bytes: int
    fp32_param_bytes: int
    # the control a fine-tuned variant is judged against (converters.control)
    control_variant: str
    control_error: str
    # Core ML packages (converters.coreml)
    deployment_target: str
    compute_precision: str
    weights: str
    coremltools: str
    coreml_spec_version: int
    coreml_model_type: str
    coreml_opset: str
    coreml_ops_total: int
    coreml_op_types: dict[str, int]
    coreml_compressed_weights: dict[str, int]
