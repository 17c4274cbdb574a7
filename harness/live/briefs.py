"""What the live page shows of a run and of each row: short JSON records, no raw samples (`?full=1` has those)."""
from __future__ import annotations

from collections.abc import Mapping

from harness.statistics.compare import accuracy_name, accuracy_of, accuracy_task, accuracy_text, model_label
from harness.store.results import Measurement, RunInfo


def result_brief(m: Measurement) -> dict[str, object]:
    """What the page shows of one measurement: no raw samples."""
    acc = accuracy_of(m)
    return {
        "run_id": m.run_id, "device": m.device, "model": m.model, "model_label": model_label(m.model),
        "variant": m.variant, "status": m.status, "error": m.error, "p50_us": m.p50_us, "p90_us": m.p90_us,
        "p99_us": m.p99_us, "cv": m.cv, "runs": m.runs, "size_bytes": m.model_size_bytes,
        "peak_rss_mb": m.peak_rss_mb, "energy_per_inference_mj": m.energy_per_inference_mj,
        "temp_max_c": m.temp_max_c,
        "accuracy": {"name": acc[0], "metric": accuracy_name(acc[0]), "task": accuracy_task(acc[0]), "value": acc[1],
                     "text": accuracy_text(*acc)} if acc else None,
        "valid": m.validity.valid if m.validity else None,
        "flags": m.validity.flags() if m.validity else [], "finished_at": m.finished_at, "host": m.host,
    }


def plan_total(plan: Mapping[str, object]) -> int | None:
    """Jobs in a stored plan (models x variants x devices x repeats, a `--pool` counted once, whichever of its
    devices runs a job: as the run's own "run_started" total); None for imported runs."""
    listed = plan.get("devices")
    devices = listed.get("devices") if isinstance(listed, dict) else None
    models, variants = plan.get("models"), plan.get("variants")
    if not isinstance(devices, list) or not isinstance(models, list) or not isinstance(variants, list):
        return None
    named = plan.get("pools")
    pools = {str(p) for p in named} if isinstance(named, (list, tuple)) else set()
    keys = {str(d["pool"]) if d.get("pool") in pools else str(d.get("name"))
            for d in devices if isinstance(d, dict) and d.get("enabled", True)}
    repeat = plan.get("repeat")
    return len(models) * len(variants) * len(keys) * (repeat if isinstance(repeat, int) and repeat > 0 else 1)


def run_brief(r: RunInfo, rows: list[Measurement]) -> dict[str, object]:
    ok = sum(1 for m in rows if m.status == "ok")
    return {"run_id": r.run_id, "created_at": r.created_at, "status": r.status, "host": r.host,
            "git_revision": r.git_revision, "label": r.label, "total": plan_total(r.plan),
            "measured": ok, "errors": len(rows) - ok}
