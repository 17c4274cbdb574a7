"""The results database: one SQLite file, every measurement committed the moment it arrives."""
from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
import time
from pathlib import Path
from collections.abc import Callable, Iterable

from errors import UserError, clean, quote
from harness.store import pending
from harness.store.results import SCHEMA_VERSION, Measurement, RunInfo

SqlValue = str | int | float | bytes | None  # what sqlite3 binds to a ? placeholder
BUSY_SLICE_S = 5.0  # SQLite's own busy timeout per try; a message is printed between tries


def busy_wait_s() -> float:
    """How long a write waits for another process's lock before the result is kept beside the database
    ($HARNESS_DB_BUSY_S, default 120 s: a backup or a browser's transaction usually lets go in that time)."""
    try:
        return max(0.0, float(os.environ.get("HARNESS_DB_BUSY_S", "120")))
    except ValueError:
        return 120.0


def _transient(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class StoreError(Exception):
    """A write the database refused (locked past the wait, disk full, read-only): what happened, in words."""

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    host TEXT NOT NULL,
    git_revision TEXT,
    packages TEXT NOT NULL,
    plan TEXT NOT NULL,
    status TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    label TEXT
);
CREATE TABLE IF NOT EXISTS measurements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    device TEXT NOT NULL,
    model TEXT NOT NULL,
    variant TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    p50_us REAL,
    finished_at REAL,
    schema_version INTEGER NOT NULL,
    data TEXT NOT NULL,
    repeat_index INTEGER NOT NULL DEFAULT 0,
    host_others_cpu_pct REAL,
    host_steal_pct REAL,
    host_run_queue INTEGER,
    UNIQUE (run_id, device, model, variant, repeat_index)
);
CREATE INDEX IF NOT EXISTS measurements_dmv ON measurements (device, model, variant);
"""

# Upgrades from an older schema_version to the next: SQL statements, or a function of the connection.
# 2 -> 3: the row key gains repeat_index (SQLite cannot change a UNIQUE constraint in place, so the
# table is rebuilt inside the same transaction, ids kept), and summary-only rows lose the figures
# that were never measured (see _unfill_percentiles).
_V3_TABLE = """
CREATE TABLE measurements_v3 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    device TEXT NOT NULL,
    model TEXT NOT NULL,
    variant TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    p50_us REAL,
    finished_at REAL,
    schema_version INTEGER NOT NULL,
    data TEXT NOT NULL,
    repeat_index INTEGER NOT NULL DEFAULT 0,
    UNIQUE (run_id, device, model, variant, repeat_index)
)"""


def _unfill_percentiles(data: dict[str, object]) -> dict[str, object]:
    """Before schema 3, a row from a tool that printed only statistics (no raw samples) had p90/p99
    filled from p95 (or the mean) and min/max from the mean. Put the p95 back under its name and
    empty what was a copy; rows with raw samples computed every figure and are left as they are."""
    if data.get("latencies_us") or data.get("status") != "ok" or data.get("mean_us") is None:
        return data
    mean = data["mean_us"]
    p90, p99 = data.get("p90_us"), data.get("p99_us")
    if p90 is not None and p90 == p99:  # both came from the same fallback
        if p90 != mean and data.get("p95_us") is None:
            data["p95_us"] = p90
        data["p90_us"] = data["p99_us"] = None
    std = data.get("std_us")
    for key in ("min_us", "max_us"):
        if data.get(key) is not None and data[key] == mean and isinstance(std, (int, float)) and std > 0:
            data[key] = None
    return data


def _to_v3(conn: sqlite3.Connection) -> None:
    conn.execute(_V3_TABLE)
    rows = conn.execute("SELECT id, run_id, device, model, variant, status, error, p50_us, finished_at,"
                        " schema_version, data FROM measurements ORDER BY id").fetchall()
    for row in rows:
        old = json.loads(row[10])
        new = _unfill_percentiles(dict(old))
        data = row[10] if new == old else json.dumps(new, sort_keys=True)
        conn.execute("INSERT INTO measurements_v3 (id, run_id, device, model, variant, status, error, p50_us,"
                     " finished_at, schema_version, data, repeat_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                     (*row[:10], data))
    conn.execute("DROP TABLE measurements")
    conn.execute("ALTER TABLE measurements_v3 RENAME TO measurements")
    conn.execute("CREATE INDEX IF NOT EXISTS measurements_dmv ON measurements (device, model, variant)")


# 3 -> 4: the host's noise during each job, as nullable columns (older rows did not measure it: empty).
_HOST_COLUMNS = (("host_others_cpu_pct", "REAL"), ("host_steal_pct", "REAL"), ("host_run_queue", "INTEGER"))
MIGRATIONS: dict[int, list[str | Callable[[sqlite3.Connection], None]]] = {
    1: ["ALTER TABLE runs ADD COLUMN label TEXT"],
    2: [_to_v3],
    3: [f"ALTER TABLE measurements ADD COLUMN {name} {kind}" for name, kind in _HOST_COLUMNS],
}
# Indexes on columns a migration adds: created after the migrations, for new and upgraded files alike.
_POST_DDL = "CREATE INDEX IF NOT EXISTS runs_label ON runs (label, created_at)"


class ResultsDB:
    """Thread-safe wrapper: devices run in parallel threads and each commits its own rows."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.upgraded_from: int | None = None
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(str(self.path), check_same_thread=False,
                                         timeout=min(BUSY_SLICE_S, busy_wait_s() / 5))
        except sqlite3.DatabaseError as exc:
            raise UserError(pending.explain(self.path, exc)) from None
        self._lock = threading.Lock()
        try:
            self._init()
        except BaseException:
            self._conn.close()
            raise

    def _init(self) -> None:
        """Check the file is ours before anything is written to it; write only to create or upgrade."""
        name = clean(str(self.path))
        with self._lock:
            try:
                tables = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if tables and "runs" not in tables:
                    raise UserError(f"{name}: an SQLite file of something else, not a results database "
                                    f"(no 'runs' table)")
                row = None
                if "meta" in tables:
                    row = self._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                if row is not None and str(row[0]).isdigit() and int(row[0]) == SCHEMA_VERSION:
                    self._conn.execute("SELECT count(*) FROM runs").fetchone()  # a damaged file fails here
                    if self._conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                        self._conn.execute("PRAGMA journal_mode=WAL")
                    self._conn.execute("PRAGMA synchronous=NORMAL")
                    return  # up to date: nothing to write
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=NORMAL")
                self._conn.executescript(_DDL)
            except sqlite3.DatabaseError as exc:
                raise UserError(pending.explain(self.path, exc)) from None
            # One write transaction for reading the version, every step and the new number: a failure
            # changes nothing, and a second process opening the same old file waits, then sees it done.
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                row = self._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                version = int(row[0]) if row else self._unmarked_version()
                if version > SCHEMA_VERSION:
                    self._conn.rollback()
                    raise UserError(f"{name}: schema_version {version} is newer than this harness "
                                    f"({SCHEMA_VERSION}); upgrade harness")
                self.upgraded_from = version if version < SCHEMA_VERSION else None
                while version < SCHEMA_VERSION:
                    for stmt in MIGRATIONS.get(version, []):
                        if callable(stmt):
                            stmt(self._conn)
                        else:
                            self._conn.execute(stmt)
                    version += 1
                self._conn.execute(_POST_DDL)
                self._conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(version),)
                )
                self._conn.commit()
            except (sqlite3.DatabaseError, ValueError) as exc:
                self._conn.rollback()
                if isinstance(exc, sqlite3.OperationalError):
                    raise UserError(pending.explain(self.path, exc)) from None
                raise UserError(f"{name}: cannot open or upgrade the results database: {exc}") from None

    def _unmarked_version(self) -> int:
        """A file without a version mark: 1 if its runs table predates the label column, 2 if its
        measurements lack repeat_index."""
        cols = {r[1] for r in self._conn.execute("PRAGMA table_info(runs)")}
        if "label" not in cols:
            return 1
        mcols = {r[1] for r in self._conn.execute("PRAGMA table_info(measurements)")}
        if "repeat_index" not in mcols:
            return 2
        return SCHEMA_VERSION if "host_others_cpu_pct" in mcols else 3

    @property
    def schema_version(self) -> int:
        row = self._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row[0])

    def _write(self, sql: str, params: tuple[SqlValue, ...]) -> int:
        """One statement committed now. While another process holds the lock, say so and keep trying for
        busy_wait_s(); then (or on a full disk, a read-only file) StoreError in words."""
        waited, budget, said = 0.0, busy_wait_s(), -60.0
        while True:
            started = time.monotonic()
            try:
                with self._lock:
                    try:
                        cur = self._conn.execute(sql, params)
                        self._conn.commit()
                        return cur.rowcount
                    except sqlite3.DatabaseError:
                        if self._conn.in_transaction:
                            self._conn.rollback()
                        raise
            except sqlite3.OperationalError as exc:
                waited += time.monotonic() - started
                if not _transient(exc) or waited >= budget:
                    raise StoreError(pending.explain(self.path, exc)) from None
                if waited - said >= 30:  # at once, then every 30 s: the user sees why nothing moves
                    print(f"harness: waiting for {clean(str(self.path))}: locked by another process "
                          f"({waited:.0f} s of at most {budget:.0f} s)", file=sys.stderr, flush=True)
                    said = waited
                time.sleep(min(0.5, max(0.0, budget - waited)))
                waited += 0.5

    def add_run(self, run: RunInfo) -> None:
        try:
            self._write(
                "INSERT INTO runs (run_id, created_at, host, git_revision, packages, plan, status,"
                " schema_version, label) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run.run_id,
                    run.created_at,
                    run.host,
                    run.git_revision,
                    json.dumps(run.packages, sort_keys=True),
                    json.dumps(run.plan, sort_keys=True),
                    run.status,
                    run.schema_version,
                    run.label,
                ),
            )
        except StoreError as exc:  # nothing measured yet: nothing to keep
            raise UserError(str(exc)) from None

    def set_run_label(self, run_id: str, label: str | None) -> None:
        try:
            self._write("UPDATE runs SET label=? WHERE run_id=?", (label, run_id))
        except StoreError as exc:
            raise UserError(str(exc)) from None

    def latest_run_with_label(self, label: str, *, before: str | None = None) -> str | None:
        """The newest run carrying `label` (created before run `before`, when given)."""
        sql, args = "SELECT run_id FROM runs WHERE label=?", [label]
        if before is not None:
            sql += " AND created_at < (SELECT created_at FROM runs WHERE run_id=?)"
            args.append(before)
        row = self._conn.execute(sql + " ORDER BY created_at DESC LIMIT 1", args).fetchone()
        return row[0] if row else None

    def set_run_status(self, run_id: str, status: str) -> bool:
        """Whether the status was stored; a lock that outlasts the wait leaves the old one (the measurements
        are what matter: `--resume` sets it again)."""
        try:
            self._write("UPDATE runs SET status=? WHERE run_id=?", (status, run_id))
            return True
        except StoreError as exc:
            print(f"harness: warning: run {run_id} not marked {status}: {exc}", file=sys.stderr)
            return False

    def get_run(self, run_id: str) -> RunInfo:
        row = self._conn.execute("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchone()
        if row is None:
            raise UserError(f"{clean(str(self.path))}: no run with id {quote(run_id, 60)} "
                            "(see `harness results --list-runs`)")
        return _run_from_row(row)

    def runs(self) -> list[RunInfo]:
        rows = self._conn.execute("SELECT * FROM runs ORDER BY created_at").fetchall()
        return [_run_from_row(r) for r in rows]

    def latest_run_id(self) -> str | None:
        row = self._conn.execute("SELECT run_id FROM runs ORDER BY created_at DESC LIMIT 1").fetchone()
        return row[0] if row else None

    def add(self, m: Measurement) -> bool:
        """Commit one measurement now. A key is never doubled: an ok row is kept as it is, an error
        row is replaced by a later attempt (resume retries failures). Returns whether it was stored.
        StoreError when the database refuses it (locked past the wait, disk full); see keep()."""
        return self._write(
                "INSERT INTO measurements (run_id, device, model, variant, status, error, p50_us,"
                " finished_at, schema_version, data, repeat_index, host_others_cpu_pct, host_steal_pct,"
                " host_run_queue) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (run_id, device, model, variant, repeat_index) DO UPDATE SET status=excluded.status,"
                " error=excluded.error, p50_us=excluded.p50_us, finished_at=excluded.finished_at,"
                " schema_version=excluded.schema_version, data=excluded.data,"
                " host_others_cpu_pct=excluded.host_others_cpu_pct, host_steal_pct=excluded.host_steal_pct,"
                " host_run_queue=excluded.host_run_queue"
                " WHERE measurements.status = 'error'",
                (
                    m.run_id,
                    m.device,
                    m.model,
                    m.variant,
                    m.status,
                    m.error,
                    m.p50_us,
                    m.finished_at,
                    m.schema_version,
                    m.to_json(),
                    m.repeat_index,
                    m.host_others_cpu_pct,
                    m.host_steal_pct,
                    m.host_run_queue,
                ),
            ) == 1

    def keep(self, m: Measurement) -> str:
        """Store `m`, or when the database refuses it, keep it in the file beside it for the next run or
        `--resume` to store without measuring again. Returns what happened, in words ('' when stored)."""
        try:
            self.add(m)
            return ""
        except StoreError as exc:
            try:
                where = pending.keep(self.path, m)
            except OSError as oserr:
                return f"{exc}; NOT KEPT either ({clean(str(oserr), 120)})"
            return f"{exc}; kept in {clean(str(where))} for --resume"

    def store_pending(self) -> int:
        """Store what earlier runs kept beside the database (see keep); the file goes once all is in."""
        rows = pending.read(self.path)
        if not rows:
            return 0
        for m in rows:
            self.add(m)  # StoreError: still locked, the file stays as it is
        pending.pending_path(self.path).unlink(missing_ok=True)
        return len(rows)

    def done_keys(self, run_id: str, *, include_errors: bool = True) -> set[tuple[str, str, str]]:
        return {k[:3] for k in self.done_repeats(run_id, include_errors=include_errors)}

    def done_repeats(self, run_id: str, *, include_errors: bool = True) -> set[tuple[str, str, str, int]]:
        """(device, model, variant, repeat_index) of the rows a run already holds."""
        sql = "SELECT device, model, variant, repeat_index FROM measurements WHERE run_id=?"
        if not include_errors:
            sql += " AND status='ok'"
        rows = self._conn.execute(sql, (run_id,)).fetchall()
        return {tuple(r) for r in rows}

    def measurements(self, run_id: str | None = None, *, device: str | None = None,
                     model: str | None = None) -> list[Measurement]:
        sql = "SELECT data FROM measurements"
        clauses: list[str] = []
        args: list[str] = []
        for col, val in (("run_id", run_id), ("device", device), ("model", model)):
            if val is not None:
                clauses.append(f"{col}=?")
                args.append(val)
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY id"
        return [Measurement.from_dict(json.loads(r[0])) for r in self._conn.execute(sql, args)]

    def add_many(self, items: Iterable[Measurement]) -> int:
        return sum(self.add(m) for m in items)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _run_from_row(row: tuple[object, ...]) -> RunInfo:
    """A `runs` row (run_id, created_at, host, git_revision, packages, plan, status, schema_version[, label]):
    SQLite gives back what the columns hold."""
    revision, label, created, version = row[3], row[8] if len(row) > 8 else None, row[1], row[7]
    return RunInfo(
        run_id=str(row[0]),
        created_at=created if isinstance(created, (int, float)) else float(str(created)),
        host=str(row[2]),
        git_revision=revision if isinstance(revision, str) else None,
        packages=json.loads(str(row[4])),
        plan=json.loads(str(row[5])),
        status=str(row[6]),
        schema_version=version if isinstance(version, int) else int(str(version)),
        label=label if isinstance(label, str) else None,
    )
