"""A rich progress bar fed by orchestrator events; plain lines when the output is not a terminal."""
from __future__ import annotations

import sys
import threading
from typing import Any


class ProgressPrinter:
    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._lock = threading.Lock()
        self._progress: Any = None  # rich.progress.Progress, imported only when shown
        self._convert_task = None
        self._job_task = None

    def __enter__(self) -> ProgressPrinter:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                transient=False,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.stop()

    def _line(self, text: str) -> None:
        from errors import escape

        text = escape(text, backslash=False)  # a model path or error with terminal escapes prints them escaped
        if self._progress is not None:
            self._progress.console.log(text)
        else:
            print(text, file=sys.stderr, flush=True)

    def _convert_step(self, payload: dict[str, Any]) -> None:
        """Training steps and conversion phases: in the bar's description, or a line per ~25% in a pipe."""
        what = f"{payload['model']}/{payload['variant']}"
        phase, done, total = payload["phase"], payload["done"], payload["total"]
        text = f"{what}: {phase} {done}/{total}" if phase == "train" else f"{what}: {phase}"
        if self._progress is not None and self._convert_task is not None:
            self._progress.update(self._convert_task, description=f"convert {text}")
        elif self._progress is None and (phase != "train" or done == total or done % max(1, total // 4) == 0):
            self._line(text)

    def event(self, kind: str, payload: dict[str, Any]) -> None:
        with self._lock:
            p = self._progress
            if kind == "run_started":
                self._line(f"run {payload['run_id']}: {payload['todo']} jobs to measure"
                           + (f", {payload['skipped']} already done" if payload.get("skipped") else ""))
                if p is not None:
                    self._job_task = p.add_task("measure", total=payload["todo"])
            elif kind == "convert_started" and p is not None:
                if self._convert_task is None:
                    self._convert_task = p.add_task("convert", total=payload["total"])
                p.update(self._convert_task, description=f"convert {payload['model']}/{payload['variant']}")
            elif kind == "convert_finished":
                if payload.get("error"):
                    self._line(f"conversion failed: {payload['model']}/{payload['variant']}: {payload['error']}")
                if p is not None and self._convert_task is not None:
                    p.advance(self._convert_task)
                elif p is None:
                    state = "cached" if payload.get("cached") else ("failed" if payload.get("error") else "converted")
                    self._line(f"[{payload['index'] + 1}/{payload['total']}] "
                               f"{payload['model']}/{payload['variant']}: {state}")
            elif kind == "job_moved":  # `run --pool`: a device went offline during a job; another member runs it
                self._line(f"{payload['model']}/{payload['variant']} moves to {payload['device']} (pool "
                           f"{payload['pool']}): {'; '.join(payload['moved_from'])}")
                if p is not None and self._job_task is not None:
                    p.update(self._job_task,
                             description=f"{payload['device']}: {payload['model']}/{payload['variant']}")
            elif kind == "convert_progress":
                self._convert_step(payload)
            elif kind == "export_started" and p is not None and self._convert_task is not None:
                p.update(self._convert_task, description=f"export {payload['model']}/{payload['variant']} "
                                                          f"({payload['export']})")
            elif kind == "export_finished":
                what = f"{payload['model']}/{payload['variant']} {payload['export']} export"
                if payload.get("error"):
                    self._line(f"{what} failed: {payload['error']}")
                elif p is None:
                    self._line(f"[{payload['index'] + 1}/{payload['total']}] {what}: ready")
            elif kind == "probe_finished":
                if payload.get("error"):
                    self._line(f"{payload['device']}: {payload.get('probe', '')} peak probe failed: {payload['error']}")
                else:
                    swing = payload.get("swing")
                    self._line(f"{payload['device']}: {payload.get('probe', '')} matmul peak "
                               f"{payload['peak_gflops']:.1f} GFLOP/s"
                               + (f" (swing {swing:.0%} between {len(payload.get('rounds_gflops') or [])} runs"
                                  + (": too unsteady to divide by)" if swing > 0.25 else ")")
                                  if swing is not None else ""))
            elif kind == "job_started" and p is not None and self._job_task is not None:
                p.update(self._job_task, description=f"{payload['device']}: {payload['model']}/{payload['variant']}")
            elif kind == "job_finished":
                m = payload["measurement"]  # the Measurement itself (harness.store.results)
                if m.status != "ok":
                    self._line(f"{m.device} {m.model}/{m.variant}: error: {m.error}")
                elif p is None:
                    self._line(f"{m.device} {m.model}/{m.variant}: p50 {(m.p50_us or 0.0) / 1000:.3f} ms")
                if p is not None and self._job_task is not None:
                    p.advance(self._job_task)
