"""Variants with parameters (`prune@sparsity=0.5`): checked against the pass's declared parameters, part of
the cache key, and shown as the variant's label in tables."""
from __future__ import annotations

import pytest

from converters.passes import ConversionError, parse_variant, variant_label
from errors import UserError
from harness.planning.config import local_only
from harness.planning.plan import make_plan


def test_parameters_are_parsed_typed_and_labelled():
    assert parse_variant("prune@sparsity=0.5") == ("prune", {"sparsity": 0.5})
    assert parse_variant("cluster@clusters=16") == ("cluster", {"clusters": 16})
    assert parse_variant("factorize@rank=4") == ("factorize", {"rank": 4})
    assert variant_label("prune", {"steps": 50, "sparsity": 0.5}) == "prune@sparsity=0.5@steps=50"


@pytest.mark.parametrize("label, words", [
    ("prune@sparsity=1.5", ["sparsity", "outside"]),
    ("prune@sparsity=half", ["sparsity", "not", "float"]),
    ("cluster@clusters=2.5", ["clusters", "not", "int"]),
    ("cluster@k=4", ["'k'", "no such parameter", "clusters"]),
    ("int8@io_type=int4", ["io_type", "not one of"]),
    ("prune@sparsity", ["@name=value"]),
])
def test_bad_parameters_are_one_line(label, words):
    with pytest.raises(ConversionError) as err:
        parse_variant(label)
    msg = str(err.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_plan_canonicalizes_and_refuses_bad_parameters():
    plan = make_plan(local_only(), models=["srcnn"], variants=["fp32", "prune@sparsity=.5"])
    assert plan.variants == ("fp32", "prune@sparsity=0.5")
    with pytest.raises(UserError, match="--variants: .*sparsity.*outside"):
        make_plan(local_only(), models=["srcnn"], variants=["fp32", "prune@sparsity=2"])


def test_parameters_shape_the_artifact_and_the_cache(quick_recipes, tmp_path, conv_keras_file):
    from harness.commands.convert import convert_all, markdown_table

    rows = convert_all([str(conv_keras_file)], ["int8", "int8@calibration_samples=2", "int8@calibration_samples=2"],
                       None, None, tmp_path, log=lambda line: None)
    assert all("error" not in r for r in rows), rows
    assert rows[0]["params"]["calibration_samples"] == 32 and rows[1]["params"]["calibration_samples"] == 2
    assert rows[0]["artifact"] != rows[1]["artifact"] and rows[2]["cached"] and not rows[1]["cached"]
    assert "| int8@calibration_samples=2 |" in markdown_table(rows)


def test_convert_with_no_known_variant_is_a_user_error(capsys):
    from harness.cli import main

    assert main(["convert", "--variants", "fp8", "--models", "srcnn"]) == 2
    assert "unknown variant 'fp8'" in capsys.readouterr().err
    assert main(["convert", "--variants", "prune@sparsity=7", "--models", "srcnn"]) == 2
