"""The day's realized P&L read again costs what the fills added since cost, not what the day
holds, and stays the exact sum of the file's rows whatever changed them: this connection's
inserts and updates, another connection's, a rollback, a removed fill, a fill of another day."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kalshi_cli.store import FillRecord, Store
from kalshi_cli.store.retention import RetentionPolicy
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import BookSide
from tests.store.sqlite_steps import sqlite_steps

D = Decimal
DAY = datetime(2024, 3, 10, tzinfo=UTC).timestamp()
TODAY, YESTERDAY, TOMORROW = "2024-03-10", "2024-03-09", "2024-03-11"


def fill(n: int, ts: float = DAY + 1, pnl: Decimal | None = D("0.0001")) -> FillRecord:
    return FillRecord(
        fill_id=f"f{n}",
        order_id=f"o{n}",
        client_order_id=None,
        ticker="T-A",
        book_side=BookSide.BID,
        yes_price=D("0.49"),
        count=D(3),
        fee=D("0.01"),
        is_taker=False,
        ts=ts,
        strategy="spike",
        realized_pnl=pnl,
    )


def full_sum(store: Store, day: str) -> Decimal:
    """The day's fills summed one by one, as the figure must come out (no settlements here)."""
    start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
    fills = store.fills.iter_fills(since=start, until=start + 86_400)
    return sum((f.realized_pnl for f in fills if f.realized_pnl is not None), D(0))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
def store(path: Path) -> Iterator[Store]:
    s = Store.open(path, clock=ManualClock(DAY))
    yield s
    s.close()


@pytest.fixture
def other(path: Path, store: Store) -> Iterator[Store]:
    """Another process's connection to the same file (the assistant, `kalshi order`)."""
    s = Store.open(path, clock=ManualClock(DAY))
    yield s
    s.close()


def read(store: Store, day: str = TODAY) -> Decimal:
    figure = store.trading.daily_realized_pnl(day)
    assert figure == full_sum(store, day)
    return figure


def test_fills_added_after_a_read_are_counted_once(store: Store) -> None:
    store.fills.record_fills([fill(i, pnl=D("0.0125")) for i in range(3)])
    assert read(store) == D("0.0375")
    store.fills.record_fill(fill(3, pnl=D("-1.01")))
    store.fills.record_fill(fill(3, pnl=D("-1.01")))  # seen before: ignored
    store.fills.record_fills([fill(4, pnl=None), fill(5, pnl=D("0.0000001")), fill(0)])
    assert read(store) == D("-0.9724999")
    assert read(store) == D("-0.9724999")


def test_a_realized_pnl_written_after_the_read_replaces_the_old_one(store: Store) -> None:
    store.fills.record_fills([fill(1, pnl=None), fill(2, pnl=D("0.5")), fill(3, pnl=D(1))])
    assert read(store) == D("1.5")
    store.fills.set_fill_realized_pnl("f1", D("0.25"))
    assert read(store) == D("1.75")
    store.fills.set_fill_realized_pnl("f2", None)
    store.fills.set_fill_realized_pnl("f3", D("-3"))
    assert read(store) == D("-2.75")


def test_another_connections_inserts_updates_and_removals_are_seen(
    store: Store, other: Store
) -> None:
    store.fills.record_fills([fill(1, pnl=D("0.1")), fill(2, pnl=D("0.2"))])
    assert read(store) == D("0.3")
    other.fills.record_fill(fill(3, pnl=D("0.4")))
    assert read(store) == D("0.7")
    other.fills.set_fill_realized_pnl("f1", D("-0.1"))
    assert read(store) == D("0.5")
    # nothing in the package removes a fill (retention keeps them all), but a writer that
    # does must not leave its P&L in the figure
    with sqlite3.connect(store.path) as raw:
        raw.execute("DELETE FROM fills WHERE fill_id = 'f3'")
    assert read(store) == D("0.1")
    # the highest rowid removed and given again to a new fill
    store.fills.record_fill(fill(4, pnl=D("7")))
    assert read(store) == D("7.1")
    with sqlite3.connect(store.path) as raw:
        raw.execute("DELETE FROM fills WHERE fill_id = 'f4'")
    other.fills.record_fill(fill(5, pnl=D("0.01")))
    assert read(store) == D("0.11")


def test_a_fill_moved_to_another_day_leaves_this_days_figure(store: Store) -> None:
    store.fills.record_fills([fill(1, pnl=D("0.1")), fill(2, pnl=D("0.2"))])
    assert read(store) == D("0.3")
    assert read(store, TOMORROW) == D(0)
    with sqlite3.connect(store.path) as raw:
        raw.execute("UPDATE fills SET ts = ? WHERE fill_id = 'f2'", (DAY + 86_400 + 5,))
    assert read(store) == D("0.1")
    assert read(store, TOMORROW) == D("0.2")


