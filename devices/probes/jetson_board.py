"""What a Jetson says it is: the L4T release line and the device-tree model. Pure functions."""
from __future__ import annotations

import re

# Words in /proc/device-tree/model of Jetson modules and carrier boards (TX2's is "quill", Nano's
# carrier p3450, TX2's p3310); anything else with no L4T release is not a Jetson.
JETSON_MODEL_WORDS = ("jetson", "nvidia", "tegra", "xavier", "orin", "quill", "p3310", "p3450")


def parse_l4t_release(text: str) -> str | None:
    """`# R32 (release), REVISION: 7.1, GCID: ...` (/etc/nv_tegra_release) -> "32.7.1"."""
    m = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text)
    return f"{m.group(1)}.{m.group(2)}" if m else None


def looks_like_jetson(model: str | None) -> bool:
    return bool(model) and any(w in model.lower() for w in JETSON_MODEL_WORDS)  # type: ignore[union-attr]


def first_line(text: str, exit_code: int | None = None) -> str:
    """A command's first non-empty line of output (stderr, as a rule), else its exit status."""
    line = next((ln.strip() for ln in (text or "").splitlines() if ln.strip()), "")
    return line[:200] or (f"exit {exit_code}" if exit_code is not None else "no output")
