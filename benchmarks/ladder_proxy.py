"""The ladder on its trained accuracy model (the ZF-shaped proxy, or the old small twin): each rung's
file built once, its mAP@0.5 scored on held-out images and its p50 latency timed through the project's
runner (rpi/runner.py via the local target, as `harness run` measures) on that same file; then both
axes judged per rung, compression rungs against their controls and operating-point rungs against fp32,
in separate tables. Split from faster_rcnn_ladder.py (which re-exports run_twin)."""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.ladder_accuracy import GOAL_MIN_SIDE, GOAL_MS, MAP_TOLERANCE, _change_cell, twin_changes
from benchmarks.ladder_build import Config, build_rung, control_steps

NO_TUNING = "fp32 (no fine-tuning: fp32 is its control)"


def twin_config(cfg: Config, base: Config, twin_size: int = 128, twin_smaller: int = 96,
                twin_proposals: int = 48) -> Config:
    """The seed configuration on the small twin: its own size (smaller input: 96 px) and its own
    proposal count scaled like the seed's."""
    size = twin_size if cfg.size == base.size else twin_smaller
    proposals = max(4, int(round(twin_proposals * cfg.proposals / base.proposals)))
    return replace(cfg, size=size, proposals=proposals)


def is_proxy(model: str) -> bool:
    """The trainable ZF-shaped proxy (seed sizes and proposal counts as they are), not the small twin."""
    from converters.zoo import get_spec

    return get_spec(model).build.__name__ == "faster_rcnn_proxy"


def not_a_proxy(tool: str, model: str) -> str | None:
    """The one line a proxy-only script prints for a `--model` that is not the proxy (or no zoo model at all)."""
    try:
        if is_proxy(model):
            return None
    except Exception:
        pass
    return f"{tool}: --model {model[:60]!r}: not a faster_rcnn_proxy zoo model"


def proxy_source(model: str, size: int, sources: dict[int, Any]) -> Any:
    """The trained accuracy model at `size` px: the proxy at 600 px, its fine-tuned sibling at 400 px
    (shipped, cached or trained by the recipe), at another size fine-tuned from the 600 px weights."""
    from converters.build import VariantBuilder
    from converters.zoo import get_spec

    if size not in sources:
        name = model
        if is_proxy(model) and size != int(get_spec(model).kwargs.get("size", 600)):
            name = "faster_rcnn_proxy_400" if model == "faster_rcnn_proxy" and size == 400 else f"{model}@size={size}"
        sources[size] = VariantBuilder().source(name).keras_model
    return sources[size]


def runner_latency(path: Path, threads: int = 2, runs: int = 30) -> dict[str, Any]:
    """p50 of `runs` timed invokes of the file through the project's runner (a subprocess on this host,
    as `harness run` measures), with the 1-minute load average beside it (the host is shared)."""
    from devices.config import BenchSettings, LocalDevice
    from devices.local_target import LocalTarget
    from devices.target import JobSpec
    from harness.statistics.latency import summarize

    target = LocalTarget(LocalDevice(name="local", kind="local"))
    bench = BenchSettings(threads=threads, warmup_runs=2, warmup_s=0, min_runs=runs, min_s=0, max_runs=runs,
                          cooldown_s=0)
    try:
        target.prepare()
        raw = target.benchmark(JobSpec(model_path=path, bench=bench))
    finally:
        target.close()
    if raw.runner.get("error"):
        raise RuntimeError(f"runner: {str(raw.runner['error']).splitlines()[0][:200]}")
    p50_us = summarize(raw.runner["latencies_us"]).p50_us
    if p50_us is None:
        raise RuntimeError("runner: no latency samples")
    return {"p50_ms": p50_us / 1000, "runs": len(raw.runner["latencies_us"]), "load_1min": os.getloadavg()[0]}


