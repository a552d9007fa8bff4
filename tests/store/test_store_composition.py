"""The state file's `Store` has its repositories; it inherits none of them, and the writes of
several repositories inside one `store.transaction()` are one transaction of one connection."""

from __future__ import annotations

import inspect
from decimal import Decimal
from pathlib import Path

import pytest

import kalshi_cli.store as store_package
from kalshi_cli.store import FillRecord, IntentRecord, Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import Action, BookSide, Side

D = Decimal
REPOSITORIES = ("orders", "fills", "settlements", "trading", "alerts", "entries")


def _store_classes() -> list[type]:
    """Every class the store package defines that is not an error or a record."""
    found: list[type] = []
    for module in store_package.__dict__.values():
        if not inspect.ismodule(module) or not module.__name__.startswith("kalshi_cli.store."):
            continue
        for cls in vars(module).values():
            if (
                inspect.isclass(cls)
                and cls.__module__ == module.__name__
                and not issubclass(cls, Exception)
                and not module.__name__.endswith(".records")
            ):
                found.append(cls)
    return found


def test_the_store_and_its_repositories_inherit_no_class_of_ours(tmp_path: Path) -> None:
    classes = _store_classes()
    assert Store in classes
    for cls in classes:
        ours = [b for b in cls.__mro__[1:] if b.__module__.startswith("kalshi_cli")]
        assert ours == [], f"{cls.__qualname__} inherits {[b.__qualname__ for b in ours]}"
    with Store.open(tmp_path / "state.db") as store:
        for name in REPOSITORIES:
            repository = getattr(store, name)
            assert type(repository) in classes, name
            assert type(repository).__mro__ == (type(repository), object), name


def _intent(coid: str) -> IntentRecord:
    return IntentRecord(
        client_order_id=coid,
        ticker="KXTEST-1",
        book_side=BookSide.BID,
        price=D("0.40"),
        count=D("2"),
        side=Side.YES,
        action=Action.BUY,
    )


def _fill(fill_id: str, order_id: str, coid: str) -> FillRecord:
    return FillRecord(
        fill_id=fill_id,
        order_id=order_id,
        client_order_id=coid,
        ticker="KXTEST-1",
        book_side=BookSide.BID,
        yes_price=D("0.40"),
        count=D("2"),
        fee=D("0.02"),
        is_taker=True,
        ts=1_700_000_000.0,
    )


def test_writes_of_several_repositories_commit_together_or_not_at_all(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    clock = ManualClock(1_700_000_000.0)
    with Store.open(path, clock=clock) as store, Store.open(path, clock=clock) as other:
        with store.transaction():
            store.orders.record_intent(_intent("c1"))  # its own transaction: a savepoint here
            store.orders.mark_sent(
                "c1", order_id="o1", status="executed", fill_count=D(2), remaining_count=D(0)
            )
            assert store.fills.record_fill(_fill("f1", "o1", "c1"))
            store.entries.log_entry("order_placed", {"client_order_id": "c1"})
            assert store.in_transaction
            # another connection sees none of it before the one commit
            assert other.orders.get_intent("c1") is None
            assert other.fills.count_fills() == 0
            assert other.entries.read(kind="order_placed") == []
        assert not store.in_transaction
        got = other.orders.get_intent("c1")
        assert got is not None and got.status == "executed"
        assert other.fills.count_fills() == 1
        assert len(other.entries.read(kind="order_placed")) == 1

        with pytest.raises(RuntimeError), store.transaction():
            store.orders.record_intent(_intent("c2"))
            store.fills.record_fill(_fill("f2", "o2", "c2"))
            store.trading.set_trading_state("HALTED", reason="test", source="test")
            raise RuntimeError("boom")
        assert other.orders.get_intent("c2") is None
        assert other.fills.count_fills() == 1
        assert other.trading.trading_state().state == "ACTIVE"


def test_when_committed_runs_after_the_outermost_commit_and_drops_what_a_savepoint_undid(
    tmp_path: Path,
) -> None:
    told: list[str] = []
    with Store.open(tmp_path / "state.db") as store:
        store.when_committed(lambda: told.append("outside"))
        assert told == ["outside"]
        with store.transaction():
            store.when_committed(lambda: told.append("outer"))
            with pytest.raises(RuntimeError), store.transaction():
                store.when_committed(lambda: told.append("undone"))
                raise RuntimeError("the savepoint rolls back")
            with store.transaction():
                store.when_committed(lambda: told.append("kept"))
            assert told == ["outside"]
        assert told == ["outside", "outer", "kept"]
        with pytest.raises(RuntimeError), store.transaction():
            store.when_committed(lambda: told.append("rolled back"))
            raise RuntimeError("the transaction rolls back")
        with store.transaction():
            pass
        assert told == ["outside", "outer", "kept"]
