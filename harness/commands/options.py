"""What several commands share: the database and devices-file options, and reading a results database."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from errors import UserError

if TYPE_CHECKING:
    from harness.planning.config import DevicesFile
    from harness.store.db import ResultsDB


def default_db() -> str:
    return os.environ.get("HARNESS_DB", "results.db")


def add_devices_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--devices", metavar="FILE", help="devices file (default: devices.yaml if present, else this host)")


def add_db_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", default=None, help="results database (default: results.db or $HARNESS_DB)")


def add_farm_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--farm", metavar="HEAD:PORT",
                   help="run on a device farm: the devices of every agent joined to this Ray head")


def csv_list(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def load_devices_arg(path: str | None) -> "DevicesFile":
    from harness.planning.config import load_devices, local_only

    if path:
        return load_devices(path)
    if Path("devices.yaml").exists():
        return load_devices("devices.yaml")
    return local_only()


def open_db(path_arg: str | None) -> "ResultsDB":
    """An existing results database; a note on stderr when an older schema was just upgraded."""
    from harness.store.db import ResultsDB

    path = path_arg or default_db()
    if not Path(path).exists():
        raise UserError(f"{path}: no results database (run `harness run` first, or pass --db)")
    db = ResultsDB(path)
    if db.upgraded_from is not None:
        print(f"harness: upgraded {path} from schema {db.upgraded_from} to {db.schema_version}; "
              "every row is kept", file=sys.stderr)
    return db


def resolve_run(db: "ResultsDB", run_id: str | None) -> str:
    """The given run (checked to exist) or the latest one."""
    if run_id:
        db.get_run(run_id)  # UserError naming the id when it is unknown
        return run_id
    latest = db.latest_run_id()
    if latest is None:
        raise UserError(f"{db.path}: the database has no runs yet (run `harness run` first)")
    return latest
