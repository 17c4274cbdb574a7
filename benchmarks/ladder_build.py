"""A ladder rung's configuration and its file: quantization, pruning, SVD head and operating point,
built through the project's passes. Split from faster_rcnn_ladder.py (which re-exports these names) so
the proxy's half (ladder_proxy.py) and the Jetson half use the same builder without importing the ladder."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Fast R-CNN §3.1 keeps the top 1024 of fc6's and 256 of fc7's singular values (of 4096 units):
# ranks as fractions of the head's width, so the small twin's 128-unit head keeps 32 and 8.
SVD_FRACTIONS = (0.25, 0.0625)


@dataclass(frozen=True)
class Config:
    """What a rung's model is: quantization, structure (pruning, SVD head) and the model overrides."""

    quant: str = "fp32"  # fp32 | fp16 | dr_int8 | int8
    prune: float | None = None  # fraction of the convolution MACs kept by prune_channels
    svd: tuple[float, float] | None = None  # fc6, fc7 ranks as fractions of the head's units
    size: int = 600
    proposals: int = 300

    @property
    def overrides(self) -> dict[str, Any]:
        return {"size": self.size, "proposals": self.proposals}


def svd_layers(cfg: Config, head_units: int) -> str:
    f6, f7 = cfg.svd or (0, 0)
    return f"head_fc1:{max(1, round(head_units * f6))},head_fc2:{max(1, round(head_units * f7))}"


def variant(cfg: Config, head_units: int, prune_steps: int = 0, final: str | None = None, svd_steps: int = 0) -> str:
    """The pass chain of a configuration: prune_channels -> truncated_svd -> the conversion (`final`
    instead of the quantization: tensorrt for the Jetson ladder). Fine-tuning steps after pruning
    and after the SVD split (0: none, as on the untrained seed-scale model)."""
    last = final or cfg.quant
    if cfg.svd:
        tune = f"+steps={svd_steps}" if svd_steps else ""
        last = f"truncated_svd+layers={svd_layers(cfg, head_units)}{tune}+then={last}"
    if cfg.prune:
        return f"prune_channels@flops={cfg.prune}@steps={prune_steps}@then={last}"
    return last.replace("+", "@")


def control_steps(cfg: Config, prune_steps: int, svd_steps: int) -> int:
    """The fine-tuning a configuration had: pruning's steps then the SVD head's (0: none)."""
    return (prune_steps if cfg.prune else 0) + (svd_steps if cfg.svd else 0)


def build_rung(model: str, cfg: Config, out: Path, weights_from: Any = None, prune_steps: int = 0,
               final: str | None = None, svd_steps: int = 0, control: bool = False) -> tuple[Path, str]:
    """The configuration's file: the model with its overrides (weights copied from `weights_from`),
    then its pass chain. Returns the path (its suffix from the pass: .onnx for tensorrt) and the variant."""
    import tf_keras as keras

    from converters.passes import Source, get_pass
    from converters.zoo import get_spec

    spec = get_spec(model)
    keras.utils.set_random_seed(0)
    km = spec.create(**cfg.overrides)
    if weights_from is not None:
        km.set_weights(weights_from.get_weights())
    label = variant(cfg, int(km.get_layer("head_fc1").units), prune_steps, final, svd_steps)
    if control:  # the same fine-tuning and conversion, nothing pruned or factored
        label = f"fine_tune@steps={control_steps(cfg, prune_steps, svd_steps)}@then={final or cfg.quant}"
    p = get_pass(label)
    src = Source(model, keras_model=km, task=spec.task, input_shape=tuple(km.input_shape), spec=spec)
    result = p.fn(src, dict(p.defaults))
    record: dict[str, Any] = {}
    data, record = result if isinstance(result, tuple) else (result, record)
    out = out.with_suffix(record.get("artifact_suffix", out.suffix))
    out.write_bytes(data)
    return out, label
