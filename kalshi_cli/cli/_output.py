"""Rendering: results to stdout, diagnostics to stderr, one format per invocation.

A command hands over its result twice: as display rows (strings, already formatted for a person)
and as a JSON document (the stable shape documented in docs/output.md). `Output` then picks one:

- `--json`: the document, indented, Decimals as strings.
- `--format table`: a rich table; the default when stdout is a terminal.
- `--format plain`: aligned text without colour or borders; the default in a pipe.
- `--format csv` / `--format markdown`: for spreadsheets and notes.

Colour only ever appears in rich output on a terminal, and never when NO_COLOR is set. rich and
tabulate are imported only when something is rendered, so `kalshi --help` never pays for them.
The plain format does not import tabulate at all when every cell is printable ASCII (the common
case, and `kalshi config show` in a pipe): importing tabulate reads installed package metadata,
which costs a cron job more than the whole table. `_plain_table` renders exactly what tabulate's
"plain" format would; tests/test_cold_start.py compares the two on generated tables.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any, TextIO


class TableFormat(StrEnum):
    TABLE = "table"
    PLAIN = "plain"
    CSV = "csv"
    MARKDOWN = "markdown"


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    numeric: bool = False  # right-aligned


def is_tty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def no_color() -> bool:
    # https://no-color.org: any non-empty value disables colour.
    return bool(os.environ.get("NO_COLOR"))


def to_jsonable(value: Any) -> Any:
    """Decimals become strings (never floats), paths strings, enums their values."""
    from decimal import Decimal  # here: `kalshi --help` and plain tables need no decimal

    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def dumps(document: Any, *, compact: bool = False) -> str:
    import json

    if compact:
        return json.dumps(to_jsonable(document), separators=(",", ":"), ensure_ascii=False)
    return json.dumps(to_jsonable(document), indent=2, ensure_ascii=False)


class Output:
    def __init__(
        self,
        *,
        as_json: bool = False,
        fmt: TableFormat | None = None,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
    ) -> None:
        # Resolved at call time, not import time: test runners swap sys.stdout per invocation.
        self.stdout = stdout if stdout is not None else sys.stdout
        self.stderr = stderr if stderr is not None else sys.stderr
        self.as_json = as_json
        if fmt is None:
            fmt = TableFormat.TABLE if is_tty(self.stdout) else TableFormat.PLAIN
        self.format = fmt

    # -- results ---------------------------------------------------------------------------

    def table(
        self,
        columns: Sequence[Column],
        rows: Sequence[dict[str, str]],
        *,
        document: Any,
        title: str | None = None,
    ) -> None:
        if self.as_json:
            self.json(document)
            return
        if self.format is TableFormat.TABLE:
            self._rich_table(columns, rows, title=title)
        elif self.format is TableFormat.CSV:
            self._csv(
                [c.header for c in columns], [[r.get(c.key, "") for c in columns] for r in rows]
            )
        else:
            self._tabulate(
                [c.header for c in columns],
                [[r.get(c.key, "") for c in columns] for r in rows],
                numeric=[c.numeric for c in columns],
            )

    def record(
        self, fields: Sequence[tuple[str, str]], *, document: Any, title: str | None = None
    ) -> None:
        """One object as `field  value` lines (details views: market, balance)."""
        columns = [Column("field", "field"), Column("value", "value")]
        rows = [{"field": name, "value": value} for name, value in fields]
        if self.format is TableFormat.PLAIN and not self.as_json:
            width = max((len(name) for name, _ in fields), default=0)
            for name, value in fields:
                self.line(f"{name.ljust(width)}  {value}".rstrip())
            return
        self.table(columns, rows, document=document, title=title)

    def json(self, document: Any, *, compact: bool = False) -> None:
        self.stdout.write(dumps(document, compact=compact) + "\n")
        self.stdout.flush()

    def line(self, text: str = "") -> None:
        self.stdout.write(text + "\n")

    def clear(self) -> None:
        """Clear the terminal between refreshes (watch mode); a no-op in a pipe."""
        if self.format is TableFormat.TABLE and not self.as_json and is_tty(self.stdout):
            self.stdout.write("\x1b[H\x1b[2J")

    # -- diagnostics -----------------------------------------------------------------------

    def warn(self, text: str) -> None:
        self.stderr.write(f"Warning: {text}\n")

    def note(self, text: str) -> None:
        self.stderr.write(text + "\n")

    def progress(self, label: str) -> Progress:
        return Progress(self.stderr, label)

    # -- renderers -------------------------------------------------------------------------

    def _rich_table(
        self, columns: Sequence[Column], rows: Sequence[dict[str, str]], *, title: str | None
    ) -> None:
        from rich.console import Console
        from rich.table import Table

        # NO_COLOR turns off every escape sequence, bold included: scripts grep this output.
        console = Console(
            file=self.stdout,
            color_system=None if no_color() else "auto",
            highlight=False,
            soft_wrap=False,
        )
        table = Table(title=title, title_justify="left", header_style="bold")
        for column in columns:
            table.add_column(column.header, justify="right" if column.numeric else "left")
        for row in rows:
            # rich markup is off for data: a title like "[A] or [B]" must print as it is.
            table.add_row(*(_escape(row.get(c.key, "")) for c in columns))
        console.print(table)

    def _tabulate(self, headers: list[str], rows: list[list[str]], *, numeric: list[bool]) -> None:
        if self.format is TableFormat.PLAIN:
            text = _plain_table(headers, rows, numeric=numeric)
            if text is not None:
                self.line(text)
                return
        from tabulate import tabulate

        tablefmt = "github" if self.format is TableFormat.MARKDOWN else "plain"
        align = ["right" if n else "left" for n in numeric]
        text = tabulate(
            rows, headers=headers, tablefmt=tablefmt, colalign=align, disable_numparse=True
        )
        self.line(text)

    def _csv(self, headers: list[str], rows: list[list[str]]) -> None:
        import csv

        writer = csv.writer(self.stdout, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows(rows)


def _is_simple(cell: object) -> bool:
    """Printable ASCII only: no wide characters, escape sequences or line breaks, for which
    tabulate measures widths its own way."""
    return type(cell) is str and all(" " <= ch <= "~" for ch in cell)


def _plain_table(headers: list[str], rows: list[list[str]], *, numeric: list[bool]) -> str | None:
    """tabulate(rows, headers, tablefmt="plain", colalign=..., disable_numparse=True), or None
    when a cell is outside what this reproduces (then tabulate itself renders the table).

    tabulate's rules, for these arguments: cells are stripped; a column is as wide as its widest
    cell and at least its header plus 2; cells and headers are padded to that width (right for a
    numeric column, left otherwise; every header left when there are no rows); columns are
    joined by two spaces and each line loses its trailing spaces."""
    if not headers or any(len(row) != len(headers) for row in rows):
        return None
    if not all(_is_simple(cell) for cell in headers) or not all(
        _is_simple(cell) for row in rows for cell in row
    ):
        return None
    cells = [[cell.strip() for cell in row] for row in rows]
    widths = [
        max([len(header) + 2, *(len(row[i]) for row in cells)]) for i, header in enumerate(headers)
    ]
    right = [bool(rows) and n for n in numeric]

    def line(values: list[str]) -> str:
        padded = (
            v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right, strict=True)
        )
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers), *(line(row) for row in cells)])


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


class Progress:
    """A one-line counter on stderr, rewritten in place; silent when stderr is not a terminal
    (a log file should not fill with carriage returns)."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self._stream = stream
        self._label = label
        self._active = is_tty(stream)
        self._shown = False

    def __call__(self, count: int) -> None:
        if self._active:
            self._stream.write(f"\r{self._label}: {count:,}")
            self._stream.flush()
            self._shown = True

    def close(self) -> None:
        if self._shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._shown = False
