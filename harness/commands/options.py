"""What several commands share: the database and devices-file options, and reading a results database."""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from errors import UserError, clean, quote

if TYPE_CHECKING:
    from harness.planning.config import DevicesFile
    from harness.store.db import ResultsDB


def default_db() -> str:
    return os.environ.get("HARNESS_DB", "results.db")


def add_devices_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--devices", metavar="FILE", help="devices file (default: devices.yaml if present, else this host)")


def add_db_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", default=None, type=db_arg, help="results database (default: results.db or $HARNESS_DB)")


def add_retrain_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--retrain", action="store_true",
                   help="train the zoo models here by their recipes instead of loading the weights shipped "
                        "with the package (minutes on 2 cores; kept in the cache for later --retrain runs)")


def add_peak_probe_arg(p: argparse.ArgumentParser) -> None:
    """`run` and `nightly` skip the probe the same way: four short runner jobs per device before the first job."""
    p.add_argument("--no-peak-probe", action="store_true",
                   help="skip the once-per-device matmul probe behind the 'fraction of peak' column")


def add_task_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", metavar="sr|classify|detect",
                   help="what your own model files do, so their accuracy is measured on --images DIR (for "
                        "classify: one folder per class; for detect: a YOLO .txt of boxes per image or a COCO "
                        "instances .json); "
                        "without it their accuracy is not measured")


def apply_retrain(args: argparse.Namespace) -> None:
    """--retrain reaches the converters as $HARNESS_RETRAIN (converters never import harness)."""
    if getattr(args, "retrain", False):
        from converters.shipped import RETRAIN_ENV

        os.environ[RETRAIN_ENV] = "1"


def add_farm_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--farm", metavar="HEAD:PORT",
                   help="run on a device farm: the devices of every agent joined to this Ray head")


def _number(kind: type[int] | type[float], *, low: float | None = None, high: float | None = None,
            low_open: bool = False) -> Callable[[str], float | int]:
    """An argparse type: a finite number in range, so `--runs 0` or `--threshold nan` fails at the flag."""
    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"not {'an integer' if kind is int else 'a number'}: {quote(text, 40)}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise argparse.ArgumentTypeError(f"must be a finite number (got {quote(text, 40)})")
        if low is not None and (value <= low if low_open else value < low):
            bound = "above" if low_open else "at least"
            raise argparse.ArgumentTypeError(f"must be {bound} {low:g} (got {quote(text, 40)})")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high:g} (got {quote(text, 40)})")
        return value
    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


positive_int = _number(int, low=1)
rounds_arg = _number(int, low=3, high=50)  # interleaved rounds (compare --remeasure)
thread_count = _number(int, low=1, high=256)
count = _number(int, low=0)
seconds = _number(float, low=0)
positive_seconds = _number(float, low=0, low_open=True)
fraction = _number(float, low=0)
celsius = _number(float, low=-50, high=150)
port = _number(int, low=0, high=65535)  # 0: pick a free one (a server's own port)
tcp_port = _number(int, low=1, high=65535)  # a port to connect to or to name to another tool


_UNITS_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def duration(text: str) -> float:
    """An argparse type: `600`, `90s`, `10m`, `1h`, `500ms` as seconds (above 0, at most a day)."""
    import re

    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s|min|m|h)?\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration (600, 90s, 10m, 1h): {quote(text, 40)}")
    value = float(match.group(1)) * _UNITS_S[match.group(2) or "s"]
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 24 h (got {quote(text, 40)})")
    return value


duration.__name__ = "duration"


def check_folder(flag: str, value: str | None, *, create: bool = False) -> Path | None:
    """A folder flag: it must be a folder (or, with `create`, a path where one can be made)."""
    if value is None:
        return None
    p = Path(value).expanduser()
    if create:
        probe = p
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if probe.exists() and not probe.is_dir():
            what = "exists and is not a folder" if probe == p else f"{clean(probe)} is a file, not a folder"
            raise UserError(f"{flag} {clean(value)}: {what}")
        return p
    if not p.exists():
        raise UserError(f"{flag} {clean(value)}: no such folder")
    if not p.is_dir():
        raise UserError(f"{flag} {clean(value)}: not a folder")
    return p


def csv_list(value: str | None, flag: str) -> list[str] | None:
    """A comma-separated flag; given but naming nothing (`--models ,`) is refused, not read as the default."""
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise UserError(f"{flag} {quote(value, 40)}: names nothing (leave {flag} out for the default)")
    return items


