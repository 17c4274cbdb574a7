"""Targets and the transports they stand on (local, ssh, adb), plus their probes."""
