"""Where built artifacts and trained weights are cached (XDG_CACHE_HOME/harness/artifacts by default)."""
from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "harness" / "artifacts"
