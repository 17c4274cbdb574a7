"""What a .tflite holds, read from the flatbuffer itself: ops, parameters, MACs, sparsity, and the
size it would take under Deep Compression's pruning + quantization + entropy coding.

Counting from the converted file (not the Keras model) means every variant is described as it
will run: fp16 weights behind DEQUANTIZE, sparse weights behind DENSIFY, folded batch norms.
Pure functions over bytes, except `xnnpack_coverage`, which asks the real interpreter.
"""
from __future__ import annotations

import gzip
import heapq
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import numpy as np

from converters.variant_metrics import VariantMetrics

if TYPE_CHECKING:  # LiteRT's flatbuffer object API (schema_py_generated) ships no type information
    from ai_edge_litert.schema_py_generated import ModelT, OperatorT, SubGraphT, TensorT

    from rpi.runner import TensorDetail


class TensorIO(TypedDict):
    """One input or output of a .tflite as tflite_io reads it (-1 in shape_signature: a dynamic dimension)."""
    name: str
    shape: list[int]
    shape_signature: list[int]
    itemsize: int


class Analysis(TypedDict):
    """What `analyze` reads from a .tflite flatbuffer."""
    ops: dict[str, int]
    params: int
    macs: int
    macs_by_op: dict[str, int]
    weight_sparsity: float
    sparse_tensors: int
    kernel_dtypes: list[str]
    deep_compression_bytes: int

# Ops whose multiply-accumulates are counted, and ops whose constant inputs are parameters.
MAC_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED", "BATCH_MATMUL")
PARAM_OPS = MAC_OPS + ("PRELU", "CONV_3D")
KERNEL_INPUT = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "TRANSPOSE_CONV": 1, "FULLY_CONNECTED": 1}
BIAS_INPUT = {"CONV_2D": 2, "DEPTHWISE_CONV_2D": 2, "TRANSPOSE_CONV": 3, "FULLY_CONNECTED": 2}
PASS_THROUGH = ("DEQUANTIZE", "DENSIFY")  # fp16 and sparse weights reach their op through these
_NP_TYPES = {"FLOAT32": np.float32, "FLOAT16": np.float16, "INT32": np.int32, "UINT8": np.uint8,
             "INT64": np.int64, "INT16": np.int16, "INT8": np.int8, "FLOAT64": np.float64}


def _names(cls: type) -> dict[int, str]:
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


@dataclass
class _Graph:
    model: ModelT
    op_names: dict[int, str]
    type_names: dict[int, str]


def _load(data: bytes) -> _Graph:
    from ai_edge_litert import schema_py_generated as fb
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    return _Graph(model, _names(fb.BuiltinOperator), _names(fb.TensorType))


def _op_name(g: _Graph, op: OperatorT) -> str:
    code = g.model.operatorCodes[op.opcodeIndex]
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    if g.op_names.get(builtin) == "CUSTOM":
        name = code.customCode
        return f"CUSTOM:{name.decode() if isinstance(name, bytes) else name}"
    return g.op_names.get(builtin, f"OP_{builtin}")


def _const(g: _Graph, tensor: TensorT) -> np.ndarray | None:
    """The stored values of a constant tensor (for sparse tensors: the non-zero block values)."""
    buf = g.model.buffers[tensor.buffer] if tensor.buffer < len(g.model.buffers) else None
    if buf is None or buf.data is None or len(buf.data) == 0:
        return None
    dtype = _NP_TYPES.get(g.type_names.get(tensor.type, ""))
    if dtype is None:
        return None
    return np.frombuffer(bytes(buf.data), dtype=dtype)


def _shape(tensor: TensorT) -> tuple[int, ...]:
    return tuple(int(d) for d in (tensor.shape if tensor.shape is not None else ()))


def _numel(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape)) if shape else 1


