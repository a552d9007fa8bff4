"""Fills and settlements: idempotent, exact, streamed; the daily realized P&L."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshi_cli.store import FillRecord, SettlementRecord, Store
from kalshi_cli.store.values import dec_text as _dec
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import BookSide

D = Decimal
DAY = datetime(2024, 3, 10, tzinfo=UTC).timestamp()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "state.db", clock=ManualClock(DAY))
    yield s
    s.close()


def fill(n: int, **kw: Any) -> FillRecord:
    base: dict[str, Any] = {
        "fill_id": f"f{n}",
        "order_id": f"o{n // 2}",
        "client_order_id": None,
        "ticker": "T-A" if n % 2 else "T-B",
        "book_side": BookSide.BID,
        "yes_price": D("0.0125"),
        "count": D("3.75"),
        "fee": D("0.0001"),
        "is_taker": bool(n % 2),
        "ts": DAY + n,
        "strategy": "spike",
        "realized_pnl": None,
    }
    base.update(kw)
    return FillRecord(**base)


def test_a_fill_is_stored_once_and_exactly(store: Store) -> None:
    f = fill(1, realized_pnl=D("-0.004"), client_order_id="c1")
    assert store.fills.record_fill(f) is True
    assert store.fills.record_fill(f) is False
    assert store.fills.read() == [f]
    assert store.fills.count_fills() == 1
    got = store.fills.read()[0]
    assert (got.yes_price, got.count, got.fee) == (D("0.0125"), D("3.75"), D("0.0001"))
    assert got.book_side is BookSide.BID and got.is_taker is True
    assert got.signed_count == D("3.75")


def test_a_batch_counts_only_new_fills(store: Store) -> None:
    assert store.fills.record_fills([fill(n) for n in range(10)]) == 10
    assert store.fills.record_fills([fill(n) for n in range(5, 15)]) == 5
    assert store.fills.record_fills([]) == 0
    assert store.fills.count_fills() == 15


def test_a_copy_recorded_without_its_order_takes_the_strategy_a_later_writer_knows(
    store: Store,
) -> None:
    """Another process copies a fill before the row of its order names it (no intent, no
    strategy); the loop, or the next reconcile, then records it knowing its order: the copy
    takes that intent and strategy, and the fill is still counted once and is not new. A fill
    recorded with its intent keeps it whatever a later copy says."""
    copied = fill(1, strategy=None)
    assert store.fills.record_fill(copied) is True
    assert store.fills.record_fill(fill(1, client_order_id="mm:1", strategy="mm")) is False
    assert store.fills.read() == [fill(1, client_order_id="mm:1", strategy="mm")]
    store.fills.record_fill(fill(1, strategy=None))
    store.fills.record_fill(fill(1, client_order_id="mr:9", strategy="mr"))
    assert store.fills.read() == [fill(1, client_order_id="mm:1", strategy="mm")]
    store.fills.record_fills([fill(3, strategy=None), fill(5, strategy=None)])
    batch = [fill(3, client_order_id="mm:3", strategy="mm"), fill(5), fill(7, strategy="mm")]
    assert store.fills.record_fills(batch) == 1
    by_id = {f.fill_id: (f.client_order_id, f.strategy) for f in store.fills.read()}
    assert by_id == {
        "f1": ("mm:1", "mm"),
        "f3": ("mm:3", "mm"),
        "f5": (None, None),  # the batch knew no more of it
        "f7": (None, "mm"),
    }
    assert store.fills.count_fills() == 4
    # a copy that names no intent leaves the one before it as it was, whatever strategy it says
    assert store.fills.record_fill(fill(7, strategy="spike")) is False
    (f7,) = [f for f in store.fills.read() if f.fill_id == "f7"]
    assert (f7.client_order_id, f7.strategy) == (None, "mm")


def test_a_batch_is_all_or_nothing(store: Store) -> None:
    batch = [fill(0), fill(1), fill(2, fee=0.01), fill(3)]
    with pytest.raises(TypeError):
        store.fills.record_fills(batch)
    assert store.fills.count_fills() == 0


def test_iter_fills_streams_in_time_order_with_filters(store: Store) -> None:
    store.fills.record_fills([fill(n, ts=DAY + (n * 7) % 10) for n in range(10)])
    assert [f.ts - DAY for f in store.fills.iter_fills()] == list(range(10))
    assert [f.ts - DAY for f in store.fills.iter_fills(since=DAY + 3, until=DAY + 6)] == [3, 4, 5]
    assert {f.ticker for f in store.fills.iter_fills(ticker="T-A")} == {"T-A"}
    assert [f.ts - DAY for f in store.fills.read(limit=3)] == [7, 8, 9]
    assert [f.ts - DAY for f in store.fills.read(since=DAY + 8)] == [8, 9]
    assert list(store.fills.iter_fills()) == store.fills.read()


def test_iter_fills_does_not_load_everything(store: Store) -> None:
    store.fills.record_fills(fill(n, fill_id=f"fill-{n:06d}-{'x' * 40}") for n in range(10_000))
    tracemalloc.start()
    try:
        for _ in store.fills.iter_fills():
            pass
        _, streamed_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        everything = store.fills.read()
        _, listed_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(everything) == 10_000
    assert streamed_peak * 20 < listed_peak


money = st.decimals(
    min_value=D("-1000000"), max_value=D("1000000"), places=6, allow_nan=False
) | st.decimals(allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(value=money)
def test_canonical_text_round_trips_every_decimal(value: Decimal) -> None:
    text = _dec(value)
    assert Decimal(text) == value
    assert "E" not in text and "e" not in text
    assert text == "0" or not text.endswith("0") or "." not in text
    assert _dec(Decimal(text)) == text


def test_canonical_text_examples() -> None:
    assert [_dec(D(x)) for x in ("0.5600", "10.00", "-0.00", "1E+2", "0.0050", "7")] == [
        "0.56",
        "10",
        "0",
        "100",
        "0.005",
        "7",
    ]
    assert _dec(D("0.5")) == "0.5" and _dec(D(1)) == "1"  # now cached by value
    with pytest.raises(TypeError):
        _dec(0.5)  # equal to a cached Decimal, still refused
    with pytest.raises(TypeError):
        _dec(True)
    with pytest.raises(ValueError):
        _dec(D("NaN"))


def settlement(ticker: str, at: float, **kw: Any) -> SettlementRecord:
    base: dict[str, Any] = {
        "ticker": ticker,
        "event_ticker": "EV",
        "result": "yes",
        "yes_count": D("10.5"),
        "no_count": D(0),
        "yes_total_cost": D("4.2"),
        "no_total_cost": D("0.001"),
        # what was paid: the 10.5 contracts' $10.50 less the settlement fee that rounding
        # kept (Kalshi's docs: payout + fee = the worth before rounding)
        "revenue": D("10.48"),
        "fee": D("0.02"),
        "settled_at": at,
    }
    base.update(kw)
    return SettlementRecord(**base)


def test_settlements_are_stored_once(store: Store) -> None:
    s = settlement("T-A", DAY + 10)
    assert store.settlements.record_settlement(s) is True
    assert store.settlements.record_settlement(s) is False
    assert store.settlements.read() == [s]
    assert store.settlements.read(since=DAY + 11) == []
    assert s.realized_pnl == D("6.279")


def test_daily_realized_pnl_sums_that_utc_day_only(store: Store) -> None:
    store.fills.record_fills(
        [
            fill(1, ts=DAY - 0.001, realized_pnl=D("100")),  # the day before
            fill(2, ts=DAY, realized_pnl=D("-0.125")),
            fill(3, ts=DAY + 3600, realized_pnl=None),
            fill(4, ts=DAY + 86_399.5, realized_pnl=D("0.0005")),
            fill(5, ts=DAY + 86_400, realized_pnl=D("100")),  # the next day
        ]
    )
    store.settlements.record_settlement(settlement("T-A", DAY + 50))  # realized 6.279
    store.settlements.record_settlement(settlement("T-B", DAY + 86_400))  # the next day
    assert store.trading.daily_realized_pnl("2024-03-10") == D("6.1545")
    assert store.trading.daily_realized_pnl("2024-03-11") == D("106.279")
    assert store.trading.daily_realized_pnl("2024-03-12") == D(0)
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        store.trading.daily_realized_pnl("10/03/2024")


def test_realized_pnl_can_be_filled_in_later(store: Store) -> None:
    store.fills.record_fill(fill(1, ts=DAY + 1))
    assert store.fills.set_fill_realized_pnl("f1", D("0.33")) is True
    assert store.fills.set_fill_realized_pnl("missing", D("1")) is False
    assert store.trading.daily_realized_pnl("2024-03-10") == D("0.33")


def test_the_fills_a_listing_names_that_the_state_file_lacks_are_told_past_one_statements_ids(
    store: Store,
) -> None:
    """`unknown` answers the ids of a listing the state file has no fill of, those it has left
    out, over more ids than one statement takes (the catch-up asks it of a whole listing)."""
    held = [f"f{n}" for n in range(0, 1200, 2)]  # every other id, past two statements' worth
    for fill_id in held:
        fill = FillRecord(fill_id, "o", None, "A", BookSide.ASK, D("0.5"), D("1"), D(0), True, 5)
        assert store.fills.record_fill(fill)
    asked = [f"f{n}" for n in range(1200)]
    assert store.fills.unknown(asked) == {f"f{n}" for n in range(1, 1200, 2)}
    assert store.fills.unknown(["f0", "f2"]) == set()
    assert store.fills.unknown([]) == set()


def test_a_file_from_before_0017_finds_its_fills_without_realized_pnl_by_their_index(
    tmp_path: Path,
) -> None:
    """0017 indexes the fills still to be priced, so a catch-up's question (`unrealized_books`)
    reads those alone; a fill copied before the migration and never priced is found by it."""
    import sqlite3

    from kalshi_cli.store import migrations as m

    path = tmp_path / "state.db"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        m.apply_pending(conn, 1.0, [x for x in m.MIGRATIONS if x.name < "0017"])
        conn.execute(
            "INSERT INTO fills (fill_id, order_id, ticker, book_side, yes_price, count, fee, "
            "is_taker, ts) VALUES ('f1', 'o1', 'A', 'bid', '0.4', '10', '0.01', 1, 7.0)"
        )
    finally:
        conn.close()
    with Store.open(path, clock=ManualClock(DAY)) as store:
        assert "0017_fills_without_realized" in [n for n, _ in store.applied_migrations()]
        plan = store._conn.execute(
            "EXPLAIN QUERY PLAN SELECT DISTINCT subaccount, ticker FROM fills "
            "WHERE realized_pnl IS NULL"
        ).fetchall()
        assert "fills_without_realized" in " ".join(str(row[-1]) for row in plan)
        assert store.fills.unrealized_books() == {(0, "A")}
        store.fills.set_fill_realized_pnl("f1", Decimal("0.5"))
        assert store.fills.unrealized_books() == set()
