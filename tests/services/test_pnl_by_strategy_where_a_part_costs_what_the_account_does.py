"""`kalshi pnl --by strategy` where a sale by hand leaves a strategy's part costing what the
account's position costs while they hold different counts (before or after the part's next
fill): the part is still booked on its own contracts and cost, never taken for the account's
whole position. Two markets worked out by hand, no fees."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

from kalshi_cli.services.pnl_report import pnl_report
from kalshi_cli.store import FillRecord, Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import BookSide

START = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC: every fill below is of that day
BID, ASK = BookSide.BID, BookSide.ASK
LEDGER = [
    # (ticker, side, YES price, count, seconds after START, strategy)
    # A: alpha 5 at 0.50 (2.50), beta 5 at 0.30; nobody's sale of 5 cuts beta's (the newest)
    # part at its own cost, and leaves the account 5 at 2.00 beside alpha's 5 at 2.50
    ("A", BID, "0.50", "5", 0, "alpha"),
    ("A", BID, "0.30", "5", 1, "beta"),
    ("A", ASK, "0.40", "5", 2, None),
    # alpha buys 1 at 0.50: the account's 6 now cost 2.50, what alpha's 5 cost before it; alpha
    # holds 6 at 3.00, and its sale of 6 at 0.60 realizes 3.60 - 3.00
    ("A", BID, "0.50", "1", 3, "alpha"),
    ("A", ASK, "0.60", "6", 4, "alpha"),
    # B: gamma 2 at 0.60 (1.20), nobody's 4 at 0.30; nobody's sale of 3 leaves the account 3
    # at 1.20, what gamma's 2 cost, and cuts no part
    ("B", BID, "0.60", "2", 10, "gamma"),
    ("B", BID, "0.30", "4", 11, None),
    ("B", ASK, "0.40", "3", 12, None),
    # gamma buys 1 at 0.50: it holds 3 at 1.70 (the account 4), and its sale of 3 at 0.70
    # realizes 2.10 - 1.70
    ("B", BID, "0.50", "1", 13, "gamma"),
    ("B", ASK, "0.70", "3", 14, "gamma"),
]


def test_a_part_costing_what_the_account_does_is_booked_on_its_own_contracts(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state.db"
    with Store.open(state, clock=ManualClock(START)) as store:
        store.fills.record_fills(
            FillRecord(
                f"f{i}", f"o{i}", None, ticker, side, D(price), D(count), D(0), True,
                START + at, strategy,
            )
            for i, (ticker, side, price, count, at, strategy) in enumerate(LEDGER)
        )  # fmt: skip

    report = pnl_report(state, since=None, since_ts=None, by="strategy", exchange=None)

    rows = {row["strategy"]: D(row["realized"]) for row in report.rows}
    assert rows == {"alpha": D("0.60"), "beta": D(0), "gamma": D("0.40")}
