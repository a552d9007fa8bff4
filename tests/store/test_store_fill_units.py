"""Migration 0002: every fill's price, count and fee also as an integer of a fixed unit, backfilled
from the text of a file written before it, and written for every new fill by the same rule."""

from __future__ import annotations

import sqlite3
import tempfile
from decimal import Decimal as D
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from kalshi_cli.clock import ManualClock
from kalshi_cli.models import BookSide
from kalshi_cli.store import FillRecord, Store
from kalshi_cli.store import migrations as m
from kalshi_cli.store.fills import COUNT_SCALE, FEE_SCALE, PRICE_SCALE, fixed_units
from kalshi_cli.store.values import dec_text

SCALES = {"yes_price": PRICE_SCALE, "count": COUNT_SCALE, "fee": FEE_SCALE}

value = st.one_of(
    st.decimals(min_value=-(10**12), max_value=10**12, places=10, allow_nan=False),
    st.integers(min_value=-(10**11), max_value=10**11).map(lambda n: D(n).scaleb(-8)),
    st.integers(min_value=0, max_value=10**6).map(lambda n: D(n).scaleb(-6)),
    st.sampled_from([D("0.56"), D("0.005"), D("10"), D("999999999.99"), D("1000000000")]),
)


def exact_units(v: D, scale: int) -> int | None:
    """The integer of 10**-scale a value is, by Decimal arithmetic; None where it is not one or
    has more than 9 digits before the point (the columns' documented range)."""
    scaled = v.scaleb(scale)
    if scaled != scaled.to_integral_value() or abs(v) >= 10**9:
        return None
    return int(scaled)


def old_file_with(path: Path, values: list[tuple[D, D, D]]) -> None:
    """A state file as kalshi-cli wrote it before migration 0002: text only."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        m.apply_pending(conn, 1.0, [m.INITIAL])
        conn.executemany(
            "INSERT INTO fills (fill_id, order_id, ticker, book_side, yes_price, count, fee, "
            "is_taker, ts) VALUES (?, 'o', 'A', 'bid', ?, ?, ?, 1, ?)",
            [
                (f"f{i}", dec_text(p), dec_text(n), dec_text(f), float(i))
                for i, (p, n, f) in enumerate(values)
            ],
        )
    finally:
        conn.close()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(value, value, value), min_size=1, max_size=30))
def test_the_backfill_and_new_fills_hold_the_exact_integer_or_null(values) -> None:
    """Old fills get their integers from the migration's SQL parsing of the text, new fills from
    `fixed_units`: both equal the Decimal value in the column's unit, or NULL where it does not
    fit (never a rounded number)."""
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "old.db"
        old_file_with(old, values)
        with Store.open(old, clock=ManualClock(2.0)) as store:
            assert "0002_fill_integer_units" in [n for n, _ in store.applied_migrations()]
            backfilled = store._conn.execute(
                "SELECT yes_price_e6, count_e2, fee_e8 FROM fills ORDER BY ts"
            ).fetchall()
        with Store.open(Path(tmp) / "new.db", clock=ManualClock(2.0)) as store:
            store.record_fills(
                FillRecord(f"f{i}", "o", None, "A", BookSide.BID, p, n, f, True, float(i))
                for i, (p, n, f) in enumerate(values)
            )
            written = store._conn.execute(
                "SELECT yes_price_e6, count_e2, fee_e8 FROM fills ORDER BY ts"
            ).fetchall()
    expected = [
        tuple(exact_units(v, s) for v, s in zip(row, SCALES.values(), strict=True))
        for row in values
    ]
    assert backfilled == expected
    assert written == expected


def test_fixed_units_refuses_what_is_not_a_plain_decimal_text() -> None:
    assert fixed_units("0.5600", 6) == 560_000
    assert fixed_units("-1.5", 2) == -150
    assert fixed_units("7", 8) == 700_000_000
    for text in ("1E+1", "", "-", ".5", "1.2.3", "0.1234567", "1234567890", "٣"):
        assert fixed_units(text, 6) is None, text


def test_a_fill_without_integers_sends_the_reader_to_the_text(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state.db", clock=ManualClock(2.0)) as store:
        fine = FillRecord("f1", "o", None, "A", BookSide.BID, D("0.5"), D(2), D(0), True, 1.0)
        store.record_fill(fine)
        assert list(store.iter_fill_units() or []) == [("A", 1, 500_000, 200, 0, 1.0, None)]
        finer = FillRecord(
            "f2", "o", None, "A", BookSide.ASK, D("0.5"), D("0.001"), D(0), True, 5.0
        )
        store.record_fill(finer)
        assert store.iter_fill_units() is None
        assert list(store.iter_fill_units(until=5.0) or []) == [
            ("A", 1, 500_000, 200, 0, 1.0, None)
        ]


def test_fill_moves_fold_the_side_into_count_and_cost_within_a_time_range(tmp_path: Path) -> None:
    """What `kalshi pnl` reads a stretch at a time: a bid as a positive count at the YES price,
        an ask as a negative count at $1 less it (the NO side's cost), in time order (rowid within
        one moment), `since` inclusive and `until` exclusive; `next_fill_ts` finds the next stretch,
    `last_fill_ts` whether a market trades after its settlement."""
    fills = [
        FillRecord("f1", "o", None, "A", BookSide.BID, D("0.42"), D(3), D("0.02"), True, 10.0),
        FillRecord("f2", "o", None, "B", BookSide.ASK, D("0.30"), D("1.5"), D(0), True, 10.0, "s"),
        FillRecord("f3", "o", None, "A", BookSide.ASK, D("0.9999"), D(1), D(0), True, 20.0),
        FillRecord("f4", "o", None, "A", BookSide.BID, D("0.5"), D(1), D(0), True, 30.0),
    ]
    with Store.open(tmp_path / "state.db", clock=ManualClock(2.0)) as store:
        assert store.next_fill_ts(None) is None
        store.record_fills(fills)
        assert store.fills_fit_units()
        assert list(store.iter_fill_moves(10.0, 30.0)) == [
            ("A", None, 300, 420_000, 2_000_000),
            ("B", "s", -150, 700_000, 0),
            ("A", None, -100, 100, 0),
        ]
        assert list(store.iter_fill_moves(10.5, 20.0)) == []
        assert (store.next_fill_ts(None), store.next_fill_ts(10.5), store.next_fill_ts(30.0)) == (
            10.0,
            20.0,
            30.0,
        )
        assert store.next_fill_ts(30.5) is None
        assert (store.last_fill_ts("A"), store.last_fill_ts("B"), store.last_fill_ts("Z")) == (
            30.0,
            10.0,
            None,
        )
        finer = FillRecord("f5", "o", None, "A", BookSide.BID, D("0.5"), D("0.001"), D(0), True, 40)
        store.record_fill(finer)
        assert not store.fills_fit_units()
