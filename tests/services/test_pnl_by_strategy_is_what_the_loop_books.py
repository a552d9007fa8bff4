"""`kalshi pnl --by strategy` over a state file gives each owner what the trade loop's own booking
(`PositionBook`, fed the same fills and settlements one at a time in Decimal, one per subaccount)
says its part realized, to the last digit, on any history of several strategies, a person, the
stop-loss, settlements and two subaccounts, with and without `--since`."""

from __future__ import annotations

import tempfile
from decimal import Decimal as D
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kalshi_cli.services.owner_parts import PositionBook
from kalshi_cli.services.pnl import merge_settlements
from kalshi_cli.services.pnl_report import pnl_report
from kalshi_cli.store import FillRecord, SettlementRecord, Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.owners import MANUAL, STOP_LOSS
from kalshi_cli.vocabulary.units import BookSide, fmt_exact_dollars

TICKERS = ["A", "B"]
PRICES = [D(c) / 100 for c in range(1, 100, 7)] + [D("0.005"), D("0.1234")]
COUNTS = [D(1), D(3), D(10), D("0.5"), D("2.25"), D(7)]
FEES = [D(0), D("0.01"), D("0.07"), D("0.000123")]
OWNERS = [None, "spike", "mm", "mr", MANUAL, STOP_LOSS]
START = 1_700_000_000.0

fill = st.tuples(
    st.sampled_from(TICKERS),
    st.sampled_from([BookSide.BID, BookSide.ASK]),
    st.sampled_from(PRICES),
    st.sampled_from(COUNTS),
    st.sampled_from(FEES),
    st.sampled_from(OWNERS),
    st.floats(min_value=0.0, max_value=40_000.0),
    st.sampled_from([0, 0, 1]),
)


def history(
    raw: list[tuple[Any, ...]], results: dict[str, tuple[str, int | None]], settle_after: int
) -> tuple[list[FillRecord], list[SettlementRecord]]:
    ts, fills = START, []
    for i, (ticker, side, price, count, fee, owner, step, book) in enumerate(raw):
        ts += step
        fills.append(
            FillRecord(
                f"f{i}",
                f"o{i}",
                None,
                ticker,
                side,
                price,
                count,
                fee,
                True,
                ts,
                owner,
                subaccount=book,
            )
        )
    at = fills[settle_after].ts if settle_after < len(fills) else START + 1e7
    settlements = [
        SettlementRecord(t, "E", r, D(0), D(0), D(0), D(0), D(0), D("0.03"), at, subaccount=book)
        for t, (r, book) in sorted(results.items())
    ]
    return fills, settlements


def booked_by_the_loop(
    fills: list[FillRecord], settlements: list[SettlementRecord], since: float | None
) -> dict[str, str]:
    realized: dict[str, D] = {}
    for n in {f.subaccount for f in fills}:
        book = PositionBook(-float("inf") if since is None else since)
        of_book = [s for s in settlements if s.subaccount in (n, None)]
        for event in merge_settlements([f for f in fills if f.subaccount == n], of_book):
            book.book(event)
        for owner, v in book.owners.realized().items():
            realized[owner] = realized.get(owner, D(0)) + v
    return {owner: fmt_exact_dollars(v) for owner, v in sorted(realized.items())}


@settings(max_examples=200, deadline=None)
@given(
    st.lists(fill, max_size=40),
    st.dictionaries(
        st.sampled_from(TICKERS),
        st.tuples(st.sampled_from(["yes", "no", "void"]), st.sampled_from([0, 1, None])),
    ),
    st.integers(min_value=0, max_value=39),
    st.sampled_from([None, START, START + 150_000.0]),
)
def test_by_strategy_is_what_the_loops_booking_realizes(raw, results, settle_after, since) -> None:
    assert_the_report_is_the_loops(*history(raw, results, settle_after), since)


# a run: one owner's fills in one market one after another, the report's pass booking those that
# keep its whole part on one side together (services/pnl.py `_StretchPass.stretch`)
run = st.tuples(
    st.sampled_from(["A", "A", "B"]),
    st.sampled_from(OWNERS[:4]),
    st.lists(
        st.tuples(
            st.sampled_from([BookSide.BID, BookSide.ASK]),
            st.sampled_from(PRICES),
            st.sampled_from(COUNTS),
            st.sampled_from(FEES),
            st.sampled_from([0.0, 1.0, 600.0, 40_000.0]),
        ),
        min_size=1,
        max_size=8,
    ),
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(run, max_size=10),
    st.dictionaries(st.sampled_from(TICKERS), st.sampled_from(["yes", "no", "void"])),
    st.integers(min_value=0, max_value=79),
    st.sampled_from([None, START + 40_000.0]),
)
def test_runs_of_one_owners_fills_are_booked_as_the_loop_books_them(
    runs, results, settle_after, since
) -> None:
    """Strategies and a person trading one market in turn, each several fills running, adding,
    closing in part, emptying and turning the position: each strategy's figure is the loop's,
    which books one fill at a time."""
    raw = [
        (ticker, side, price, count, fee, owner, step, 0)
        for ticker, owner, fills in runs
        for side, price, count, fee, step in fills
    ]
    settled: dict[str, tuple[str, int | None]] = {t: (r, 0) for t, r in results.items()}
    assert_the_report_is_the_loops(*history(raw, settled, settle_after), since)


def test_a_count_finer_than_the_units_is_booked_in_decimal_alike() -> None:
    """A count of 0.005 has no integer in hundredths of a contract: the report books the parts
    in Decimal instead (`realized_by_owner`), to the same figures: spike bought 10 at 0.40 and
    sold 4.005 at 0.55, a person's sale took back the rest of what the account no longer held."""
    raw = [
        ("A", BookSide.BID, D("0.40"), D(10), D("0.01"), "spike", 0.0, 0),
        ("A", BookSide.ASK, D("0.55"), D("4.005"), D(0), "spike", 1.0, 0),
        ("A", BookSide.ASK, D("0.50"), D(7), D(0), MANUAL, 1.0, 0),
    ]
    rows = assert_the_report_is_the_loops(*history(raw, {}, 0), None)
    assert rows == {"spike": "0.59075"}  # 4.005 x 0.15, less the 0.01 fee


def assert_the_report_is_the_loops(
    fills: list[FillRecord], settlements: list[SettlementRecord], since: float | None
) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state.db"
        with Store.open(state, clock=ManualClock(START)) as store:
            store.fills.record_fills(fills)
            for s in settlements:
                store.settlements.record_settlement(s)
        report = pnl_report(state, since=None, since_ts=since, by="strategy", exchange=None)
    rows = {row["strategy"]: row["realized"] for row in report.rows}
    # with `--since` too, every owner the history knows, at nothing where it realized nothing
    # since, as the loop's book shows it
    assert rows == booked_by_the_loop(fills, settlements, since)
    return rows
