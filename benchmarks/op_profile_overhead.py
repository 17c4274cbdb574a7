"""What the LiteRT C API op profiler costs, and where the time goes in the zoo's fp32 models, on this host.

For each model, in one process and interleaved in blocks (A B C A B C ...), every invoke timed:
  A  LiteRT CompiledModel through the C API, profiling option off
  B  the same with `enable_profiling` and the profiler recording (events read and reset between runs)
  C  the ai-edge-litert Python Interpreter (what rpi/runner.py times)
Prints p50 of each, B/A (the profiler's overhead) and A/C (C API against the runner's interpreter), then
the profile's top ops by time with their share and the sum-of-ops / invoke sanity ratio. The profile pass
of a run is separate from its timed loop, so B/A is what a profiled run costs the profile, not the latency.

    python benchmarks/op_profile_overhead.py [--models srcnn,squeezenet] [--threads 1] [--rounds 15] [--block 10]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _interpreter(path: str, threads: int, seed: int):
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=path, num_threads=threads)
    it.allocate_tensors()
    rng = np.random.default_rng(seed)
    for d in it.get_input_details():
        it.set_tensor(d["index"], rng.random(d["shape"], dtype=np.float32).astype(d["dtype"]))
    return it


def measure(path: str, threads: int, rounds: int, block: int) -> dict:
    from rpi import litert_profile as lp

    lib = lp._load(lp.library_path())
    off = lp._Session(lib, path, threads, lp._HW_CPU, 0, profiling=False)
    on = lp._Session(lib, path, threads, lp._HW_CPU, 0, profiling=True)
    interp = _interpreter(path, threads, 0)
    clock = time.perf_counter_ns
    samples: dict[str, list[float]] = {"api_off": [], "api_profiled": [], "interpreter": []}

    def api_off() -> None:
        off.run()

    def api_profiled() -> None:
        on.run()

    try:
        for fn in (api_off, api_profiled, interp.invoke):  # warm-up
            for _ in range(3):
                fn()
        for _ in range(rounds):
            for key, fn in (("api_off", api_off), ("api_profiled", api_profiled), ("interpreter", interp.invoke)):
                for _ in range(block):
                    if key == "api_profiled":
                        lib.LiteRtResetProfiler(on.profiler)
                        lib.LiteRtStartProfiler(on.profiler)
                    t0 = clock()
                    fn()
                    samples[key].append((clock() - t0) / 1e6)
                    if key == "api_profiled":
                        lib.LiteRtStopProfiler(on.profiler)
                        on.events()
    finally:
        off.close()
        on.close()
    p50 = {k: statistics.median(v) for k, v in samples.items()}
    details = [o for o in sorted(interp._get_ops_details(), key=lambda o: o["index"]) if o["op_name"] != "DELEGATE"]
    ops = [o["op_name"] for o in details]
    names = {t["index"]: t["name"] for t in interp.get_tensor_details()}
    outputs = {o["index"]: names.get(int(o["outputs"][0]), "?").split(";")[0] if len(o["outputs"]) else "?"
               for o in details}  # the output tensor's first fused name, e.g. squeezenet1_1/conv10/Relu
    t0 = time.monotonic()
    prof = lp.profile(path, threads=threads, runs=30, tflite_ops=ops)
    for row in prof["run_order"]:
        if row.get("tflite_node") is not None:
            row["tflite_output"] = outputs.get(row["tflite_node"])
    return {"p50_ms": p50, "n": {k: len(v) for k, v in samples.items()},
            "profiled_over_off": p50["api_profiled"] / p50["api_off"],
            "api_over_interpreter": p50["api_off"] / p50["interpreter"],
            "profile_pass_s": round(time.monotonic() - t0, 2), "profile": prof}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="srcnn,squeezenet")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--block", type=int, default=10)
    ap.add_argument("--top", type=int, default=3)
    ap.add_argument("--json", help="write the raw results here")
    args = ap.parse_args()
    from converters.analysis import analyze
    from converters.build import VariantBuilder

    builder = VariantBuilder(None)
    out = {}
    print("| model | C API p50 ms (off) | C API p50 ms (profiling) | profiling / off | Interpreter p50 ms | "
          "C API / Interpreter | profile pass s |")
    print("|---|---|---|---|---|---|---|")
    tops: list[str] = []
    op_rows: list[str] = []
    for model in args.models.split(","):
        art = builder.build(model, "fp32")
        r = measure(str(art.path), args.threads, args.rounds, args.block)
        out[model] = r
        p = r["p50_ms"]
        print(f"| {model} | {p['api_off']:.3f} | {p['api_profiled']:.3f} | {r['profiled_over_off']:.3f} | "
              f"{p['interpreter']:.3f} | {r['api_over_interpreter']:.3f} | {r['profile_pass_s']} |", flush=True)
        macs = analyze(Path(art.path).read_bytes())["macs_by_op"]
        prof = r["profile"]
        for row in sorted(prof["run_order"], key=lambda x: -x["median_ms"])[:args.top]:
            where = f"node {row['tflite_node']} {row.get('tflite_output', '')}" if "tflite_node" in row else ""
            op_rows.append(f"| {model} | {row['op_type']} {where} | {row['node_type']} | {row['median_ms']:.3f} | "
                           f"{row['pct']:.1f}% |")
        for row in prof["by_node_type"][:args.top]:
            m = macs.get(row["node_type"])
            tops.append(f"| {model} | {row['node_type']} ({row['count']}) | {row['avg_ms']:.3f} | "
                        f"{row['avg_pct']:.1f}% | {'-' if m is None else f'{m / 1e6:.1f} M'} | "
                        f"{prof['sum_of_ops_over_invoke']:.3f} |")
    print("\n| model | op type (ops) | median ms | share | MACs | sum of ops / invoke |")
    print("|---|---|---|---|---|---|")
    print("\n".join(tops))
    print("\n| model | op (TFLite node, output tensor) | XNNPACK operator | median ms | share |")
    print("|---|---|---|---|---|")
    print("\n".join(op_rows))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
