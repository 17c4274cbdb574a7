"""A Linux board's CPU clocks read over its transport, for the sustained tools that have no reader of their own:
benchmark_model's back-to-back windows (devices/runtime/benchmark_model.py `back_to_back`, shared with
Android) and trtexec's segments (devices/trtexec_sustained.py) read cpufreq's scaling_cur_freq and
scaling_max_freq once a window over the same ssh link.
"""
from __future__ import annotations

from devices.transport import Transport

# Each cpufreq folder's current clock and cap, kHz, two lines per CPU (the glob expands unquoted on the board).
CLOCKS_SCRIPT = 'for d in $1; do cat "$d/scaling_cur_freq" "$d/scaling_max_freq" || exit 1; done'


def parse_clocks(text: str) -> dict[str, dict[str, int]]:
    """`cpuN: {cur, max}` in MHz from CLOCKS_SCRIPT's output (the folders in the glob's sorted order);
    a partial answer keeps nothing."""
    vals = [line.strip() for line in text.splitlines() if line.strip()]
    if not vals or len(vals) % 2 or not all(v.isdigit() for v in vals):
        return {}
    return {f"cpu{i}": {"cur": int(vals[2 * i]) // 1000, "max": int(vals[2 * i + 1]) // 1000}
            for i in range(len(vals) // 2)}


def read_clocks(transport: Transport, cpufreq_glob: str) -> dict[str, dict[str, int]]:
    """The board's CPU clocks and caps now, over its transport (sustained benchmark_model and trtexec)."""
    res = transport.run(["sh", "-c", CLOCKS_SCRIPT, "sh", cpufreq_glob], timeout_s=30)
    return parse_clocks(res.stdout) if res.ok else {}
