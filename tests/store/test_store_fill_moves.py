"""`Store.iter_fill_moves`, what `kalshi pnl` reads: each fill's side folded by SQLite into its
count and the cost of the side bought, over the money and counts kept as text, with its time and
strategy when asked for (whose part it builds)."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

from kalshi_cli.store import FillRecord, Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import BookSide


def test_fill_moves_fold_the_side_into_count_and_cost_within_a_time_range(tmp_path: Path) -> None:
    """What `kalshi pnl` reads a stretch at a time, as the stored text: a bid as its count at the
    YES price, an ask as '-' and its count at "1-" and the price ($1 less it: the NO side's
    cost), in time order (rowid within one moment), `since` inclusive and `until` exclusive;
    `next_fill_ts` finds the next stretch, `last_fill_ts` whether a market trades after its
    settlement."""
    fills = [
        FillRecord("f1", "o", None, "A", BookSide.BID, D("0.42"), D(3), D("0.02"), True, 10.0),
        FillRecord("f2", "o", None, "B", BookSide.ASK, D("0.30"), D("1.5"), D(0), True, 10.0, "s"),
        FillRecord("f3", "o", None, "A", BookSide.ASK, D("0.9999"), D(1), D(0), True, 20.0),
        FillRecord("f4", "o", None, "A", BookSide.BID, D("0.5"), D(1), D(0), True, 30.0),
    ]
    with Store.open(tmp_path / "state.db", clock=ManualClock(2.0)) as store:
        assert store.fills.next_fill_ts(None) is None
        store.fills.record_fills(fills)
        assert list(store.fills.iter_fill_moves(10.0, 30.0, owned=True)) == [
            ("A", "3", "0.42", "0.02", 10.0, None),
            ("B", "-1.5", "1-0.3", "0", 10.0, "s"),
            ("A", "-1", "1-0.9999", "0", 20.0, None),
        ]
        # whose part each builds is read only when asked for
        assert [m[4:] for m in store.fills.iter_fill_moves(10.0, 30.0)] == [(None, None)] * 3
        assert list(store.fills.iter_fill_moves(10.5, 20.0)) == []
        assert (
            store.fills.next_fill_ts(None),
            store.fills.next_fill_ts(10.5),
            store.fills.next_fill_ts(30.0),
        ) == (
            10.0,
            20.0,
            30.0,
        )
        assert store.fills.next_fill_ts(30.5) is None
        assert (
            store.fills.last_fill_ts("A"),
            store.fills.last_fill_ts("B"),
            store.fills.last_fill_ts("Z"),
        ) == (
            30.0,
            10.0,
            None,
        )
