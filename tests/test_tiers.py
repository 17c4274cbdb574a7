"""The quick tier (`pytest -m "not slow"`): its list of slow files names real files, and the marker is declared."""
from __future__ import annotations

import tomllib
from pathlib import Path

from tests.fixtures_tiers import SLOW_FILES

TESTS = Path(__file__).resolve().parent


def test_every_slow_file_exists():
    """A renamed file would otherwise drop silently into the quick tier."""
    assert sorted(f for f in SLOW_FILES if not (TESTS / f).is_file()) == []


def test_the_slow_marker_is_declared():
    config = tomllib.loads((TESTS.parent / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert any(m.startswith("slow:") for m in config["markers"])
