"""Whether a pass has anything to do on a model file, judged from its saved Keras config before any conversion.

Some passes rewrite one kind of layer: `subpixel` a super-resolution tail's strided Conv2DTranspose,
`truncated_svd` large Dense layers (a detector's fc6/fc7), `factorize` square k x k convolutions. On a model
without them (MobileNetV2 has no transposed convolution, its only Dense is 1280 x classes) the pass can only
fail, after TensorFlow has started and the model was rebuilt. The layer list is in the file itself: a `.keras`
zip's config.json, an `.h5` file's model_config attribute. Read here without TensorFlow, so the plan refuses
such a pair in one line before anything is converted. None means "applies, or cannot tell" (a SavedModel,
a .tflite, an unreadable config): the pass itself then decides, as before.
"""
from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:
    from converters.passes import Params

MAX_CONFIG_BYTES = 64 << 20  # a config.json is kilobytes to a few MB; a larger one is not read here


class LayerEntry(TypedDict, total=False):
    """One layer of a saved Keras config, as far as these checks read it (values JSON, narrowed where used)."""

    class_name: str
    config: dict[str, object]
    build_config: dict[str, object]  # Keras 3: the shapes the layer was built with


def layer_entries(path: str | Path) -> list[LayerEntry] | None:
    """Every layer entry (class_name, config, build_config) of a .keras or .h5 file, nested models
    walked; None when the file holds no Keras config that can be read."""
    p = Path(path).expanduser()
    text: str | bytes | None = None
    try:
        if p.suffix.lower() == ".keras" and p.is_file():
            with zipfile.ZipFile(p) as z:
                info = z.getinfo("config.json")
                if info.file_size > MAX_CONFIG_BYTES:
                    return None
                text = z.read(info)
        elif p.suffix.lower() in (".h5", ".hdf5") and p.is_file():
            import h5py

            with h5py.File(p, "r") as f:
                text = f.attrs.get("model_config")
        if text is None:
            return None
        config = json.loads(text)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    found = list(_walk(config))
    return found or None


def _walk(node: object) -> Iterator[LayerEntry]:
    if isinstance(node, dict):
        name, cfg, built = node.get("class_name"), node.get("config"), node.get("build_config")
        if isinstance(name, str) and isinstance(cfg, dict) and "layers" not in cfg:
            entry: LayerEntry = {"class_name": name, "config": cfg}
            if isinstance(built, dict):
                entry["build_config"] = built
            yield entry
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _pair(value: object) -> tuple[int, int] | None:
    if isinstance(value, int):
        return value, value
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return int(value[0]), int(value[1])
    return None


def _in_channels(entry: LayerEntry) -> int | None:
    """The layer's input's last dimension, where the file recorded it (Keras 3's build_config)."""
    shape = entry.get("build_config", {}).get("input_shape")
    if isinstance(shape, list) and shape and isinstance(shape[-1], int):
        return int(shape[-1])
    return None


def _subpixel(entries: list[LayerEntry], params: Params) -> str | None:
    for e in entries:
        if e["class_name"] != "Conv2DTranspose":
            continue
        cfg = e["config"]
        strides, kernel = _pair(cfg.get("strides")), _pair(cfg.get("kernel_size"))
        if strides is None or kernel is None:
            return None  # a config this reader does not know: the pass decides
        if (cfg.get("padding") == "same" and strides[0] == strides[1] > 1 and kernel[0] == kernel[1] >= strides[0]
                and not cfg.get("output_padding") and _pair(cfg.get("dilation_rate", 1)) in ((1, 1), None)):
            return None
    return ("no strided 'same' Conv2DTranspose to rewrite (subpixel rewrites a super-resolution model's "
            "upsampling layers; this model has none)")


def _truncated_svd(entries: list[LayerEntry], params: Params) -> str | None:
    from converters.svd import rank_for_keep

    dense = {str(e["config"].get("name")): e for e in entries if e["class_name"] == "Dense"}
    if not dense:
        return "no Dense layer to split (truncated_svd splits large fully connected layers)"
    named = [item.strip().partition(":")[0] for item in str(params.get("layers") or "").split(",") if item.strip()]
    if named:
        missing = [n for n in named if n not in dense]
        return (f"layers: {missing[0][:60]!r} is not a Dense layer of this model (Dense layers: "
                f"{', '.join(sorted(dense))[:200]})") if missing else None
    floor, sizes = int(params.get("min_weights") or 0), []
    for name, e in dense.items():
        n_in, n_out = _in_channels(e), e["config"].get("units")
        if n_in is None or not isinstance(n_out, int):
            return None  # the input width is not recorded (a tf_keras file): the pass decides
        sizes.append((n_in * n_out, name, n_in, n_out))
        keep = float(params.get("keep") or 0.25)
        asked = params.get("rank")
        rank = min(int(asked) if asked else rank_for_keep(n_in, n_out, keep), n_in, n_out)
        if n_in * n_out >= floor and rank * (n_in + n_out) < n_in * n_out:
            return None
    _, name, n_in, n_out = max(sizes)
    return (f"no Dense layer gets cheaper when split (the largest, {name[:60]}, is {n_in}x{n_out} = "
            f"{n_in * n_out} weights; min_weights is {floor}: lower it with @min_weights= to split smaller ones)")


def _factorize(entries: list[LayerEntry], params: Params) -> str | None:
    from converters.factorize import factor_rank

    low = int(params.get("min_kernel") or 1)
    for e in entries:
        if e["class_name"] != "Conv2D":
            continue
        cfg = e["config"]
        kernel = _pair(cfg.get("kernel_size"))
        if kernel is None:
            return None
        groups = cfg.get("groups")
        groups = int(groups) if isinstance(groups, (int, str)) and groups else 1
        if kernel[0] != kernel[1] or kernel[0] < low or groups != 1 \
                or _pair(cfg.get("dilation_rate", 1)) not in ((1, 1), None):
            continue
        k, cin, cout = kernel[0], _in_channels(e), cfg.get("filters")
        if cin is None or not isinstance(cout, int):
            return None
        asked, speedup = params.get("rank"), params.get("speedup")
        if not asked and not isinstance(speedup, (int, float)):
            return None  # a speed-up this reader cannot use: the pass decides
        rank = int(asked) if asked else factor_rank(k, cin, cout, float(speedup or 0))
        if rank * k * (cin + cout) < k * k * cin * cout:
            return None
    return f"no square Conv2D of {low}x{low} or larger gets cheaper when split into k x 1 and 1 x k"


CHECKS = {"subpixel": _subpixel, "truncated_svd": _truncated_svd, "factorize": _factorize}


def why_not(model: str, variant: str) -> str | None:
    """One line saying why `variant` has nothing to do on model file `model`, or None (it applies, or this
    cannot tell without loading the model)."""
    from converters.passes import ConversionError, get_pass

    try:
        spec = get_pass(variant)
    except ConversionError:  # an unknown pass or bad parameters: the build says so in that variant's row
        return None
    check = CHECKS.get(spec.name.partition("@")[0])
    if check is None:
        return None
    entries = layer_entries(model)
    if entries is None:
        return None
    return check(entries, dict(spec.defaults))
