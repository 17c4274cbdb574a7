"""Quiet by default: TensorFlow's and absl's start-up logs, the TFLite converter's C++ lines
(`fully_quantize: 0, inference_type: 6 ...`), converter UserWarnings and paramiko's chatter go to a
log file, while progress, tables and our own messages still reach the terminal.

The C++ libraries write to file descriptor 2 directly, so Python's `sys.stderr` alone cannot hold them
back: fd 2 is pointed at the log file and `sys.stderr` at a duplicate of the terminal's descriptor.
"""
from __future__ import annotations

import io
import logging
import os
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from collections.abc import Iterator


def default_log_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "harness" / "logs"


class _DropSocketNoise(logging.Filter):
    """paramiko logs `Socket exception: Bad file descriptor (9)` when we close a transport whose
    host key we refused; the refusal itself is already reported, once, as the device's error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Socket exception" not in record.getMessage()


def hush_paramiko() -> None:
    """For every command: paramiko's transport noise never reaches the terminal."""
    logging.getLogger("paramiko.transport").addFilter(_DropSocketNoise())


@contextmanager
def quiet_logs(verbose: bool, log_dir: Path | None = None, name: str = "run") -> Iterator[Path | None]:
    """Send library logs to `<log_dir>/<name>-<time>.log` (yielded) unless `verbose`."""
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        yield None
        return
    log_dir = log_dir or default_log_dir()
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    log = open(path, "ab", buffering=0)
    sys.stderr.flush()
    saved_fd = os.dup(2)
    os.dup2(log.fileno(), 2)  # C++ logs (TF, absl, the TFLite converter) and child processes' stderr
    old_stderr = sys.stderr
    sys.stderr = io.TextIOWrapper(io.FileIO(saved_fd, "w", closefd=False),
                                  encoding=getattr(old_stderr, "encoding", None) or "utf-8",
                                  errors="backslashreplace", line_buffering=True, write_through=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)  # converter UserWarnings: logged to the file, not printed
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            yield path
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()
        try:
            sys.stderr.flush()
        finally:
            sys.stderr = old_stderr
            os.dup2(saved_fd, 2)
            os.close(saved_fd)
            log.close()
