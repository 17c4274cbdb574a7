"""The README's keras.applications table is the one benchmarks/keras_apps_passes.py writes from its JSON lines:
a cell edited by hand, or lines added without regenerating the table, fail here."""
from __future__ import annotations

import json
from pathlib import Path

from benchmarks.keras_apps_passes import BEGIN, END, MODELS, all_passes, readme_with, table

REPO = Path(__file__).resolve().parent.parent
LINES = REPO / "benchmarks" / "keras_apps_passes.jsonl"


def _cells() -> list[dict]:
    return [json.loads(line) for line in LINES.read_text().splitlines() if line.strip()]


def test_the_readme_table_is_generated_from_the_benchmarks_lines():
    cells = _cells()
    want = table(cells, list(MODELS), all_passes())
    readme = (REPO / "README.md").read_text()
    block = readme[readme.index(BEGIN) + len(BEGIN):readme.index(END)].strip()
    assert block == want.strip()
    assert readme_with(readme, want) == readme


def test_cells_say_works_fails_or_does_not_apply_with_the_reason():
    cells = [{"model": "A", "pass": "p", "ok": True, "size_bytes": 2_500_000, "seconds": 12.0},
             {"model": "B", "pass": "p", "ok": False, "applies": False, "why": "no strided conv"},
             {"model": "A", "pass": "q", "ok": False, "error": "boom"}]
    text = table(cells, ["A", "B"], ["p", "q"])
    assert "| p | ok, 2.50 MB, 12 s | does not apply |" in text and "| q | fails | not run |" in text
    assert "- `p` does not apply (B): no strided conv" in text and "- `q` fails (A): boom" in text
