"""Rendering: results to stdout, diagnostics to stderr, one format per invocation. A command hands
over its result as display rows and as a JSON document, and `Output` renders one of them as
JSON, a rich table, plain text, CSV or Markdown, never cutting an identifier and showing money
one way. See docs/output.md.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from enum import StrEnum
from typing import Any, NamedTuple, TextIO


class TableFormat(StrEnum):
    TABLE = "table"
    PLAIN = "plain"
    CSV = "csv"
    MARKDOWN = "markdown"


class Column(NamedTuple):
    """One column of a listing: the row key it shows, its header and how it is drawn."""

    key: str
    header: str
    numeric: bool = False  # right-aligned, and never wrapped in a rich table
    identifier: bool = False  # typed into the next command: never cut, wrapped or folded
    # an exact decimal string (or, with members, the members' strings), shown to people by
    # `units.fmt_money` (`-$0.33`, `$1.20`) and left exact in CSV
    money: bool = False
    # a cell that shows several values to people (`$0.35 / $0.40`): in CSV these columns
    # instead, one value per cell, their keys in the row holding the exact values
    members: tuple[Column, ...] = ()


def is_tty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def no_color() -> bool:
    # https://no-color.org: any non-empty value disables colour.
    return bool(os.environ.get("NO_COLOR"))


def dumps(document: Any, *, compact: bool = False) -> str:
    import json

    # here, once per document: `kalshi --help` and plain tables need no decimal
    from kalshi_cli.vocabulary.units import to_jsonable

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
        empty: str = "nothing matched",
    ) -> None:
        if self.as_json:
            self.json(document)
            return
        if not rows and self.format is not TableFormat.CSV:
            # a bare header reads like a failure to list; CSV keeps its header (an empty table)
            self.note(empty)
            return
        if self.format is not TableFormat.CSV:
            rows = _money_cells(columns, rows)
        if self.format is TableFormat.TABLE:
            self._rich_table(columns, rows, title=title)
        elif self.format is TableFormat.CSV:
            flat = [member for c in columns for member in (c.members or (c,))]
            self._csv([c.header for c in flat], [[r.get(c.key, "") for c in flat] for r in rows])
        else:
            self._tabulate(
                [c.header for c in columns],
                [[r.get(c.key, "") for c in columns] for r in rows],
                numeric=[c.numeric for c in columns],
            )

    def record(
        self,
        fields: Sequence[tuple[str, str]],
        *,
        document: Any,
        title: str | None = None,
        csv_fields: Sequence[tuple[str, str]] | None = None,
    ) -> None:
        """One object as `field  value` lines (details views: market, balance). `csv_fields`,
        when a shown value holds several (`$0.45 / $0.47`), are the fields for CSV: one exact
        value each."""
        if self.format is TableFormat.CSV and csv_fields is not None:
            fields = csv_fields
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

    def result(self, document: Any, *lines: str) -> None:
        """A command's result: `document` as JSON with --json, else `lines`."""
        if self.as_json:
            self.json(document)
            return
        for text in lines:
            self.line(text)

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
        from rich.markup import escape
        from rich.table import Table

        # NO_COLOR turns off every escape sequence, bold included: scripts grep this output.
        console = Console(
            file=self.stdout,
            color_system=None if no_color() else "auto",
            highlight=False,
            soft_wrap=False,
        )
        cells = [[row.get(c.key, "") for c in columns] for row in rows]
        widths = _rich_widths(columns, cells, console.width)
        if widths is None:
            self._rich_records(console, columns, cells, title=title)
            return
        table = Table(title=title, title_justify="left", header_style="bold")
        for column, width in zip(columns, widths, strict=True):
            table.add_column(
                column.header,
                justify="right" if column.numeric else "left",
                width=width,
                no_wrap=column.identifier,
                overflow="fold",
            )
        for row_cells in cells:
            # rich markup is off for data: a title like "[A] or [B]" must print as it is.
            table.add_row(*(escape(cell) for cell in row_cells))
        console.print(table)

    def _rich_records(
        self,
        console: Any,
        columns: Sequence[Column],
        cells: list[list[str]],
        *,
        title: str | None,
    ) -> None:
        """Too narrow for a table with every identifier whole: one `field  value` block per
        row, identifiers first, blocks separated by a blank line."""
        from rich.text import Text

        if title:
            console.print(Text(title, style="bold"))
        order = sorted(range(len(columns)), key=lambda i: not columns[i].identifier)
        label = max(len(c.header) for c in columns)
        for number, row_cells in enumerate(cells):
            if number:
                console.print()
            for i in order:
                line = Text(columns[i].header.ljust(label), style="bold")
                line.append(f"  {row_cells[i]}".rstrip())
                console.print(line, overflow="fold")

    def _tabulate(self, headers: list[str], rows: list[list[str]], *, numeric: list[bool]) -> None:
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