def _op_macs(name: str, op: OperatorT, tensors: list[TensorT]) -> int:
    """Multiply-accumulates of one op from its tensor shapes (the standard textbook formulas)."""
    ins = [tensors[i] if i >= 0 else None for i in op.inputs]
    out = _shape(tensors[op.outputs[0]])
    if name == "CONV_2D":  # filter [O, kh, kw, I/groups]
        o, kh, kw, i = _shape(ins[1])
        return _numel(out) * kh * kw * i
    if name == "DEPTHWISE_CONV_2D":  # filter [1, kh, kw, O]
        _, kh, kw, _ = _shape(ins[1])
        return _numel(out) * kh * kw
    if name == "TRANSPOSE_CONV":  # inputs: output_shape, filter [O, kh, kw, I], input
        o, kh, kw, i = _shape(ins[1])
        return _numel(_shape(ins[2])) * kh * kw * o
    if name == "FULLY_CONNECTED":  # weights [units, in]
        units, depth = _shape(ins[1])
        return _numel(_shape(ins[0])) // depth * units * depth
    if name == "BATCH_MATMUL":
        a = _shape(ins[0])
        adj_x = bool(getattr(op.builtinOptions, "adjX", False))
        k = a[-2] if adj_x else a[-1]
        return _numel(out) * k
    return 0


def _source(g: _Graph, sub: SubGraphT, producers: dict[int, OperatorT], index: int) -> TensorT:
    """Follow DEQUANTIZE / DENSIFY back to the stored constant, if there is one."""
    tensor = sub.tensors[index]
    seen = 0
    while _const(g, tensor) is None and index in producers and seen < 3:
        prod = producers[index]
        if _op_name(g, prod) not in PASS_THROUGH:
            break
        index = prod.inputs[0]
        tensor = sub.tensors[index]
        seen += 1
    return tensor


def _walk(g: _Graph):
    """(op counts, MACs per op type, parameter tensors, kernel tensors) of every subgraph."""
    ops: Counter[str] = Counter()
    macs_by_op: Counter[str] = Counter()
    param_tensors: dict[tuple[int, int], TensorT] = {}
    kernels: dict[tuple[int, int], tuple[str, TensorT]] = {}
    for s_idx, sub in enumerate(g.model.subgraphs):
        producers = {o: op for op in sub.operators for o in op.outputs}
        for op in sub.operators:
            name = _op_name(g, op)
            ops[name] += 1
            if name in MAC_OPS:
                macs_by_op[name] += _op_macs(name, op, sub.tensors)
            if name not in PARAM_OPS:
                continue
            for pos, t_index in enumerate(op.inputs):
                if t_index < 0 or (name == "TRANSPOSE_CONV" and pos == 0):
                    continue
                tensor = _source(g, sub, producers, t_index)
                if _const(g, tensor) is None:
                    continue
                key = (s_idx, sub.tensors.index(tensor))
                param_tensors[key] = tensor
                if KERNEL_INPUT.get(name) == pos:
                    kernels[key] = (name, tensor)
    return ops, macs_by_op, param_tensors, kernels


def macs_by_node(data: bytes) -> dict[int, int]:
    """MACs of each MAC op of the main subgraph, by node index: what one row of a per-op profile ran."""
    g = _load(data)
    sub = g.model.subgraphs[0]
    out = {}
    for i, op in enumerate(sub.operators):
        name = _op_name(g, op)
        if name in MAC_OPS:
            out[i] = _op_macs(name, op, sub.tensors)
    return out


def kernel_tensors(data: bytes) -> list[tuple[str, tuple[int, ...], np.ndarray, bool]]:
    """(op, dense shape, stored values, stored sparse?) of every conv / fully-connected kernel."""
    g = _load(data)
    _, _, _, kernels = _walk(g)
    return [(name, _shape(t), _const(g, t), t.sparsity is not None) for name, t in kernels.values()]


