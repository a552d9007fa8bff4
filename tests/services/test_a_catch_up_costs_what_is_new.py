"""The catch-up a hand order makes before the daily circuit breaker (and `kalshi positions`'s)
costs what the exchange listed as new, not what the state file holds: a trade loop's state file
keeps two hours of its orders (some 190,000 for 500 markets quoted) and every fill for good, and
a catch-up that read every order, looked over every fill for one without its realized P&L, or
replayed every fill's realized P&L when a market settled, took seconds of each hand order. Its
cost is counted in SQLite's virtual-machine steps, which the machine's load does not move. What
it books is unchanged: the new fill goes to its order's intent and strategy."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.services.reconcile import CatchUpListings, catch_up
from kalshi_cli.store import FillRecord, IntentRecord, Store
from kalshi_cli.store.records import EXECUTED
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.runner.fakes import START, FakeClient, new_exchange, order_fill, place_on_desk, trader
from tests.store.sqlite_steps import sqlite_steps

TICKER = "KXEVENT-M1"
SETTLED = "KXPRES-SIM-28-A"  # a market of the simulator's default scenario
FEW = 50
MANY = 5_000


def _orders(store: Store, count: int) -> None:
    """`count` orders of the strategy `spike`, each filled whole and its answer booked."""
    with store.transaction():
        for n in range(count):
            create = CreateOrder(TICKER, BookSide.BID, D("0.40"), D(1), client_order_id=f"c{n}")
            intent = IntentRecord.pending(
                create, side=Side.YES, action=Action.BUY, subaccount=0, now=START, strategy="spike"
            )
            store.orders.record_intent(intent)
            store.orders.mark_sent(
                f"c{n}", order_id=f"o{n}", status=EXECUTED, fill_count=D(1), remaining_count=D(0)
            )


def _fills(store: Store, count: int) -> None:
    """`count` fills of earlier orders, each with its realized P&L."""
    store.fills.record_fills(
        FillRecord(
            fill_id=f"old-{n}",
            order_id=f"old-o{n}",
            client_order_id=None,
            ticker=TICKER,
            book_side=BookSide.BID,
            yes_price=D("0.40"),
            count=D(1),
            fee=D("0.01"),
            is_taker=False,
            ts=START - 86_400 + n,
            strategy=None,
            realized_pnl=D(0),
        )
        for n in range(count)
    )


def _steps_of_catch_up(tmp_path: Path, *, orders: int, fills: int, new: bool) -> int:
    """SQLite steps (in hundreds) of a catch-up over a state file of `orders` orders and `fills`
    older fills that lists one `new` fill, of the newest order, or nothing new."""
    exchange = new_exchange()
    client = FakeClient(exchange, trader(exchange))
    with Store.open(tmp_path / f"state-{orders}-{fills}.db", clock=ManualClock(START)) as store:
        _orders(store, orders)
        _fills(store, fills)
        last = orders - 1
        fill = order_fill(f"o{last}", TICKER, "bid", "0.40", fee="0.01", ts=int(START))
        listed = CatchUpListings(int(START) - 300, [fill] if new else [], [])
        steps, added = sqlite_steps(
            store, lambda: catch_up(client, store, now=START + 1, listed=listed)
        )
        assert added == int(new)
        if new:
            (booked,) = store.fills.of_orders([f"o{last}"])
            assert (booked.client_order_id, booked.strategy) == (f"c{last}", "spike")
    return steps


def test_a_catch_up_costs_the_same_whatever_orders_the_state_file_holds(tmp_path: Path) -> None:
    few = _steps_of_catch_up(tmp_path, orders=FEW, fills=0, new=True)
    many = _steps_of_catch_up(tmp_path, orders=MANY, fills=0, new=True)
    # every order read was a few steps: 1,300 hundred for MANY (13 for FEW)
    assert many < few + 50, (few, many)


def test_a_catch_up_with_nothing_new_costs_the_same_whatever_fills_the_state_file_holds(
    tmp_path: Path,
) -> None:
    """The file's fills are looked over only for one without its realized P&L (a process
    stopped between copying fills and pricing them), and those are found by their own index."""
    few = _steps_of_catch_up(tmp_path, orders=FEW, fills=FEW, new=False)
    many = _steps_of_catch_up(tmp_path, orders=FEW, fills=MANY * 4, new=False)
    assert many < few + 50, (few, many)


def _steps_of_settling_catch_up(tmp_path: Path, *, fills: int) -> int:
    """SQLite steps (in hundreds) of a catch-up over a state file of `fills` older fills of
    another market that lists one new settlement: of a market the trader bought a contract of."""
    exchange = new_exchange()
    account = trader(exchange)
    seller = exchange.accounts.create_account(
        key_id="seller", public_key_pem="", cash_cents=100_000
    ).account_id
    place_on_desk(exchange, seller, SETTLED, BookSide.ASK, "0.40", 1)
    place_on_desk(exchange, account, SETTLED, BookSide.BID, "0.40", 1)
    exchange.settlement.settle(SETTLED, "yes")
    client = FakeClient(exchange, account)
    with Store.open(tmp_path / f"settling-{fills}.db", clock=ManualClock(START)) as store:
        _fills(store, fills)
        listed = CatchUpListings(int(START) - 300, [], list(client.portfolio.iter_settlements()))
        steps, added = sqlite_steps(
            store, lambda: catch_up(client, store, now=START + 1, listed=listed)
        )
        assert added == 1
        assert [s.ticker for s in store.settlements.read()] == [SETTLED]
    return steps


def test_a_catch_up_that_adds_a_settlement_costs_the_same_whatever_fills_the_file_holds(
    tmp_path: Path,
) -> None:
    """A settlement changes what the later fills of its market realized, in the books it
    settles alone: the fills of other markets are not replayed."""
    few = _steps_of_settling_catch_up(tmp_path, fills=FEW)
    many = _steps_of_settling_catch_up(tmp_path, fills=MANY * 4)
    assert many < few + 50, (few, many)


def test_a_catch_up_with_nothing_new_writes_its_cursor_alone_with_no_sync_of_its_own(
    tmp_path: Path,
) -> None:
    """Nothing listed is new: no transaction is begun for no fills (it would wait for the write
    lock a trade loop on the same file holds), only the cursor moves, and without an fsync of
    its own (some milliseconds of every hand order on a busy disk): lost to a power cut, the
    next catch-up lists from the cursor before, which misses nothing. The order's intent,
    committed at FULL next, makes it durable with its own sync."""
    exchange = new_exchange()
    client = FakeClient(exchange, trader(exchange))
    with Store.open(tmp_path / "state.db", clock=ManualClock(START)) as store:
        _orders(store, FEW)
        statements: list[str] = []
        store._conn.set_trace_callback(statements.append)
        try:
            listed = CatchUpListings(int(START) - 300, [], [])
            assert catch_up(client, store, now=START + 1, listed=listed) == 0
        finally:
            store._conn.set_trace_callback(None)
        (full,) = store._conn.execute("PRAGMA synchronous").fetchone()
    # the statements that write, or set the mode (a read of the mode is none)
    writes = [s for s in statements if not s.startswith("SELECT") and s != "PRAGMA synchronous"]
    assert len(writes) == 3, writes
    assert writes[0] == "PRAGMA synchronous = NORMAL", writes
    assert "fills_caught_up_at" in writes[1], writes
    assert writes[2] == "PRAGMA synchronous = FULL", writes
    assert full == 2  # FULL again for every later commit