def run_twin(twin: str, configs: list[tuple[str, Config]], work: Path, prune_steps: int = 100,
             svd_steps: int = 100, images: int = 500, built_on: dict[str, str | None] | None = None,
             latency: Callable[[Path], dict[str, Any]] | None = None, latency_rounds: int = 3
             ) -> dict[str, dict[str, Any]]:
    """mAP@0.5 of each step's configuration on the trained accuracy model (the ZF-shaped proxy, or the
    old small twin) on `images` held-out images, with paired 95% intervals (twin_changes), and, with
    `latency`, that same file's latency (`proxy_latency`: every rung's file timed after the last is
    built, in `latency_rounds` rotated rounds, so load on the shared host hits all rungs alike). The proxy
    runs the seed's sizes and proposal counts; the small twin its own (twin_config). Pruned variants are
    fine-tuned `prune_steps` steps and SVD-split ones `svd_steps`. Each fine-tuned rung is also scored
    beside its control: the model fine-tuned as many steps at the same operating point and precision,
    nothing compressed (one control per distinct configuration)."""
    from converters.detection import evaluate_tflite, model_classes

    t_start = time.monotonic()
    proxy = is_proxy(twin)
    sources: dict[int, Any] = {}
    base_cfg = configs[0][1]
    matched: dict[str, Any] = {}
    controls: dict[str, Any] = {}
    timed: dict[str, dict[str, Any]] = {}
    files: dict[str, Path] = {}
    control_cache: dict[tuple[Any, ...], Any] = {}
    data = ""
    if built_on is None:
        labels = [lbl for lbl, _ in configs]
        built_on = {lbl: (labels[i - 1] if i else None) for i, lbl in enumerate(labels)}
    base = configs[0][0]
    for i, (label, cfg) in enumerate(configs):
        tcfg = cfg if proxy else twin_config(cfg, base_cfg)
        try:
            src = proxy_source(twin, tcfg.size, sources)
            classes = model_classes(src)
            t0 = time.monotonic()
            path, _ = build_rung(twin, tcfg, work / f"twin_{i}.tflite", src,
                                 prune_steps=prune_steps, svd_steps=svd_steps)
            build_s = time.monotonic() - t0
            got = evaluate_tflite(path, n=images, classes=classes)
            data = got["data"]
            matched[label] = got["matched"]
            if latency is not None:
                files[label] = path
                timed[label] = {"build_s": build_s}
            steps = control_steps(tcfg, prune_steps, svd_steps)
            if steps:
                key = (steps, tcfg.quant, tcfg.size, tcfg.proposals)
                if key not in control_cache:
                    cpath, _ = build_rung(twin, tcfg, work / f"twin_control_{i}.tflite", src,
                                          prune_steps=prune_steps, svd_steps=svd_steps, control=True)
                    control_cache[key] = evaluate_tflite(cpath, n=images, classes=classes)["matched"]
                    cpath.unlink(missing_ok=True)
                controls[label] = control_cache[key]
            if latency is None:
                path.unlink(missing_ok=True)
        except Exception as exc:
            print(f"  {twin} {label}: {str(exc).splitlines()[0][:200]}", flush=True)
            continue
        # this rung's intervals now: a run stopped later keeps them (the log has every figure so far)
        part = twin_changes({k: matched[k] for k in {base, label, built_on.get(label)} if k in matched}, base,
                            built_on, {label: controls[label]} if label in controls else {}, images, data=data)
        got_now = part.get(label, {})
        print(f"  {twin} {label}: mAP@.5 {got['map50']:.3f}; vs fp32 "
              f"{_change_cell(got_now.get('twin_change'))}; own {_change_cell(got_now.get('twin_step_change'))}; "
              f"vs control {_change_cell(got_now.get('twin_control_change'))} "
              f"({time.monotonic() - t_start:.0f} s in)", flush=True)
    if not matched:
        return {}
    if latency is not None:
        interleaved_latency(files, timed, latency, latency_rounds)
    out = twin_changes(matched, base, built_on, controls, images, data=data)
    for label, lat in timed.items():
        out.setdefault(label, {})["proxy_latency"] = lat
    return out


def interleaved_latency(files: dict[str, Path], timed: dict[str, dict[str, Any]],
                        latency: Callable[[Path], dict[str, Any]], rounds: int) -> None:
    """Each file timed once per round, the order rotated round by round; a rung's p50 is the median of
    its rounds' p50s, its ratio to fp32 the median of the per-round ratios (round r of every rung ran
    within the same minute or so). Fills `timed[label]`."""
    import statistics

    names = list(files)
    per: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for r in range(max(1, rounds)):
        for n in names[r % len(names):] + names[:r % len(names)]:
            try:
                per[n].append(latency(files[n]))
            except Exception as exc:  # one rung's failed timing does not stop the others
                print(f"  {n}: latency not measured ({str(exc).splitlines()[0][:200]})", flush=True)
    base = names[0] if names else None
    for n in names:
        if not per[n]:
            continue
        p50s = [g["p50_ms"] for g in per[n]]
        got = {"p50_ms": statistics.median(p50s), "rounds_p50_ms": p50s, "runs": sum(g["runs"] for g in per[n]),
               "load_1min": statistics.median(g["load_1min"] for g in per[n])}
        if base and per[base] and len(per[base]) == len(per[n]):
            got["vs_fp32"] = statistics.median(b["p50_ms"] / g["p50_ms"] for b, g in zip(per[base], per[n]))
        timed[n].update(got)
        print(f"  {n}: p50 {got['p50_ms']:.1f} ms through the runner (rounds {', '.join(f'{v:.1f}' for v in p50s)}; "
              f"1-min load {got['load_1min']:.1f})", flush=True)


def _worst_failing(checks: list[tuple[str, Any]], tolerance: float) -> tuple[str, Any] | None:
    """The comparison (name, PairedChange) that fails the tolerance furthest, or None when all keep."""
    from harness.statistics.accuracy_change import keeps

    failing = [(n, c) for n, c in checks if not keeps(c, tolerance)]
    return min(failing, key=lambda nc: nc[1].low) if failing else None


