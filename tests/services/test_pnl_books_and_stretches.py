"""P&L kept per subaccount's book and added up over stretches cut by settlements: the `since`
moment, legacy settlements, the UTC day of an event.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path

import pytest

from kalshi_cli.services.pnl import (
    fill_record_from_api,
    settlement_record_from_api,
)
from kalshi_cli.store import FillRecord, SettlementRecord, Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.models import Fill, Settlement, decode_answer
from kalshi_cli.vocabulary.units import BookSide
from tests.services.test_pnl_units import stored_summary

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


def test_since_still_counts_only_later_events_when_a_settlement_is_finer_than_the_units() -> None:
    """A settlement fee of $0.000000001 is finer than the integer units, so the whole summary
    runs in Decimal from the start: `--since` must still leave out the sale before it.
    (`summarize_rows` mutant 14 built that Decimal pass without `since`.)"""
    fills = [
        fill(1, "A", BID, "10 @ 0.40", START, fee="0.01"),
        fill(2, "A", ASK, "5 @ 0.60", START + 100, fee="0.02"),  # realizes 1.00, before since
    ]
    since = START + 200
    document = stored_summary(
        fills, [settlement("A", "yes", START + 300, fee="1E-9")], since
    ).to_json()
    # only the settlement: 5 held at 0.40 each paid $1
    assert document["realized_gross"] == "3.0000"
    assert document["fees"] == "0.000000001"
    assert document["by_market"]["A"]["fills"] == 0
    assert document["by_market"]["A"]["settlements"] == 1


def test_a_settlement_copied_before_subaccounts_were_kept_is_counted_in_the_file_summary() -> None:
    """A state file migrated from before 0004 keeps its settlements with no subaccount (None):
    `kalshi pnl` over it settles the position they close, once. (`summarize_store` mutant 6
    took the unknown subaccount for a book number, and sorting [0, None] raised.)"""
    fills = [fill(1, "A", BID, "10 @ 0.40", START, fee="0.01")]
    legacy = SettlementRecord(
        "A", "E", "yes", D(10), D(0), D(4), D(0), D(10), D("0.02"), START + 100, subaccount=None
    )
    summary = stored_summary(fills, [legacy])
    document = summary.to_json()
    assert document["realized_gross"] == "6.0000"
    assert document["fees"] == "0.0300"
    assert document["by_market"]["A"]["settlements"] == 1
    assert summary.book(0).market("A").position == 0


def test_a_file_of_one_subaccount_counts_a_legacy_settlement_of_a_market_it_did_not_trade() -> None:
    """Fills on subaccount 3 only, and a settlement copied before 0004 (no subaccount) of a
    market none of them traded: the file is one book, and `kalshi pnl` counts that settlement
    (its fee) once. (`summarize_store` mutant 7 replayed the one book as subaccount 3's,
    which takes a legacy settlement only for a market it traded, and lost it.)"""
    fills = [
        FillRecord(
            "f1", "o1", None, "A", BID, D("0.40"), D(10), D("0.01"), True, START, None, None, 3
        )
    ]
    legacy = SettlementRecord(
        "B", "E", "no", D(0), D(0), D(0), D(0), D(0), D("0.02"), START + 100, subaccount=None
    )
    document = stored_summary(fills, [legacy]).to_json()
    assert document["fees"] == "0.0300"
    assert document["by_market"]["B"]["settlements"] == 1


def test_since_counts_only_later_events_in_every_subaccounts_book() -> None:
    """Two subaccounts, each selling before `--since` and after it: the account's document
    counts only the later sales of each book. (`summarize_store` mutants 14 and 17 replayed
    the books without `since`.)"""
    fills = [
        FillRecord(f"f{i}", f"o{i}", None, "A", side, D(p), D(n), D(0), True, ts, None, None, sub)
        for i, (side, p, n, ts, sub) in enumerate(
            [
                (BID, "0.40", 10, START, 0),
                (BID, "0.30", 10, START + 1, 1),
                (ASK, "0.50", 2, START + 10, 0),  # +0.20, before since
                (ASK, "0.50", 2, START + 11, 1),  # +0.40, before since
                (ASK, "0.60", 1, START + 100, 0),  # +0.20
                (ASK, "0.60", 1, START + 101, 1),  # +0.30
            ]
        )
    ]
    summary = stored_summary(fills, [], since=START + 50)
    assert summary.to_json()["realized_gross"] == "0.5000"
    assert summary.groups["market"]["A"].fills == 2
    assert (summary.book(0).market("A").position, summary.book(1).market("A").position) == (7, 7)


def test_the_one_book_of_a_file_keeps_its_positions_for_the_marking() -> None:
    """A file of one subaccount: `kalshi pnl` marks that book's positions against the exchange
    (`PnlSummary.book`), so the book must hold them. (`summarize_store` mutants 27 and 28 left
    the books empty or None.)"""
    summary = stored_summary([fill(1, "A", BID, "10 @ 0.40", START)], [])
    assert list(summary.book(0).markets) == ["A"]
    assert (summary.book(0).market("A").position, summary.book(0).market("A").basis) == (10, 4)


def test_a_settlement_is_recorded_for_the_subaccount_its_listing_was_made_for() -> None:
    """The exchange's Settlement names no subaccount: `sync_settlements` lists each subaccount's
    and the record keeps whose it is, so it settles that book only. (`settlement_record_from_api`
    mutant 35 dropped the argument: every settlement became the primary's.)"""
    body = {
        "ticker": "KX-A",
        "event_ticker": "KX",
        "market_result": "yes",
        "yes_count_fp": "10.00",
        "yes_total_cost_dollars": "4.0000",
        "no_count_fp": "0.00",
        "no_total_cost_dollars": "0.0000",
        "revenue": 1000,
        "fee_cost": "0.0200",
        "settled_time": "2026-11-22T10:00:01.500Z",
    }
    record = settlement_record_from_api(decode_answer(Settlement, body), 2)
    assert record.subaccount == 2
    fills = [
        FillRecord(
            "f1", "o1", None, "KX-A", BID, D("0.40"), D(10), D(0), True, START, None, None, 2
        ),
        FillRecord(
            "f2", "o2", None, "KX-A", BID, D("0.30"), D(5), D(0), True, START, None, None, 0
        ),
    ]
    summary = stored_summary(fills, [record])
    assert summary.book(2).market("KX-A").position == 0  # settled, 6.00 gained
    assert summary.book(0).market("KX-A").position == 5  # still held on the primary
    assert summary.to_json()["realized_gross"] == "6.0000"


def test_each_settlement_goes_to_the_books_it_belongs_to() -> None:
    """Subaccounts 0 and 1. Settlements listed per subaccount go to their own book only (D:
    subaccount 1's, while 0 still holds D); one copied before 0004 (no subaccount) goes to
    every book that traded its market (A: 1 only; C: both, settling each) or, when none did,
    to the primary's (B). Each book's positions are what `kalshi pnl` marks against the
    exchange, and the document counts every settlement once per book. (`summarize_store`
    mutants 33-44 routed them otherwise.)"""
    trades = [
        ("A", 1),
        ("C", 0),
        ("C", 1),
        ("D", 0),
        ("D", 1),
    ]
    fills = [
        FillRecord(
            f"f{i}", f"o{i}", None, t, BID, D("0.40"), D(10), D(0), True, START + i, None, None, sub
        )
        for i, (t, sub) in enumerate(trades)
    ]

    def settled(ticker: str, subaccount: int | None, fee: str = "0") -> SettlementRecord:
        return SettlementRecord(
            ticker, "E", "yes", D(0), D(0), D(0), D(0), D(0), D(fee), START + 100, subaccount
        )

    summary = stored_summary(
        fills, [settled("A", None), settled("B", None, "0.02"), settled("C", None), settled("D", 1)]
    )
    zero, one = summary.book(0), summary.book(1)
    assert {t: m.position for t, m in zero.markets.items()} == {"B": 0, "C": 0, "D": 10}
    assert {t: m.position for t, m in one.markets.items()} == {"A": 0, "C": 0, "D": 0}
    assert zero.market("B").fees == D("0.02")
    by_market = summary.to_json()["by_market"]
    assert {t: b["settlements"] for t, b in by_market.items()} == {"A": 1, "B": 1, "C": 2, "D": 1}
    assert summary.to_json()["realized_gross"] == "24.0000"  # A, C twice and D: 10 x 0.60 each


def test_the_trade_loop_starts_from_its_own_books_settlements_only(tmp_path: Path) -> None:
    """The loop's start (`runner.preflight.rebuild`) replays its subaccount's book: the
    settlement listed for it closes its position (A), one listed for another subaccount does
    not touch its own (C), and one copied before 0004 (no subaccount) settles what it holds
    (B). The risk rules read these positions. (`book_settlements` mutant 1 kept the others'
    and dropped its own.)"""
    from kalshi_cli.runner.books.portfolio import Portfolio
    from kalshi_cli.runner.preflight import rebuild

    fills = [
        fill(1, "A", BID, "10 @ 0.40", START),
        fill(2, "B", BID, "10 @ 0.40", START + 1),
        fill(3, "C", BID, "10 @ 0.40", START + 2),
        FillRecord(
            "f4", "o4", None, "C", BID, D("0.30"), D(5), D(0), True, START + 3, None, None, 1
        ),
    ]
    with Store.open(tmp_path / "state.db", clock=ManualClock(START)) as store:
        store.fills.record_fills(fills)
        store.settlements.record_settlements(
            [
                replace(settlement("A", "yes", START + 100), subaccount=0),
                replace(settlement("B", "no", START + 100), subaccount=None),
                replace(settlement("C", "yes", START + 100), subaccount=1),
            ]
        )
        portfolio = Portfolio([])
        rebuild(store, portfolio, 0)
    assert {t: portfolio.position(t) for t in "ABC"} == {"A": 0, "B": 0, "C": 10}


def test_a_markets_realized_gross_adds_up_over_every_stretch() -> None:
    """A market that realizes on two UTC days (two stretches of the state-file pass): its
    realized gross, the figure `kalshi positions` and `kalshi pnl` show per market and check
    against the exchange's `realized_pnl`, is the sum of both. (`_StretchPass.stretch` mutant
    90 kept only the last stretch's.)"""
    fills = [
        fill(1, "A", BID, "10 @ 0.40", START),
        fill(2, "A", ASK, "2 @ 0.50", START + 10),  # +0.20
        fill(3, "A", ASK, "3 @ 0.60", START + 86_400),  # +0.60, the next day
    ]
    summary = stored_summary(fills, [])
    a = summary.engine.market("A")
    assert (a.realized_gross, a.position, a.basis) == (D("0.8"), 5, 2)
    assert summary.book(0).market("A").realized_gross == D("0.8")


def test_a_days_realized_adds_up_over_stretches_cut_by_a_settlement() -> None:
    """B settles at the time of one of its fills, which cuts the day into two stretches of the
    state-file pass; A realizes in both. The document's figures for A and for the day (what
    `kalshi pnl` prints and `kalshi check pnl` grades) count both sales. (`_StretchPass.stretch`
    mutants 103 and 105 kept only the last stretch's gross and fees in the cell.)"""
    fills = [
        fill(1, "A", BID, "10 @ 0.40", START, fee="0.01"),
        fill(2, "A", ASK, "2 @ 0.50", START + 10, fee="0.02"),  # +0.20
        fill(3, "B", BID, "5 @ 0.30", START + 20),
        fill(4, "B", BID, "1 @ 0.30", START + 30),  # at B's settlement: applied after it
        fill(5, "A", ASK, "3 @ 0.60", START + 40, fee="0.03"),  # +0.60
    ]
    document = stored_summary(fills, [settlement("B", "yes", START + 30)]).to_json()
    assert document["by_market"]["A"] == {
        "realized_gross": "0.8000",
        "fees": "0.0600",
        "realized": "0.7400",
        "fills": 3,
        "settlements": 0,
    }
    assert document["realized_gross"] == "4.3000"  # and B's 5 x 0.70 at settlement


@pytest.fixture
def new_york_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time five hours behind UTC (a POSIX rule: no tz database needed)."""
    monkeypatch.setenv("TZ", "EST+5")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("new_york_time")
def test_the_day_of_an_event_is_its_utc_date_whatever_the_local_time() -> None:
    """A sale at 02:00 UTC is on the UTC day the daily circuit breaker and `kalshi check pnl`
    use, not on the previous local day of a machine in New York."""
    at = 1_795_312_800.0  # 2026-11-22T02:00:00Z, 2026-11-21 21:00 in New York
    fills = [fill(1, "A", BID, "10 @ 0.40", at - 60), fill(2, "A", ASK, "2 @ 0.50", at)]
    assert list(stored_summary(fills, []).to_json()["by_day"]) == ["2026-11-22"]


def test_a_subaccounts_book_on_the_text_path_holds_its_own_fills_only() -> None:
    """A fill finer than the integer units (0.005 contracts) sends a book to the text path:
    that book is still replayed from its own subaccount's fills only. (`_summarize_book`
    mutant 11 read every subaccount's fills there.)"""
    fills = [
        FillRecord("f1", "o1", None, "A", BID, D("0.40"), D(10), D(0), True, START, None, None, 0),
        FillRecord(
            "f2", "o2", None, "A", ASK, D("0.50"), D("0.005"), D(0), True, START + 1, None, None, 1
        ),
    ]
    summary = stored_summary(fills, [])
    assert summary.book(0).market("A").position == 10
    assert summary.book(1).market("A").position == D("-0.005")
    assert summary.to_json()["realized_gross"] == "0.0000"  # a sale on 1 closes nothing of 0's


@pytest.mark.parametrize(
    ("number", "order_subaccount", "book"),
    [(3, None, 3), (3, 5, 3), (None, 5, 5), (None, None, 0), (True, 5, 5)],
)
def test_a_fill_is_recorded_in_the_book_of_the_subaccount_it_names(
    number: int | bool | None, order_subaccount: int | None, book: int
) -> None:
    """The fill's own `subaccount_number` (sent to direct members) first, else its order's
    subaccount, else the primary (0); a boolean is no subaccount number. The record's
    subaccount is the book `kalshi positions` and `kalshi pnl` put the fill in.
    (`fill_subaccount` mutants 1-4, 6 and 8 lost one of the three.)"""
    body = {
        "fill_id": "F1",
        "order_id": "O1",
        "market_ticker": "KX-A",
        "book_side": "bid",
        "count_fp": "3.00",
        "yes_price_dollars": "0.4200",
        "is_taker": True,
        "fee_cost": "0",
        "created_time": "2026-11-22T10:00:01.250Z",
    }
    if number is not None:
        body["subaccount_number"] = number
    record = fill_record_from_api(
        decode_answer(Fill, body), read_at=1795341700.0, subaccount=order_subaccount
    )
    assert record.subaccount == book


def test_a_fill_at_the_since_moment_is_counted() -> None:
    """`--since` counts what happened at or after it: a sale at exactly that moment (a fill at
    00:00:00 of `--since 2026-11-22`) is counted, and the pass ends. (`_StretchPass.run_store`
    mutant 34, `at <= cutoff`, cut an empty stretch there and never moved on.)"""
    since = 1_795_305_600.0  # 2026-11-22T00:00:00Z
    fills = [fill(1, "A", BID, "10 @ 0.40", since - 60), fill(2, "A", ASK, "2 @ 0.50", since)]
    document = stored_summary(fills, [], since=since).to_json()
    assert document["realized_gross"] == "0.2000"
    assert document["by_day"]["2026-11-22"]["fills"] == 1