def analyze(data: bytes) -> Analysis:
    """Ops, parameters, MACs, weight sparsity and compressed sizes of a .tflite flatbuffer."""
    g = _load(data)
    ops, macs_by_op, param_tensors, kernels = _walk(g)
    stored = {k: _const(g, t) for k, (_, t) in kernels.items()}
    dense = sum(_numel(_shape(t)) for _, t in kernels.values())
    zeros = sum(_numel(_shape(t)) - int(np.count_nonzero(stored[k])) for k, (_, t) in kernels.items())
    dc = deep_compression_bits(g, kernels, stored, param_tensors)
    return {
        "ops": dict(sorted(ops.items())),
        "params": sum(_numel(_shape(t)) for t in param_tensors.values()),
        "macs": int(sum(macs_by_op.values())),
        "macs_by_op": dict(macs_by_op),
        "weight_sparsity": round(zeros / dense, 4) if dense else 0.0,
        "sparse_tensors": sum(1 for t in param_tensors.values() if t.sparsity is not None),
        "kernel_dtypes": sorted({g.type_names.get(t.type, "?") for _, t in kernels.values()}),
        "deep_compression_bytes": int(math.ceil(dc / 8)),
    }


# ---------------------------------------------------------------- Deep Compression size


def huffman_bits(symbols: np.ndarray | list[int]) -> int:
    """Total bits of the symbols under an optimal prefix code for their own histogram."""
    counts = list(Counter(np.asarray(symbols).ravel().tolist()).values())
    if not counts:
        return 0
    if len(counts) == 1:
        return counts[0]  # one symbol still costs a bit per occurrence
    heap = list(counts)
    heapq.heapify(heap)
    total = 0
    while len(heap) > 1:  # each merge adds one bit to every symbol below it
        a, b = heapq.heappop(heap), heapq.heappop(heap)
        total += a + b
        heapq.heappush(heap, a + b)
    return total