def test_a_rolled_back_fill_leaves_the_figure(store: Store, other: Store) -> None:
    store.fills.record_fill(fill(1, pnl=D("0.1")))
    assert read(store) == D("0.1")
    with pytest.raises(RuntimeError), store.transaction():
        store.fills.record_fill(fill(2, pnl=D(5)))
        assert read(store) == D("5.1")  # read inside: its own write counted
        raise RuntimeError("undone")
    assert read(store) == D("0.1")
    # the rowid the rolled-back fill had is given to another connection's
    other.fills.record_fill(fill(3, pnl=D("0.02")))
    assert read(store) == D("0.12")
    with pytest.raises(RuntimeError), store.transaction():
        store.fills.set_fill_realized_pnl("f1", D(9))
        assert read(store) == D("9.02")
        raise RuntimeError("undone")
    assert read(store) == D("0.12")


def test_fills_of_other_days_count_on_their_own_day(store: Store) -> None:
    store.fills.record_fill(fill(1, pnl=D("0.1")))
    assert read(store) == D("0.1")
    assert read(store, YESTERDAY) == D(0)
    store.fills.record_fills(
        [
            fill(2, ts=DAY - 0.001, pnl=D(100)),  # the day before, copied late
            fill(3, ts=DAY + 86_400, pnl=D(1000)),  # the next day's first moment
            fill(4, ts=DAY + 86_399.999, pnl=D("0.2")),  # this day's last
        ]
    )
    assert read(store) == D("0.3")
    assert read(store, YESTERDAY) == D(100)
    assert read(store, TOMORROW) == D(1000)
    store.fills.record_fill(fill(5, ts=DAY - 86_400.001, pnl=D(1)))
    assert read(store) == D("0.3")
    assert read(store, YESTERDAY) == D(100)
    assert read(store, "2024-03-08") == D(1)


def test_retention_leaves_the_days_figure(store: Store) -> None:
    store.fills.record_fills([fill(i, pnl=D("0.0101")) for i in range(5)])
    assert read(store) == D("0.0505")
    store.retention.prune(RetentionPolicy(), agent_strategy="agent", sleep=lambda _: None)
    store.fills.record_fill(fill(5, pnl=D("0.0001")))
    assert read(store) == D("0.0506")


_STEPS = st.lists(
    st.tuples(
        st.sampled_from(["add", "add_many", "set", "other_add", "other_set", "remove", "undo"]),
        st.integers(0, 30),
        st.sampled_from([DAY - 1, DAY + 2, DAY + 86_399.9, DAY + 86_400]),
        st.one_of(st.none(), st.decimals(-(10**6), 10**6, places=6, allow_nan=False)),
    ),
    max_size=25,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=_STEPS)
def test_the_figure_is_the_full_sum_after_any_changes(tmp_path_factory: Any, steps: Any) -> None:
    path = tmp_path_factory.mktemp("any") / "state.db"
    with Store.open(path, clock=ManualClock(DAY)) as store, Store.open(path) as other:
        for n, (step, i, ts, pnl) in enumerate(steps):
            if step == "add":
                store.fills.record_fill(fill(i, ts, pnl))
            elif step == "add_many":
                store.fills.record_fills([fill(i, ts, pnl), fill(100 + n, ts, pnl)])
            elif step == "set":
                store.fills.set_fill_realized_pnl(f"f{i}", pnl)
            elif step == "other_add":
                other.fills.record_fill(fill(i, ts, pnl))
            elif step == "other_set":
                other.fills.set_fill_realized_pnl(f"f{i}", pnl)
            elif step == "remove":
                other._conn.execute("DELETE FROM fills WHERE fill_id = ?", (f"f{i}",))
            else:
                with pytest.raises(RuntimeError), store.transaction():
                    store.fills.record_fill(fill(200 + n, ts, pnl))
                    store.fills.set_fill_realized_pnl(f"f{i}", pnl)
                    read(store)
                    raise RuntimeError("undone")
            for day in (TODAY, YESTERDAY):
                read(store, day)


def _steps_of_read(store: Store, day: str) -> int:
    """SQLite virtual-machine steps (in hundreds) a read of the day's P&L takes."""
    return sqlite_steps(store, lambda: store.trading.daily_realized_pnl(day))[0]


@pytest.mark.parametrize("size", [1_000, 20_000])
def test_a_read_again_after_a_fill_costs_the_same_whatever_the_day_holds(
    tmp_path: Path, size: int
) -> None:
    """What the loop's full pass does: one fill written, the day's P&L read again. Its cost
    in SQLite steps must not grow with the fills the day already holds."""
    with Store.open(tmp_path / "state.db", clock=ManualClock(DAY)) as store:
        store.fills.record_fills(fill(i, DAY + i / size) for i in range(size))
        store.trading.daily_realized_pnl(TODAY)
        costs = []
        for n in range(3):
            store.fills.record_fill(fill(size + n, DAY + 10 + n))
            costs.append(_steps_of_read(store, TODAY))
        assert read(store) == D("0.0001") * (size + 3)
    # a few hundred steps for a handful of rows; a read of every fill of the day takes at
    # least one step per fill
    assert max(costs) < 50, costs
