"""`kalshi pnl` books a market's fills a UTC day at a time: its fees and fill count, in the report
and in the market's own figures, are those of every day summed, with and without `--by
strategy`, not the last day's."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from kalshi_cli.services.pnl_report import pnl_report
from kalshi_cli.store import FillRecord, Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import BookSide

START = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
DAY = 86_400.0

# (YES price, count, fee, seconds after START, side): bought on one day, sold in part on the
# next two
LEDGER = [
    ("0.40", "10", "0.07", 0.0, BookSide.BID),
    ("0.55", "4", "0.03", DAY, BookSide.ASK),
    ("0.60", "2", "0.02", 2 * DAY, BookSide.ASK),
]


@pytest.mark.parametrize("by", ["market", "strategy"])
def test_a_markets_fees_and_fills_are_summed_over_its_days(tmp_path: Path, by: str) -> None:
    state = tmp_path / "state.db"
    with Store.open(state, clock=ManualClock(START)) as store:
        store.fills.record_fills(
            FillRecord(
                f"f{i}", f"o{i}", None, "A", side, D(price), D(count), D(fee), True, START + at,
                "alpha",
            )
            for i, (price, count, fee, at, side) in enumerate(LEDGER)
        )  # fmt: skip

    report = pnl_report(state, since=None, since_ts=None, by=by, exchange=None)

    market = report.document["by_market"]["A"]
    # 4 x (0.55 - 0.40) + 2 x (0.60 - 0.40)
    assert (D(market["realized_gross"]), D(market["fees"])) == (D("1.00"), D("0.12"))
    assert market["fills"] == 3
    assert D(report.document["realized"]) == D("0.88")
    # the market's own figures (the summary's engine)
    engine = report.summary.engine.markets["A"]
    assert (engine.position, engine.fees, engine.fills) == (D(4), D("0.12"), 3)
