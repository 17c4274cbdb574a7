"""benchmarks/optimizations.py writes its tables as Markdown for README (issue 23 item 6), and
benchmarks/recipe_length.py (is a recipe long enough) calls a recipe under-trained only on a paired gain beyond
doubt and refuses bad input in one line."""
from __future__ import annotations

from benchmarks import optimizations, recipe_length
from harness.statistics.accuracy_change import paired_mean_change


def test_markdown_table_keeps_every_cell_in_its_column():
    md = optimizations.markdown_table(["claim", "here"], [["a | b", "1.5x"], ["c", "-"]]).splitlines()
    assert md[0] == "| claim | here |" and md[1] == "| --- | --- |"
    assert md[2] == "| a \\| b | 1.5x |"  # a pipe inside a cell does not open a column
    assert all(line.replace("\\|", "").count("|") == 3 for line in md)


def test_empty_tables_print(capsys):
    optimizations.print_table("claims", ["claim", "here"], [])
    assert "claim" in capsys.readouterr().out


def test_recipe_length_verdict_needs_the_interval_above_zero():
    base = [30.0 + 0.01 * (i % 5) for i in range(48)]
    better = paired_mean_change([b + 0.05 for b in base], base, "PSNR dB", "default")
    level = paired_mean_change([b + (0.05 if i % 2 else -0.05) for i, b in enumerate(base)], base, "PSNR dB",
                               "default")
    assert recipe_length.verdict(better).startswith("under-trained")
    assert recipe_length.verdict(level).startswith("no gain shown")


def test_recipe_length_bad_input_is_one_line_and_exit_2(capsys):
    assert recipe_length.main(["fsrcnn_s", "--times", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--times" in err[0]
    assert recipe_length.main(["no_such_model\x1b[31m" + "x" * 500]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no_such_model" in err[0] and len(err[0]) < 200 and "\x1b" not in err[0]


def test_repeats_give_the_median_measurement_of_each_job():
    from types import SimpleNamespace

    ms = [SimpleNamespace(model="m", variant=v, p50_us=p) for v, p in
          (("fp32", 30.0), ("fp32", 10.0), ("fp32", 20.0), ("int8", 5.0), ("int8", 7.0))]
    got = optimizations.median_results(ms)
    assert got[("m", "fp32")].p50_us == 20.0 and got[("m", "int8")].p50_us == 5.0  # lower middle of two


def test_optimizations_models_flag_bad_input_is_one_line_and_exit_2(capsys):
    assert optimizations.main(["--models", "squeezenet,nope\x1b[31m" + "x" * 300]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--models" in err[0] and "\x1b" not in err[0] and len(err[0]) < 250
    assert optimizations.main(["--models", ","]) == 2
    assert "--models" in capsys.readouterr().err


def test_claims_of_the_chosen_models_only():
    """`--models squeezenet` regenerates the classification claims alone (issue 23: from the 3000 patches)."""
    rows = optimizations.claims({}, {}, ("squeezenet",))
    assert [r[0] for r in rows] == ["SqueezeNet int8 vs fp32", "Deep Compression (prune 90% + int8 weights + Huffman)"]
    assert all("not measured" in r[3] for r in rows)
    assert len(optimizations.claims({}, {})) == len(rows) + 4  # FSRCNN-s, two factorized, Faster R-CNN