def rung_verdict(row: dict[str, Any], goal_ms: float = GOAL_MS, min_side: int = GOAL_MIN_SIDE,
                 tolerance: float = MAP_TOLERANCE) -> str:
    """Both axes on the proxy's own file: "met" only at <= goal_ms (runner p50) at >= min_side px AND every
    comparison shown (vs fp32, and vs its control where it has one) keeping its 95% interval's worst end
    inside `tolerance`; otherwise what was met and what was not, by how much."""
    from harness.statistics.accuracy_change import PairedChange

    lat = row.get("proxy_latency")
    lat = lat if isinstance(lat, dict) and "p50_ms" in lat else None
    if not isinstance(row.get("twin_change"), dict):
        acc, lost = "accuracy not measured", True
    else:
        checks = [("vs fp32", PairedChange(**row["twin_change"]))]
        if isinstance(row.get("twin_control_change"), dict):
            checks.append(("vs its control", PairedChange(**row["twin_control_change"])))
        bad = _worst_failing(checks, tolerance)
        if bad is None:
            worst = min(c.low for _, c in checks)
            acc, lost = f"accuracy kept (worst end {worst:+.3f} inside {tolerance})", False
        else:
            name, c = bad
            what = f"lost {-c.change:.3f}" if c.change < 0 else f"not shown kept ({c.change:+.3f})"
            acc, lost = f"accuracy {what} {name} (worst end {c.low:+.3f}; tolerance {tolerance})", True
    if not lat:
        return f"latency not measured, {acc}"
    p50, side = lat["p50_ms"], row["side"]
    if side < min_side:
        return f"latency not judged ({side} px < {min_side} px), {acc}"
    if p50 > goal_ms:
        return f"latency missed ({p50:.1f} ms > {goal_ms:.0f} ms), {acc}"
    return f"latency met ({p50:.1f} ms), {acc}" if lost else f"met ({p50:.1f} ms at {side} px, {acc})"


def _lat_cells(row: dict[str, Any], fp32_ms: float | None) -> list[str]:
    lat = row.get("proxy_latency")
    if not isinstance(lat, dict) or "p50_ms" not in lat:
        return ["not measured", "-"]
    ratio = (f"{lat['vs_fp32']:.2f}x" if lat.get("vs_fp32") else
             f"{fp32_ms / lat['p50_ms']:.2f}x" if fp32_ms else "-")
    return [f"{lat['p50_ms']:.1f} (load {lat['load_1min']:.0f})", ratio]


def proxy_tables(rows: list[dict[str, Any]], tolerance: float = MAP_TOLERANCE) -> list[tuple[str, list[str],
                                                                                          list[list[str]]]]:
    """Two tables of the proxy's rungs, both axes on the same files: compression rungs (precision,
    pruning, factorization) against their control (the same fine-tuning, nothing compressed; fp32 for
    a rung with no fine-tuning), and operating-point rungs (input size, proposals) against fp32."""
    scored = [r for r in rows if "twin_map" in r]
    base = next((r for r in scored if r.get("kind") == "baseline"), None)
    fp32_ms = ((base or {}).get("proxy_latency") or {}).get("p50_ms")
    data = next((r["twin_change"]["data"] for r in scored if isinstance(r.get("twin_change"), dict)), "")
    lat_head = ["p50 ms through the runner (1-min load)", "vs fp32 p50"]
    comp, op = [], []
    for r in scored:
        kind = str(r.get("kind", ""))
        if "compression" in kind or kind == "baseline":
            ctl = r.get("twin_control_change")
            if isinstance(ctl, dict):
                against, cell = "control: same fine-tuning, nothing compressed", _change_cell(ctl)
            else:
                against = "fp32 (itself)" if kind == "baseline" else NO_TUNING
                cell = _change_cell(r.get("twin_change"))
            comp.append([r["label"], str(r["side"]), *_lat_cells(r, fp32_ms), f"{r['twin_map']:.3f}", cell, against,
                         rung_verdict(r, tolerance=tolerance)])
        if "operating point" in kind:
            op.append([r["label"], str(r["side"]), str(r.get("config", {}).get("proposals", "-")),
                       *_lat_cells(r, fp32_ms), f"{r['twin_map']:.3f}", _change_cell(r.get("twin_change")),
                       _change_cell(r.get("twin_step_change")), rung_verdict(r, tolerance=tolerance)])
    both = f"goal: <= {GOAL_MS:.0f} ms at >= {GOAL_MIN_SIDE} px and worst end within {tolerance}"
    return [(f"proxy ladder, compression rungs vs their control ({data}; paired bootstrap 95%; {both})",
             ["step", "px", *lat_head, "mAP@.5", "change vs control (95%)", "control", "both axes"], comp),
            (f"proxy ladder, operating-point rungs vs fp32 ({data}; paired bootstrap 95%; {both})",
             ["step", "px", "proposals", *lat_head, "mAP@.5", "change vs fp32 (95%)", "own change (vs the rung "
              "it was built on)", "both axes"], op)]


def proxy_goal_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows as goal_line reads them, with the proxy's runner p50 as the latency (same file as the mAP)."""
    return [{**r, "p50_ms": r["proxy_latency"]["p50_ms"]} for r in rows
            if isinstance(r.get("proxy_latency"), dict) and "p50_ms" in r["proxy_latency"]]
