"""`harness`: a thin command line over the library API. User errors print one line and exit 2."""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import NoReturn

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Each module defines add_parser(subparsers); its parser sets `func(args) -> int`.
COMMAND_MODULES = (
    "harness.commands.run",
    "harness.commands.devices",
    "harness.commands.results",
    "harness.commands.import_logs",
    "harness.commands.convert",
    "harness.commands.report",
    "harness.commands.compare",
    "harness.commands.history",
    "harness.commands.nightly",
    "harness.commands.serve",
    "harness.commands.agent",
    "harness.commands.farm",
    "harness.commands.recommend",
)


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line (no usage block) with the user's value escaped and bounded."""

    def error(self, message: str) -> NoReturn:
        from errors import one_message

        self.exit(2, f"harness: error: {one_message(message, max_lines=1)} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="harness",
        description="Convert models into optimized variants and measure them on real targets.",
    )
    from harness import __version__

    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # a command module not written yet; anything else is a real error
                continue
            raise
        module.add_parser(sub)
    return parser


def _check_common(args: argparse.Namespace) -> None:
    """Checks every command shares: path flags, and `--json` against another `--format`."""
    from errors import UserError
    from harness.commands.options import check_paths

    check_paths(args)
    fmt = getattr(args, "format", None)
    if getattr(args, "json", False) and fmt not in (None, "table", "json"):
        raise UserError(f"--json and --format {fmt}: give one")


def main(argv: list[str] | None = None) -> int:
    import sqlite3

    from errors import UserError, one_message
    from harness.store.db import StoreError

    parser = build_parser()
    args = parser.parse_args(argv)
    from harness.orchestration.quiet import hush_paramiko

    hush_paramiko()
    try:
        _check_common(args)
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"harness: error: {one_message(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except StoreError as exc:  # a write the database refused (locked past the wait, disk full, read-only)
        print(f"harness: error: {one_message(str(exc))}", file=sys.stderr)
        return 2
    except sqlite3.DatabaseError as exc:  # a file that opened but is damaged or is not ours
        from harness.commands.options import default_db

        from harness.store.pending import explain

        db = getattr(args, "db", None) or default_db()
        print(f"harness: error: {one_message(explain(db, exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