def sparse_index_symbols(values: np.ndarray, index_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Deep Compression's relative indexing: (values, gaps) of the non-zeros, with a filler zero
    wherever a gap exceeds what `index_bits` can hold."""
    flat = values.ravel()
    nz = np.flatnonzero(flat)
    limit = (1 << index_bits) - 1
    out_v: list[int] = []
    out_g: list[int] = []
    prev = -1
    for pos in nz.tolist():
        gap = pos - prev
        while gap > limit:
            out_v.append(0)
            out_g.append(limit)
            gap -= limit
        out_v.append(int(flat[pos]))
        out_g.append(gap)
        prev = pos
    return np.asarray(out_v), np.asarray(out_g)


def deep_compression_bits(g: _Graph, kernels: dict, stored: dict, param_tensors: dict) -> int:
    """Bits of all parameters stored the Deep Compression way (Han et al. 2016): kernels as
    relative-indexed non-zeros (8-bit gaps for conv, 5-bit for fully connected) with both values
    and gaps Huffman-coded, plus a 256-entry codebook; every other parameter at its own width.

    Kernels that are not integer-quantized are counted as their raw bytes (no weight sharing).
    """
    bits = 0
    for key, tensor in param_tensors.items():
        values = _const(g, tensor)
        if key in kernels and values is not None and values.dtype in (np.int8, np.uint8) and tensor.sparsity is None:
            index_bits = 5 if kernels[key][0] == "FULLY_CONNECTED" else 8
            v, gaps = sparse_index_symbols(values, index_bits)
            bits += huffman_bits(v) + huffman_bits(gaps) + 256 * 8
            q = tensor.quantization
            bits += 32 * (len(q.scale) if q is not None and q.scale is not None else 1)
        else:
            bits += 8 * (values.nbytes if values is not None else 0)
    return bits


def gzip_size(data: bytes) -> int:
    return len(gzip.compress(data, 9))


# ---------------------------------------------------------------- the interpreter's view


def xnnpack_coverage(path: str | Path) -> VariantMetrics:
    """Which ops the XNNPACK delegate takes, as the real LiteRT interpreter applies it; in a child process,
    since a hostile file can crash the interpreter natively (converters.isolate)."""
    from converters import isolate

    coverage: VariantMetrics = isolate.call("converters.analysis", "xnnpack_coverage_here", str(path), what=str(path))
    return {**coverage}


def tflite_io(path: str) -> dict[str, list[TensorIO]]:
    """Load and allocate a .tflite (meant for a child process: converters.isolate); its inputs' and outputs'
    names, shapes and shape signatures (-1 where a dimension is dynamic)."""
    from rpi.runner import interpreter_module

    mod, _, _ = interpreter_module()
    interp = mod.Interpreter(model_path=str(path))
    interp.allocate_tensors()

    def brief(d: TensorDetail) -> TensorIO:
        sig = d.get("shape_signature")
        return {"name": str(d["name"]), "shape": [int(x) for x in d["shape"]],
                "shape_signature": [int(x) for x in (sig if sig is not None else d["shape"])],
                "itemsize": int(np.dtype(d["dtype"]).itemsize)}
    return {"inputs": [brief(d) for d in interp.get_input_details()],
            "outputs": [brief(d) for d in interp.get_output_details()]}


MAX_INPUT_BYTES = 2 << 30  # one input tensor above 2 GiB is no model a phone or a board can run


def dynamic_inputs(inputs: list[TensorIO], given: dict[str, list[int]] | None = None) -> str | None:
    """Why a model cannot be measured as it is: an input with a dynamic dimension besides the batch would be
    run at size 1 there (a [-1, -1, 3] input measured as [1, 1, 3]) unless `given` names its shape, or an input
    too large to allocate; None when the inputs are fine."""
    from errors import quote

    for d in inputs:
        shape = (given or {}).get(d["name"])
        if shape is not None:
            sig = d["shape_signature"]
            if len(shape) != len(sig) or any(s >= 0 and s != g for s, g in zip(sig, shape)):
                return f"input {quote(d['name'], 80)} is {sig}: the shape given for it, {shape}, does not fit"
            d = {**d, "shape": list(shape), "shape_signature": list(shape)}
        size = math.prod(d["shape"]) * int(d.get("itemsize", 1))
        if size > MAX_INPUT_BYTES:
            return (f"input {quote(d['name'], 80)} of shape {d['shape']} takes {size / 1e9:.1f} GB, over the "
                    f"{MAX_INPUT_BYTES >> 30} GiB a device can be asked to hold")
        sig = d["shape_signature"]
        if any(x < 0 for x in sig[1:]):
            return (f"input {quote(d['name'], 80)} has a dynamic shape {sig} (it would be measured at "
                    f"{d['shape']}); give its shape (--input-shape NAME=1x224x224x3) or export a fixed one")
    return None


def xnnpack_coverage_here(path: str | Path) -> VariantMetrics:
    """xnnpack_coverage in this process."""
    from rpi.runner import interpreter_module, delegated_ops

    mod, _, _ = interpreter_module()
    interp = mod.Interpreter(model_path=str(path), num_threads=1)
    interp.allocate_tensors()
    details = interp._get_ops_details()  # noqa: SLF001 (the only API that lists delegate nodes)
    taken, total, cpu_ops = delegated_ops(details)
    delegated_names: Counter[str] = Counter()
    cpu_set = set(cpu_ops)
    for op in details:
        if op["op_name"] != "DELEGATE" and op["op_name"] not in cpu_set:
            delegated_names[op["op_name"]] += 1
    return {"xnnpack_ops": taken, "ops_total": total, "xnnpack_op_types": sorted(delegated_names),
            "cpu_ops": cpu_ops}


def describe(path: str | Path, gzip_bytes: int | None = None) -> VariantMetrics:
    """Everything above for one file: what build.py stores in BuiltVariant.metrics. `gzip_bytes`: the file's
    gzip -9 size when the caller has it already (gzip -9 of a few-MB model costs about a CPU second)."""
    data = Path(path).read_bytes()
    empty: VariantMetrics = {}
    out: VariantMetrics = {**empty, **analyze(data)}
    out["size_bytes"] = len(data)
    out["gzip_bytes"] = gzip_size(data) if gzip_bytes is None else gzip_bytes
    out.update(xnnpack_coverage(path))
    return out
