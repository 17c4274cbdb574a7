"""One way to print any table: a terminal table that never elides a number, Markdown, CSV or JSON.

A terminal narrower than the table gets a stacked layout (one block per row, `header: value` lines); a pipe
or file gets the table at its natural width, so a CI log keeps every digit.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import shutil
import sys
from pathlib import Path
from collections.abc import Sequence

FORMATS = ("table", "md", "csv", "json")
LEFT = {"model", "variant", "device", "verdict", "validity", "notes", "accuracy", "baseline", "kind", "status", "os",
        "cpu", "thermal zones", "runtime", "run", "git", "host"}


def add_format_arg(p: argparse.ArgumentParser, extra: tuple[str, ...] = ()) -> None:
    p.add_argument("--format", choices=FORMATS + extra, default="table",
                   help=f"output format: {', '.join(FORMATS + extra)} (default: table)")


def terminal_width() -> int | None:
    """The terminal's columns, or None for a pipe or file (no limit: nothing is cut)."""
    if not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size((100, 24)).columns


def natural_width(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> int:
    widths = [max([len(h)] + [len(str(r[i])) for r in rows]) for i, h in enumerate(headers)]
    return sum(widths) + 3 * len(widths) + 1


def stacked(headers: Sequence[str], rows: Sequence[Sequence[str]], title: str = "") -> str:
    """One block per row: every cell whole, however narrow the terminal."""
    key_w = max(len(h) for h in headers)
    lines = [title] if title else []
    for r in rows:
        lines.append("─" * 8)
        lines += [f"{h:<{key_w}}  {c}" for h, c in zip(headers, r)]
    return "\n".join(lines) + "\n"


def table_text(headers: Sequence[str], rows: Sequence[Sequence[str]], title: str = "",
               width: int | None = None, styles: Sequence[str | None] | None = None) -> str:
    need = natural_width(headers, rows)
    if width is not None and need > width:
        return stacked(headers, rows, title)
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(title) if title else None, title_justify="left")  # Text: never read as markup
    for h in headers:
        table.add_column(h, justify="left" if h in LEFT else "right", no_wrap=True, overflow="fold")
    for i, r in enumerate(rows):
        table.add_row(*[Text(str(c)) for c in r], style=(styles[i] if styles else None))
    buf = io.StringIO()
    tty = width is not None
    Console(file=buf, width=max(need, len(title)) + 2, force_terminal=tty, color_system="auto" if tty else None,
            no_color=not tty).print(table)
    return buf.getvalue()


def markdown(headers: Sequence[str], rows: Sequence[Sequence[str]], title: str = "") -> str:
    lines = [f"### {title}", ""] if title else []
    lines += ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c).replace("|", "/") for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def csv_text(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(headers)
    w.writerows(rows)
    return buf.getvalue()


def json_text(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    return json.dumps([dict(zip(headers, r)) for r in rows], indent=1, ensure_ascii=False) + "\n"


def render(fmt: str, headers: Sequence[str], rows: Sequence[Sequence[str]], title: str = "",
           width: int | None = None, styles: Sequence[str | None] | None = None) -> str:
    if fmt == "md":
        return markdown(headers, rows, title)
    if fmt == "csv":
        return csv_text(headers, rows)
    if fmt == "json":
        return json_text(headers, rows)
    return table_text(headers, rows, title, terminal_width() if width is None else width, styles)


def emit(text: str, out: str | None = None) -> None:
    """To --out when given (the user asked for a file), else stdout."""
    if out:
        from errors import UserError, clean

        try:
            Path(out).write_text(text)
        except OSError as exc:
            raise UserError(f"--out {clean(out)}: {exc.strerror or exc}") from None
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
