"""Parsers for what target tools print (benchmark_model, trtexec, tegrastats, dumpsys, vcgencmd)."""
