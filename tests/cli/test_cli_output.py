"""The output layer: format choice, JSON of Decimals, colour rules, the progress counter."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.cli._output import Column, Output, TableFormat, dumps


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


COLUMNS = [Column("name", "name"), Column("price", "price", numeric=True)]
ROWS = [{"name": "a", "price": "0.5000"}, {"name": "[b]", "price": "10.0000"}]


def test_default_format_follows_the_terminal() -> None:
    assert Output(stdout=Terminal()).format is TableFormat.TABLE
    assert Output(stdout=io.StringIO()).format is TableFormat.PLAIN


def test_json_keeps_decimals_exact_as_strings() -> None:
    text = dumps({"p": Decimal("0.1") + Decimal("0.2"), "n": [Decimal("1E+1")], "path": Path("/x")})
    assert json.loads(text) == {"p": "0.3", "n": ["10"], "path": "/x"}


def _text(out: Output) -> str:
    assert isinstance(out.stdout, io.StringIO)
    return out.stdout.getvalue()


def test_plain_aligns_numbers_right() -> None:
    out = Output(stdout=io.StringIO())
    out.table(COLUMNS, ROWS, document={})
    lines = _text(out).splitlines()
    assert lines == ["name      price", "a        0.5000", "[b]     10.0000"]


def test_rich_table_on_a_terminal_has_colour_unless_no_color(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("TERM", "xterm-256color")
    coloured = Terminal()
    Output(stdout=coloured).table(COLUMNS, ROWS, document={})
    assert "\x1b[" in coloured.getvalue()
    assert "[b]" in coloured.getvalue()  # data is never read as rich markup

    monkeypatch.setenv("NO_COLOR", "1")
    plain = Terminal()
    Output(stdout=plain).table(COLUMNS, ROWS, document={})
    assert "\x1b[" not in plain.getvalue()
    assert "0.5000" in plain.getvalue()


def test_table_format_in_a_pipe_has_no_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = Output(stdout=io.StringIO(), fmt=TableFormat.TABLE)
    out.table(COLUMNS, ROWS, document={})
    assert "\x1b[" not in _text(out)


def test_progress_only_on_a_terminal() -> None:
    silent = io.StringIO()
    progress = Output(stdout=io.StringIO(), stderr=silent).progress("fetching")
    progress(1000)
    progress.close()
    assert silent.getvalue() == ""

    terminal = Terminal()
    progress = Output(stdout=io.StringIO(), stderr=terminal).progress("fetching")
    progress(1000)
    progress(2000)
    progress.close()
    assert terminal.getvalue() == "\rfetching: 1,000\rfetching: 2,000\r\x1b[K"


def test_results_to_stdout_diagnostics_to_stderr() -> None:
    out = Output(stdout=io.StringIO(), stderr=io.StringIO())
    out.warn("careful")
    out.json({"a": 1})
    assert isinstance(out.stderr, io.StringIO)
    assert out.stderr.getvalue() == "Warning: careful\n"
    assert json.loads(_text(out)) == {"a": 1}


def test_every_money_value_of_one_table_has_the_places_of_the_finest() -> None:
    """An average entry of 0.6913 beside a bid of 0.58: every money figure of the listing, the
    two-value `bid / mid` cell included, to four places, never `$0.6913` beside `$0.58`; a
    listing in whole cents stays to the cent."""
    from kalshi_cli.cli.portfolio import POSITION_COLUMNS, position_row
    from kalshi_cli.services.positions import PositionRow

    def row(ticker: str, entry: str, bid: str | None) -> dict[str, str]:
        return position_row(
            PositionRow(
                ticker=ticker,
                position=Decimal(10),
                average_entry=Decimal(entry),
                cost=Decimal(entry) * 10,
                mark_bid=None if bid is None else Decimal(bid),
                mark_mid=None if bid is None else Decimal(bid) + Decimal("0.01"),
                unrealized=None,
                unrealized_mid=None,
                realized_gross=Decimal(0),
                fees=Decimal("0.07"),
                exposure=Decimal(10),
                limit=None,
            )
        )

    out = Output(stdout=io.StringIO())
    out.table(POSITION_COLUMNS, [row("A", "0.6913", "0.58"), row("B", "0.40", None)], document={})
    lines = _text(out).splitlines()
    shown = ["$0.6913", "$6.9130", "$0.5800", "/", "$0.5900", "-", "-$0.0700", "$0.0700"]
    # ticker, shard (`-`: no exchange position), side, contracts, then the money
    assert lines[1].split()[4:12] == shown
    assert lines[2].split()[4:9] == ["$0.4000", "$4.0000", "-", "/", "-"]

    out = Output(stdout=io.StringIO())
    out.table(POSITION_COLUMNS, [row("B", "0.40", "0.38")], document={})
    assert _text(out).splitlines()[1].split()[4:9] == ["$0.40", "$4.00", "$0.38", "/", "$0.39"]


def test_the_pnl_totals_share_the_places_of_the_finest() -> None:
    """`kalshi pnl`'s closing lines are one screen: realized P&L in whole cents beside an
    unrealized P&L with a sub-cent part reads `$0.9800`, never `$0.98` beside `$0.0050`."""
    from kalshi_cli.cli.pnl_cmd import render_totals
    from kalshi_cli.services.pnl import summarize_rows
    from kalshi_cli.services.pnl_report import PnlReport
    from kalshi_cli.services.positions import PositionRow, PositionsView

    fills = [
        ("KXA", "bid", "0.50", "10", "0.0175", 1.0),
        ("KXA", "ask", "0.60", "10", "0.0025", 2.0),
    ]
    summary = summarize_rows(fills, [])
    d = Decimal
    # 1 YES held at 0.40, marked at a bid half a cent above its cost
    held = PositionRow("KXB", d(1), d("0.40"), d("0.40"), d("0.405"), None, d("0.005"), None,
                       d(0), d(0), d(1), None)  # fmt: skip
    out = Output(stdout=io.StringIO())
    render_totals(out, PnlReport(summary, [], PositionsView([held]), {}))
    assert _text(out).splitlines()[1:] == [
        "realized (net of $0.0200 fees): $0.9800",
        "unrealized (at the best bid): $0.0050",
        "total: $0.9850",
    ]
