"""Each accuracy number says what it is (PSNR dB, SSIM, top-1, mAP@0.5) wherever it is shown, the
accuracy-against-latency figure keeps tasks on their own axes, and crowded axis labels stay apart."""
from __future__ import annotations

import dataclasses
import itertools

import pytest

from tests.fixtures_web import make_measurement

SR = {"psnr_db": 27.4137, "ssim": 0.91234}
CLS = {"top1": 0.6123}
DET = {"map50": 0.43}


def _rows(run_id: str = "r") -> list:
    """One device, three tasks (super-resolution, classification, detection), three variants each."""
    rows = []
    for m_i, (model, metrics) in enumerate((("srcnn", SR), ("squeezenet", CLS), ("ssd_lite", DET))):
        for v_i, (variant, f) in enumerate((("fp32", 1.0), ("dr_int8", 0.8), ("int8", 0.5))):
            m = make_measurement(run_id, "pi", model, variant, median_us=1000 * (m_i + 1) * f, seed=m_i * 10 + v_i,
                                 size_bytes=400_000 - 100_000 * v_i)
            drop = 1 - 0.01 * v_i
            named = {k: v * drop for k, v in metrics.items()}
            # as converters.accuracy stores them: the named metrics and the main one again as `accuracy`
            named["accuracy"] = next(iter(named.values()))
            rows.append(dataclasses.replace(m, metrics={**m.metrics, **named}))
    return rows


def test_terminal_table_names_metric_and_unit():
    from harness.reporting.tables import HEADERS, measurement_row

    col = HEADERS.index("accuracy")
    cells = {m.model: measurement_row(m)[col] for m in _rows() if m.variant == "fp32"}
    assert cells == {"srcnn": "PSNR 27.41 dB · SSIM 0.912", "squeezenet": "top-1 0.612", "ssd_lite": "mAP@0.5 0.430"}


def test_markdown_names_metric_and_unit():
    from harness.reporting.report import render_markdown
    from harness.store.results import RunInfo

    md = render_markdown(RunInfo("r", 1.7e9, "h", None, {}, {}, status="finished"), _rows())
    for text in ("PSNR 27.41 dB · SSIM 0.912", "top-1 0.612", "mAP@0.5 0.430"):
        assert text in md
    assert "psnr_db" not in md and "map50" not in md


def test_html_accuracy_table_names_the_metric():
    from harness.reporting.report import accuracy_rows

    metrics = {(r[1], r[3]) for r in accuracy_rows(_rows())}
    assert metrics == {("srcnn", "PSNR dB"), ("squeezenet", "top-1"), ("ssd_lite", "mAP@0.5")}


def test_live_page_json_carries_metric_unit_and_task():
    from harness.live.server import result_brief

    by_model = {m.model: result_brief(m)["accuracy"] for m in _rows() if m.variant == "fp32"}
    assert by_model["srcnn"]["metric"] == "PSNR dB" and by_model["srcnn"]["task"] == "super-resolution"
    assert by_model["srcnn"]["text"] == "PSNR 27.41 dB"
    assert by_model["ssd_lite"]["metric"] == "mAP@0.5" and by_model["squeezenet"]["text"] == "top-1 0.612"


def test_compare_json_names_the_metric():
    from harness.statistics.compare import compare_runs

    items = compare_runs(_rows("a"), _rows("b"))
    names = {c.model: c.to_dict()["accuracy_metric"] for c in items}
    assert names == {"srcnn": "PSNR dB", "squeezenet": "top-1", "ssd_lite": "mAP@0.5"}


def _drawn(fn, rows):
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from harness.reporting import plots

    with matplotlib.rc_context(plots.RC):
        fig = fn.__wrapped__(rows)
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        return fig, canvas.get_renderer()


def test_accuracy_figure_has_one_panel_per_task():
    from harness.reporting import plots

    fig, _ = _drawn(plots.pareto_figure, _rows())
    labels = sorted(ax.get_ylabel() for ax in fig.axes)
    assert len(fig.axes) == 3, labels
    assert any("PSNR dB" in y for y in labels) and any("top-1" in y for y in labels)
    assert any("mAP@0.5" in y for y in labels)


def _overlaps(boxes) -> list[tuple[int, int]]:
    return [(i, j) for (i, a), (j, b) in itertools.combinations(enumerate(boxes), 2)
            if a.x0 < b.x1 - 0.5 and b.x0 < a.x1 - 0.5 and a.y0 < b.y1 - 0.5 and b.y0 < a.y1 - 0.5]


@pytest.mark.parametrize("figure", ["ratio_figure", "energy_figure"])
def test_crowded_axis_labels_do_not_overlap(figure):
    """Four models with file names as users give them, four variants each, two boards: 16 categories."""
    from harness.reporting import plots

    rows = []
    models = ["/data/models/esrgan_x4_generator.tflite", "/data/models/mobilenet_v3_large_224.keras",
              "squeezenet", "srcnn"]
    for d_i, device in enumerate(("rpi5", "jetson-orin-nano")):
        for m_i, model in enumerate(models):
            for v_i, variant in enumerate(("fp32", "fp16", "dr_int8", "int8", "int8_pruned50")):
                rows.append(make_measurement("r", device, model, variant, median_us=1000 * (m_i + 1) / (v_i + 1),
                                             seed=d_i * 100 + m_i * 10 + v_i, size_bytes=400_000 // (v_i + 1),
                                             power_mw=3000.0 if figure == "energy_figure" else None))
    fig, renderer = _drawn(getattr(plots, figure), rows)
    for ax in fig.axes:
        boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()]
        assert len(boxes) >= 16
        assert not _overlaps(boxes), f"{figure}: tick labels overlap: {_overlaps(boxes)[:5]}"
