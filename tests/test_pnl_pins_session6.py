"""P&L behaviour that mutation testing of `pnl.py` (session 6, docs/mutation.md) found
unpinned: each test fails on the mutant its docstring names.
"""

from __future__ import annotations

import tempfile
from decimal import Decimal as D
from pathlib import Path

from kalshi_cli.clock import ManualClock
from kalshi_cli.models import BookSide
from kalshi_cli.pnl import PnlSummary, summarize_store
from kalshi_cli.store import FillRecord, SettlementRecord, Store

BID, ASK = BookSide.BID, BookSide.ASK
START = 1_700_000_000.0


def fill(
    i: int, ticker: str, side: BookSide, trade: str, ts: float, *, fee: str = "0"
) -> FillRecord:
    """`trade`: "COUNT @ PRICE"."""
    count, _, price = trade.split()
    return FillRecord(f"f{i}", f"o{i}", None, ticker, side, D(price), D(count), D(fee), True, ts)


def settlement(ticker: str, result: str, ts: float, fee: str = "0") -> SettlementRecord:
    return SettlementRecord(ticker, "E", result, D(0), D(0), D(0), D(0), D(0), D(fee), ts)


def stored(
    fills: list[FillRecord], settlements: list[SettlementRecord], since: float | None = None
) -> PnlSummary:
    """What `kalshi pnl` computes from a state file holding these."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        Store.open(Path(tmp) / "state.db", clock=ManualClock(START)) as store,
    ):
        store.record_fills(fills)
        for s in settlements:
            store.record_settlement(s)
        return summarize_store(store, since=since)


def test_since_still_counts_only_later_events_when_a_settlement_is_finer_than_the_units() -> None:
    """A settlement fee of $0.000000001 is finer than the integer units, so the whole summary
    runs in Decimal from the start: `--since` must still leave out the sale before it.
    (`summarize_rows` mutant 14 built that Decimal pass without `since`.)"""
    fills = [
        fill(1, "A", BID, "10 @ 0.40", START, fee="0.01"),
        fill(2, "A", ASK, "5 @ 0.60", START + 100, fee="0.02"),  # realizes 1.00, before since
    ]
    since = START + 200
    document = stored(fills, [settlement("A", "yes", START + 300, fee="1E-9")], since).to_json()
    # only the settlement: 5 held at 0.40 each paid $1
    assert document["realized_gross"] == "3"
    assert document["fees"] == "0.000000001"
    assert document["by_market"]["A"]["fills"] == 0
    assert document["by_market"]["A"]["settlements"] == 1
