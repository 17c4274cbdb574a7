"""Measurements kept beside the results database while it cannot take them (locked past the wait, disk
full): one JSON line each in `<db>.pending.jsonl`, stored by the next run or `--resume` without measuring
again. The name is not SQLite's own `-journal`/`-wal`, so SQLite never touches it."""
from __future__ import annotations

import json
import os
from pathlib import Path

from harness.store.results import Measurement

SQLITE_MAGIC = b"SQLite format 3\x00"


def pending_path(db_path: str | os.PathLike[str]) -> Path:
    return Path(f"{os.fspath(db_path)}.pending.jsonl")


def keep(db_path: str | os.PathLike[str], m: Measurement) -> Path:
    """Append one measurement and flush it to disk; OSError (disk full too) is the caller's to report."""
    path = pending_path(db_path)
    line = m.to_json() + "\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())
    return path


def read(db_path: str | os.PathLike[str]) -> list[Measurement]:
    """The kept measurements; a line cut short by a crash while it was written is skipped."""
    path = pending_path(db_path)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            out.append(Measurement.from_dict(json.loads(line)))
        except (ValueError, TypeError, KeyError):
            continue
    return out


def is_sqlite(path: str | os.PathLike[str]) -> bool:
    """Whether the file starts as an SQLite database does (whatever its tables)."""
    try:
        with open(path, "rb") as f:
            return f.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def explain(path: str | os.PathLike[str], exc: BaseException) -> str:
    """What an SQLite error says about the file, in the user's words: a locked, read-only or full database
    is healthy and said so; "damaged" is kept for a file that is not an SQLite database at all."""
    from errors import clean

    name, text = clean(os.fspath(path)), str(exc)
    low = text.lower()
    if "locked" in low or "busy" in low:
        return (f"{name}: locked by another process (a database browser, a backup, a notebook?) ({text}); "
                "the file is healthy: try again when that process lets go")
    if "readonly" in low or "read-only" in low:
        return f"{name}: read-only, cannot store results here ({text}); the file is healthy"
    if "disk is full" in low or "disk full" in low:
        return f"{name}: disk full, cannot store results ({text}); free some space"
    if "unable to open" in low:
        return f"{name}: cannot open ({text})"
    if is_sqlite(path):
        return f"{name}: an SQLite database that cannot be read as a results database ({text})"
    return f"{name}: damaged or not a results database ({text})"