def _money_cells(columns: Sequence[Column], rows: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    """Money columns as people read them, every amount of the listing to one number of places
    (`units.money_places`); a cell that is not a number ("-", "") as it is. A money column
    with members shows them `a / b`, a member without a value `-`."""
    from decimal import Decimal, InvalidOperation

    from kalshi_cli.vocabulary.units import fmt_money, money_places

    def amount(text: str) -> Decimal | None:
        try:
            value = Decimal(text)
        except InvalidOperation:
            return None
        return value if value.is_finite() else None

    money = [c for c in columns if c.money]
    keys = [member.key for c in money for member in (c.members or (c,))]
    places = money_places(amount(row.get(key, "")) for row in rows for key in keys)
    shown = [dict(row) for row in rows]
    for row in shown:
        for column in money:
            if column.members:
                values = (amount(row.get(p.key, "")) for p in column.members)
                row[column.key] = " / ".join(fmt_money(v, places=places) for v in values)
            elif (value := amount(row.get(column.key, ""))) is not None:
                row[column.key] = fmt_money(value, places=places)
    return shown


# A text column (time, title, status) is never squeezed below this many characters, unless its
# content is shorter: narrower than that a time or a word reads as noise.
_TEXT_MIN = 8


def _rich_widths(
    columns: Sequence[Column], cells: list[list[str]], width: int
) -> list[int | None] | None:
    """Content widths for a rich table `width` characters wide with every identifier and every
    number whole: None per column when all fit at their natural width; the narrowed text
    columns otherwise (the widest narrowed first); None overall when nothing fits."""
    from rich.cells import cell_len

    # a heavy-headed box: a rule before each column and after the last, one space either side
    chrome = 3 * len(columns) + 1
    natural: list[int] = []
    least: list[int] = []
    for i, column in enumerate(columns):
        longest = max((cell_len(row[i]) for row in cells), default=0)
        header_word = max((cell_len(w) for w in column.header.split()), default=0)
        natural.append(max(longest, cell_len(column.header)))
        if column.identifier or column.numeric:
            least.append(max(longest, header_word))
        else:
            least.append(min(natural[i], max(_TEXT_MIN, header_word)))
    room = width - chrome
    if sum(natural) <= room:
        return [None] * len(columns)
    if sum(least) > room:
        return None
    # identifiers and numbers keep their content whole (a long header wraps at its spaces);
    # then the highest cap on the text columns that fits: the widest give way first
    fixed = [column.identifier or column.numeric for column in columns]

    def widths_at(cap: int) -> list[int]:
        return [
            lo if f else max(lo, min(n, cap))
            for n, lo, f in zip(natural, least, fixed, strict=True)
        ]

    cap = max(natural)
    while sum(widths_at(cap)) > room:
        cap -= 1
    return list(widths_at(cap))


class Progress:
    """A one-line counter on stderr, rewritten in place; silent when stderr is not a terminal
    (a log file should not fill with carriage returns)."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self._stream = stream
        self._label = label
        self._active = is_tty(stream)
        self._shown = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
