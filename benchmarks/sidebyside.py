"""Interleaved latency of several .tflite files in one process: the ratios the goals ask for.

Each round invokes every model `runs` times in a rotated order; a model's figure is the median over
rounds of its per-round median, so load on the shared host hits all models alike.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np


def _interpreter(path: str | Path, threads: int, **kwargs: Any) -> Any:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), num_threads=threads, **kwargs)
    it.allocate_tensors()
    rng = np.random.default_rng(0)
    for d in it.get_input_details():
        if np.issubdtype(d["dtype"], np.integer):
            data = rng.integers(-100, 100, d["shape"]).astype(d["dtype"])
        else:
            data = rng.random(d["shape"], dtype=np.float32).astype(d["dtype"])
        it.set_tensor(d["index"], data)
    return it


def interleaved_rounds_ms(paths: dict[str, str | Path], threads: int = 2, rounds: int = 5, runs: int = 10,
                          warmup: int = 2, interpreters: dict[str, Any] | None = None) -> dict[str, list[float]]:
    """Each model's per-round median invoke time, in ms, round by round: the pairs a ratio's noise is
    judged on (round r of every model ran within the same few seconds)."""
    its = dict(interpreters or {})
    for name, p in paths.items():
        its.setdefault(name, _interpreter(p, threads))
    for it in its.values():
        for _ in range(warmup):
            it.invoke()
    names = list(its)
    per: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            samples = []
            for _ in range(runs):
                t0 = time.perf_counter()
                its[n].invoke()
                samples.append((time.perf_counter() - t0) * 1000)
            per[n].append(statistics.median(samples))
    return per


def interleaved_p50_ms(paths: dict[str, str | Path], threads: int = 2, rounds: int = 5, runs: int = 10,
                       warmup: int = 2, interpreters: dict[str, Any] | None = None) -> dict[str, float]:
    """Median over rounds of each model's per-round median invoke time, in ms."""
    per = interleaved_rounds_ms(paths, threads, rounds, runs, warmup, interpreters)
    return {n: statistics.median(v) for n, v in per.items()}


def print_table(title: str, headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
