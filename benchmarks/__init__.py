"""Benchmarks: scripts that print ratios measured side by side (run as `python benchmarks/NAME.py`)."""
