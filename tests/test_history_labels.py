"""Issue 22: `harness history` marks a step on the run it is about, and shows each run's nightly verdict."""
from __future__ import annotations

from harness.statistics.history import Point, VariantHistory, history_rows, render_text
from harness.statistics.regression import detect_regressions


def test_a_series_where_every_run_is_its_own_level_has_no_steps():
    """Six noisy runs: the fit put each on its own level and the table marked four "steps", one on the
    second run labelled "suspected: newest run only"."""
    values = [6.79, 11.26, 11.38, 12.32, 7.01, 8.2]
    assert detect_regressions(values, threshold=0.05, min_size=2) == []
    # a real lone newest point off a steady level is still suspected, on the newest run
    (s,) = detect_regressions([10, 10.1, 9.9, 10, 6.3], threshold=0.05, min_size=2)
    assert s.index == 4 and not s.confirmed


def test_history_marks_the_run_the_verdict_is_about_with_its_label():
    values = [10, 10.1, 9.9, 10, 6.3]
    labels = ["nightly:ok", "nightly:ok", "nightly:uncomparable", "nightly:ok", "nightly:cleared"]
    points = [Point(f"run{i}", 1_700_000_000 + 86400 * i, None, v, lab)
              for i, (v, lab) in enumerate(zip(values, labels))]
    h = VariantHistory("fp32", points, detect_regressions(values, threshold=0.05, min_size=2))
    lines = render_text("local", "m.tflite", "p50", [h]).splitlines()
    marked = [ln for ln in lines if "improvement" in ln]
    assert len(marked) == 1 and "run4" in marked[0] and "newest run only" in marked[0]
    assert "[nightly:cleared]" in marked[0]
    assert any("run2" in ln and "[nightly:uncomparable]" in ln for ln in lines)
    rows = history_rows([h])
    assert rows[4][-1].startswith("improvement") and rows[4][-1].endswith("[nightly:cleared]")
