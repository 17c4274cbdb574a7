"""`harness`: a thin command line over the library API. User errors print one line and exit 2."""
from __future__ import annotations

import argparse
import importlib
import os
import sys

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
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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


def main(argv: list[str] | None = None) -> int:
    from errors import UserError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
