"""The walls between packages (pyproject.toml [tool.importlinter]), checked by import-linter's `lint-imports`.

One test runs it on this checkout; the others copy the packages to a temp dir, break one wall there
(a module-level or a function-local import) and check that lint-imports fails naming that contract.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("harness", "converters", "devices", "rpi", "errors", "benchmarks")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _contracts() -> dict[str, str]:
    """Contract id -> name, as pyproject.toml states them."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {c["id"]: c["name"] for c in config["contracts"]}


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports on ROOT's packages; PYTHONPATH (conftest points it at this checkout) is left out."""
    if not LINT_IMPORTS.exists():
        pytest.skip(f"needs import-linter (pip install -e '.[test]'): no {LINT_IMPORTS}")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env, capture_output=True, text=True,
                          timeout=120)


def _states(output: str) -> dict[str, str]:
    """Contract name -> KEPT or BROKEN, from lint-imports' summary lines."""
    return {m.group(1): m.group(2) for m in re.finditer(r"^(.+?) (KEPT|BROKEN)$", output, re.M)}


def test_every_package_folder_is_a_regular_package():
    """A folder without __init__.py is a namespace package: Python (and lint-imports with it) merges it
    with a same-named folder elsewhere on the path, such as another checkout's editable install."""
    missing = [str(d.relative_to(REPO)) for package in PACKAGES for d in [REPO / package, *(REPO / package).rglob("*")]
               if d.is_dir() and d.name != "__pycache__" and any(d.glob("*.py")) and not (d / "__init__.py").exists()]
    assert missing == []


def test_the_checkout_keeps_every_wall():
    contracts = _contracts()
    assert set(contracts) == {"rpi-alone", "devices-wall", "converters-wall", "errors-bottom",
                              "single-host-without-farm", "no-circle-build", "no-circle-accuracy", "no-circle-ios",
                              "no-circle-ladder"}
    res = _lint(REPO)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert _states(res.stdout) == {name: "KEPT" for name in contracts.values()}


# (contract id, module to break, line added, the import lint-imports must name)
BREAKS = [
    ("devices-wall", "devices/transport.py", "import harness\n", "devices.transport -> harness"),
    ("devices-wall", "devices/jetson_target.py",
     "\n\ndef _sneaky():\n    from converters.build import TF_LOCK\n    return TF_LOCK\n",
     "devices.jetson_target -> converters.build"),
    ("converters-wall", "converters/data.py", "\n\ndef _sneaky():\n    from devices import registry\n",
     "converters.data -> devices.registry"),
    ("converters-wall", "converters/zoo.py", "from harness.planning import config\n",
     "converters.zoo -> harness.planning.config"),
    ("rpi-alone", "rpi/runner.py", "\n\ndef _sneaky():\n    from errors import UserError\n",
     "rpi.runner -> errors"),
    ("errors-bottom", "errors/__init__.py", "import rpi.runner\n", "errors -> rpi.runner"),
    ("single-host-without-farm", "harness/orchestration/orchestrate.py",
     "\n\ndef _sneaky():\n    from harness.farm import coordinator\n",
     "harness.orchestration.orchestrate -> harness.farm.coordinator"),
    # The four circles once hidden behind function-level imports: putting one back fails its contract.
    ("no-circle-build", "converters/training.py", "\n\ndef _sneaky():\n    from converters.build import TF_LOCK\n",
     "converters.training -> converters.build"),
    ("no-circle-accuracy", "converters/detection.py", "\n\ndef _sneaky():\n    from converters import accuracy\n",
     "converters.detection -> converters.accuracy"),
    ("no-circle-ios", "devices/ios_adapter.py", "\n\ndef _sneaky():\n    from devices import ios_device\n",
     "devices.ios_adapter -> devices.ios_device"),
    ("no-circle-ladder", "benchmarks/ladder_tensorrt.py",
     "\n\ndef _sneaky():\n    from benchmarks.faster_rcnn_ladder import _build\n",
     "benchmarks.ladder_tensorrt -> benchmarks.faster_rcnn_ladder"),
]


@pytest.mark.parametrize("contract, module, line, named", BREAKS, ids=[f"{b[0]}:{b[1]}" for b in BREAKS])
def test_a_broken_import_fails_naming_its_contract(tmp_path, contract, module, line, named):
    for package in PACKAGES:
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    clean = _lint(tmp_path)
    assert clean.returncode == 0, "the copy must keep the walls before one is broken: " + clean.stdout[-2000:]
    target = tmp_path / module
    target.write_text(target.read_text() + line)
    res = _lint(tmp_path)
    assert res.returncode != 0
    contracts = _contracts()
    states = _states(res.stdout)
    assert states[contracts[contract]] == "BROKEN", res.stdout[-3000:]
    assert {n for n, s in states.items() if s == "BROKEN"} == {contracts[contract]}, "only that wall is broken"
    assert named in res.stdout, res.stdout[-3000:]


def test_no_import_circle_anywhere():
    """Beyond the four pairs named in pyproject.toml: no two project modules reach each other by imports,
    function-level ones included (grimp's graph, the one lint-imports reads)."""
    import grimp

    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    circles = []
    for module in sorted(graph.modules):
        for other in graph.find_modules_directly_imported_by(module):
            if module < other and graph.chain_exists(importer=other, imported=module):
                circles.append(f"{module} <-> {other}")
    assert circles == []