def input_shape(text: str) -> tuple[str, list[int]]:
    """argparse type of --input-shape NAME=1x224x224x3: an input's name and positive dimensions."""
    name, _, dims = text.rpartition("=")
    try:
        shape = [int(d) for d in dims.lower().split("x")]
    except ValueError:
        shape = []
    if not name or not shape or any(not 1 <= d <= 1 << 20 for d in shape):
        raise argparse.ArgumentTypeError(f"expected NAME=1x224x224x3 (positive dimensions), got {quote(text, 60)}")
    return name, shape


MAX_NAME_BYTES = 255  # a path component longer than this is refused by every common file system


def path_problem(value: str) -> str | None:
    """Why `value` cannot be a path here, or None: empty, or a component longer than 255 bytes."""
    if value == "":
        return "an empty path"
    for part in value.replace(",", "/").split("/"):
        if len(os.fsencode(part)) > MAX_NAME_BYTES:
            return f"a name in the path is longer than {MAX_NAME_BYTES} bytes ({len(os.fsencode(part))})"
    return None


def db_arg(text: str) -> str:
    """argparse type of --db: a usable file path (`--db ''` is not the default database)."""
    problem = path_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(f"{problem}: {quote(text, 60)}")
    return text


# Flags (by argparse dest) that name files or folders: checked for empty values and over-long names at once.
PATH_DESTS = {"db": "--db", "devices": "--devices", "models": "--models", "cache_dir": "--cache-dir",
              "images": "--images", "out": "--out", "out_dir": "--out-dir", "file": "FILE"}


def check_paths(args: argparse.Namespace) -> None:
    """Every path flag of any command: `--devices ''` is not the default file, and a name over 255 bytes is
    one line naming the flag, not an `OSError: File name too long` traceback."""
    for dest, flag in PATH_DESTS.items():
        value = getattr(args, dest, None)
        if isinstance(value, str):
            problem = path_problem(value)
            if problem:
                raise UserError(f"{flag}: {problem}: {quote(value, 60)}")


def check_not_db(flag: str, out: str | None, db_path: str | None) -> None:
    """An output file must never be a results database: not the one named (by any path, symlinks and hard
    links too) and not any SQLite file, which `--out` would overwrite with a table."""
    from harness.store.pending import is_sqlite

    if not out:
        return
    target = Path(out).expanduser()
    db = Path(db_path or default_db()).expanduser()
    same = target.resolve() == db.resolve()
    if not same and target.exists() and db.exists():
        try:
            same = os.path.samefile(target, db)
        except OSError:
            same = False
    if same:
        raise UserError(f"{flag} {clean(out)}: that is the results database; writing there would destroy it")
    if target.is_file() and is_sqlite(target):
        raise UserError(f"{flag} {clean(out)}: an SQLite database (a results database?); refusing to overwrite it")


def load_devices_arg(path: str | None) -> DevicesFile:
    from harness.planning.config import load_devices, local_only

    if path:
        return load_devices(path)
    if Path("devices.yaml").exists():
        return load_devices("devices.yaml")
    return local_only()


def open_db(path_arg: str | None) -> ResultsDB:
    """An existing results database; a note on stderr when an older schema was just upgraded."""
    from harness.store.db import ResultsDB

    path = path_arg or default_db()
    if not Path(path).exists():
        raise UserError(f"{clean(path)}: no results database (run `harness run` first, or pass --db)")
    if Path(path).is_dir():
        raise UserError(f"{clean(path)}: a folder, not a results database")
    if Path(path).stat().st_size == 0:
        raise UserError(f"{clean(path)}: an empty file, not a results database")
    db = ResultsDB(path)
    from harness.store.pending import pending_path

    if pending_path(path).is_file():
        print(f"harness: note: measurements the database refused wait in {clean(str(pending_path(path)))}; "
              "the next `harness run` (or `run --resume RUN_ID`) stores them", file=sys.stderr)
    if db.upgraded_from is not None:
        print(f"harness: upgraded {path} from schema {db.upgraded_from} to {db.schema_version}; "
              "every row is kept", file=sys.stderr)
    return db


def check_db_for_writing(path: str) -> None:
    """A database a command will create or add to: refused now, before any work, when it is a folder
    or a damaged or foreign file. A missing or empty file is fine: it becomes a new database."""
    p = Path(path)
    if p.is_dir():
        raise UserError(f"{clean(path)}: a folder, not a results database")
    if p.is_file() and p.stat().st_size > 0:
        open_db(path).close()  # also upgrades an old file now, with its note


def resolve_run(db: ResultsDB, run_id: str | None) -> str:
    """The given run (checked to exist) or the latest one."""
    if run_id:
        db.get_run(run_id)  # UserError naming the id when it is unknown
        return run_id
    latest = db.latest_run_id()
    if latest is None:
        raise UserError(f"{db.path}: the database has no runs yet (run `harness run` first)")
    return latest
