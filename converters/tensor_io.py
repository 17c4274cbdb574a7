"""Float data to and from a LiteRT tensor's own type (int8/uint8 with scale and zero point).

Shared by the accuracy scorers (converters/accuracy.py) and the detection evaluator (converters/detection.py),
which import it rather than each other.
"""
from __future__ import annotations

import numpy as np


def quantize_input(x: np.ndarray, detail: dict) -> np.ndarray:
    """Float data to what an input tensor takes: scaled, shifted and clipped for int8/uint8 inputs."""
    if np.issubdtype(detail["dtype"], np.integer):
        scale, zero = detail["quantization"]
        info = np.iinfo(detail["dtype"])
        x = np.clip(np.round(x / scale + zero), info.min, info.max)
    return x.astype(detail["dtype"])


def dequantize_output(y: np.ndarray, detail: dict) -> np.ndarray:
    """An output tensor back to float: integer outputs with a scale are dequantized."""
    y = y.astype(np.float32)
    scale, zero = detail["quantization"]
    if np.issubdtype(detail["dtype"], np.integer) and scale:
        y = (y - zero) * scale
    return y
