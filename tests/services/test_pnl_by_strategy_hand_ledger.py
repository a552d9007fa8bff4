"""`kalshi pnl --by strategy` over a small ledger worked out by hand: two strategies on one market
closing in part, a fill of no strategy cutting their parts newest first, fees, a settlement whose
fee the part it settles bears, and a third strategy on a second market whose close releases its
basis by average cost. The report's rows, its by-market figures and its `--since` figures (a
cutoff inside the ledger's one UTC day included) are each the hand-computed figure, to the
cent."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

from kalshi_cli.services.pnl_report import pnl_report
from kalshi_cli.store import FillRecord, SettlementRecord, Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import BookSide

START = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC: every fill below is of that day

BID, ASK = BookSide.BID, BookSide.ASK
LEDGER = [
    # (ticker, side, YES price, count, fee, seconds after START, strategy)
    # A: alpha buys 10 YES at 0.40 (fee 0.07); beta buys 5 YES at 0.50 (fee 0.04)
    ("A", BID, "0.40", "10", "0.07", 0, "alpha"),
    ("A", BID, "0.50", "5", "0.04", 1, "beta"),
    # alpha sells 4 at 0.55: its part releases 4/10 of 4.00, realizing 2.20 - 1.60 - 0.03
    # = 0.57; the account releases 4/15 of 6.50 = 1.733333, realizing 0.466667
    ("A", ASK, "0.55", "4", "0.03", 2, "alpha"),
    # nobody's sale of 8 at 0.30 leaves the account 3: beta's part (the newest) is cut by 5,
    # alpha's by 3 at its own cost (1.20 of 2.40 released), neither realizing anything; the
    # account releases 8/11 of 4.766667 = 3.466667, realizing 2.40 - 3.466667 = -1.066667
    ("A", ASK, "0.30", "8", "0.05", 3, None),
    # B: gamma buys 3 NO at 0.65 (YES 0.35, fee 0.02), sells 1 back at 0.60 (buys YES at 0.40,
    # fee 0.01): 1/3 of 1.95 released, 0.60 - 0.65 = -0.05 realized; a purchase of nobody's
    # adds to the account and touches no part
    ("B", ASK, "0.35", "3", "0.02", 10, "gamma"),
    ("B", BID, "0.40", "1", "0.01", 11, "gamma"),
    ("B", ASK, "0.20", "1", "0.01", 12, None),
]
# A settles YES, fee 0.01: the account's 3 contracts pay 3.00 against a basis of 1.30 (1.70);
# they are all alpha's part (basis 1.20: 1.80, and the whole fee)
SETTLED_AT = START + 5

BY_STRATEGY = {
    "alpha": D("2.29"),  # -0.07 + 0.57 + 1.80 - 0.01
    "beta": D("-0.04"),  # its fee: its part was taken back at its own cost
    "gamma": D("-0.08"),  # -0.02, then -0.05 - 0.01
}
BY_MARKET = {
    # realized gross, fees: 0.466667 - 1.066667 + 1.70; 0.07 + 0.04 + 0.03 + 0.05 + 0.01
    "A": (D("1.10"), D("0.20")),
    "B": (D("-0.05"), D("0.04")),
}


def write_ledger(state: Path) -> None:
    with Store.open(state, clock=ManualClock(START)) as store:
        store.fills.record_fills(
            FillRecord(
                f"f{i}",
                f"o{i}",
                None,
                ticker,
                side,
                D(price),
                D(count),
                D(fee),
                True,
                START + at,
                strategy,
            )
            for i, (ticker, side, price, count, fee, at, strategy) in enumerate(LEDGER)
        )
        zero = D(0)
        store.settlements.record_settlement(
            SettlementRecord("A", "E", "yes", zero, zero, zero, zero, zero, D("0.01"), SETTLED_AT)
        )


def test_by_strategy_is_the_hand_computed_ledger(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    write_ledger(state)
    report = pnl_report(state, since=None, since_ts=None, by="strategy", exchange=None)
    assert {row["strategy"]: D(row["realized"]) for row in report.rows} == BY_STRATEGY
    assert [row["strategy"] for row in report.rows] == sorted(BY_STRATEGY)
    by_market = report.document["by_market"]
    assert {
        ticker: (D(m["realized_gross"]), D(m["fees"])) for ticker, m in by_market.items()
    } == BY_MARKET
    assert (by_market["A"]["fills"], by_market["A"]["settlements"]) == (4, 1)
    assert D(report.document["realized"]) == D("0.81")
    # the account keeps 3 NO of B at 2.10 (gamma's 2 at 1.30, nobody's 1 at 0.80); A settled
    b = report.summary.engine.markets["B"]
    assert (b.position, b.basis, report.summary.engine.markets["A"].position) == (-3, D("2.10"), 0)


def test_by_strategy_since_before_the_ledger_is_the_whole_ledger(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    write_ledger(state)
    report = pnl_report(state, since="start", since_ts=START - 1, by="strategy", exchange=None)
    assert {row["strategy"]: D(row["realized"]) for row in report.rows} == BY_STRATEGY


def test_by_strategy_since_inside_a_day_counts_only_what_each_part_realized_after_it(
    tmp_path: Path,
) -> None:
    """A cutoff between beta's purchase and alpha's sale, inside the one UTC day of both: alpha
    counts its sale (0.57) and the settlement (1.79), not its purchase's fee, though the day's
    fills of its part are summed together; beta realized nothing after it, and still has its
    row; gamma all of its own."""
    state = tmp_path / "state.db"
    write_ledger(state)
    since = START + 1.5
    report = pnl_report(state, since="1.5 s in", since_ts=since, by="strategy", exchange=None)
    rows = {row["strategy"]: D(row["realized"]) for row in report.rows}
    assert rows == {"alpha": D("2.36"), "beta": D(0), "gamma": D("-0.08")}
    # the account's figures from the same cutoff: A's sale (0.466667 - 0.03), the nobody's sale
    # (-1.066667 - 0.05) and the settlement (1.70 - 0.01); B's -0.05 less 0.04 of fees
    assert D(report.document["realized"]) == D("0.92")


def test_a_part_as_large_as_the_position_at_another_cost_keeps_its_own_cost(
    tmp_path: Path,
) -> None:
    """delta buys 10 YES at 0.50; nobody buys 5 at 0.80 and sells 5 at 0.80 (the account releases
    5/15 of 9.00 = 3.00, realizing 1.00), which leaves the account 10 at 6.00 and delta's part
    10 at 5.00: as many contracts, at another cost. delta's sale of the 10 at 0.70 realizes 7.00
    - 5.00 = 2.00 for its part, 1.00 for the account."""
    state = tmp_path / "state.db"
    ledger = [
        (BID, "0.50", "10", "delta"),
        (BID, "0.80", "5", None),
        (ASK, "0.80", "5", None),
        (ASK, "0.70", "10", "delta"),
    ]
    with Store.open(state, clock=ManualClock(START)) as store:
        store.fills.record_fills(
            FillRecord(
                f"f{i}", f"o{i}", None, "C", side, D(price), D(count), D(0), True, START + i, who
            )
            for i, (side, price, count, who) in enumerate(ledger)
        )
    report = pnl_report(state, since=None, since_ts=None, by="strategy", exchange=None)
    assert {row["strategy"]: D(row["realized"]) for row in report.rows} == {"delta": D("2.00")}
    assert D(report.document["realized"]) == D("2.00")
