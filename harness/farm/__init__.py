"""The device farm: lab hosts join one Ray cluster as agents; one coordinator runs the plan on all of them.

Only `harness run/nightly/devices --farm`, `harness agent` and `harness farm` import this package (and Ray);
single-host mode never does.
"""
