"""A loop on subaccount N books what the exchange lists without `subaccount_number` as N's.

Kalshi sends `subaccount_number` on a fill or an order only to direct members (REFERENCE.md:
the field is optional); a client acting on N (`kalshi trade --subaccount N`) lists N's only, so
whatever it lists that names no subaccount is N's. Booked as 0's,
the next start on N rebuilt a position without it and refused to start (positions differ), and
a loop on 0 would have counted it.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.runner.books.portfolio import Portfolio
from kalshi_cli.runner.preflight import rebuild
from kalshi_cli.services.reconcile import (
    CLIENTS_OWN,
    account_resting,
    reconcile,
    sync_account_fills,
)
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.models import Fill, Order, decode_answer
from kalshi_cli.vocabulary.units import BookSide, TimeInForce, to_book
from tests.runner.fakes import START, FakeClient, make_rig, new_exchange, order_fill, trader


def _unnamed_fill(order_id: str, ticker: str, book_side: str, yes_price: str) -> Fill:
    when = {"created_time": "2026-01-01T00:00:01Z", "ts": 1_767_225_601}
    return order_fill(order_id, ticker, book_side, yes_price, fee="0.000000", **when)


def test_the_loops_fill_sync_books_an_unnamed_fill_on_its_subaccount(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "s.db", strategy="market-maker")
    rig.step(0.1)
    quote = next(iter(rig.loop.portfolio.orders.values()))
    rig.client.subaccount = 1  # as `kalshi trade --subaccount 1` sets it
    book = to_book(quote.side, quote.action, quote.price)
    fill = _unnamed_fill(quote.order_id, quote.ticker, book.book_side.value, str(book.yes_price))
    rig.client.iter_fills = lambda **_: iter([fill])  # type: ignore[method-assign]
    assert rig.loop.executor.fills.sync(since_ts=0) == 1
    assert {f.fill_id: f.subaccount for f in rig.store.fills.iter_fills()} == {fill.fill_id: 1}
    # what the next start on 1 compares with the exchange's position: the loop's own fill
    live = rig.loop.portfolio.position(quote.ticker)
    assert live != 0
    again = Portfolio(list(rig.loop.portfolio.markets.values()))
    rebuild(rig.store, again, 1)
    assert again.position(quote.ticker) == live


def test_the_start_reconcile_on_a_subaccount_books_an_unnamed_fill_there(tmp_path: Path) -> None:
    clock = ManualClock(START)
    exchange = new_exchange(clock=clock)
    client = FakeClient(exchange, trader(exchange), clock=clock)
    client.subaccount = 1
    ticker = next(iter(exchange.reference.markets))
    fill = _unnamed_fill("hand-order-on-1", ticker, "bid", "0.4000")
    client.iter_fills = lambda **_: iter([fill])  # type: ignore[method-assign]
    with Store.open(tmp_path / "s.db", clock=clock) as store:
        reconcile(client, store, clock=clock, read_lag_s=0.0)
        assert {f.fill_id: f.subaccount for f in store.fills.iter_fills()} == {fill.fill_id: 1}


def test_the_start_reconcile_on_a_subaccount_imports_an_unnamed_order_there(
    tmp_path: Path,
) -> None:
    clock = ManualClock(START)
    exchange = new_exchange(clock=clock)
    client = FakeClient(exchange, trader(exchange), clock=clock)
    ticker = next(iter(exchange.reference.markets))
    placed = client.create_order(
        CreateOrder(ticker, BookSide.BID, Decimal("0.02"), Decimal(3), TimeInForce.GTC)
    )
    shape = dict(client.get_order(placed.order_id).raw)
    shape.pop("subaccount_number", None)  # not a direct member: the field is left out
    client.subaccount = 1
    client.iter_orders = lambda **_: iter([decode_answer(Order, shape)])  # type: ignore[method-assign]
    with Store.open(tmp_path / "s.db", clock=clock) as store:
        reconcile(client, store, clock=clock, read_lag_s=0.0)
        row = store.orders.intent_by_order_id(placed.order_id)
    assert row is not None and row.subaccount == 1, row


def test_a_client_on_no_subaccount_still_books_unnamed_fills_on_the_primary(
    tmp_path: Path,
) -> None:
    """Unchanged without `--subaccount`: the spec's default, the primary (0)."""
    clock = ManualClock(START)
    exchange = new_exchange(clock=clock)
    client = FakeClient(exchange, trader(exchange), clock=clock)
    ticker = next(iter(exchange.reference.markets))
    fill = _unnamed_fill("hand-order", ticker, "bid", "0.4000")
    client.iter_fills = lambda **_: iter([fill])  # type: ignore[method-assign]
    with Store.open(tmp_path / "s.db", clock=clock) as store:
        reconcile(client, store, clock=clock, read_lag_s=0.0)
        assert {f.fill_id: f.subaccount for f in store.fills.iter_fills()} == {fill.fill_id: 0}


def test_the_orders_service_books_an_unknown_unnamed_order_on_its_subaccount(
    tmp_path: Path,
) -> None:
    """`kalshi order decrease|amend ID --subaccount 1` on an order placed elsewhere imports it
    through `apply_order`: as subaccount 1's, the one the client acts on."""
    from kalshi_cli.services.orders.place import OrderService

    clock = ManualClock(START)
    exchange = new_exchange(clock=clock)
    client = FakeClient(exchange, trader(exchange), clock=clock)
    ticker = next(iter(exchange.reference.markets))
    placed = client.create_order(  # placed elsewhere: the state file knows nothing of it
        CreateOrder(ticker, BookSide.BID, Decimal("0.02"), Decimal(3), TimeInForce.GTC)
    )

    def unnamed(order_id: str) -> Order:
        shape = dict(FakeClient.get_order(client, order_id).raw)
        shape.pop("subaccount_number", None)
        return decode_answer(Order, shape)

    client.subaccount = 1
    client.get_order = unnamed  # type: ignore[method-assign]
    with Store.open(tmp_path / "s.db", clock=clock) as store:
        service = OrderService(client, store, clock=clock, read_lag_s=0.0)
        service.cancels.decrease(placed.order_id, by=Decimal(1))
        row = store.orders.intent_by_order_id(placed.order_id)
    assert row is not None and row.subaccount == 1, row


def test_catch_up_books_an_unnamed_fill_on_the_subaccount_that_lists_it(tmp_path: Path) -> None:
    """`kalshi positions` / `kalshi pnl` catch up every subaccount's fills: listed once for
    all, a fill naming no subaccount was booked on 0 for good (the start's reconcile on 1 finds
    it recorded and moves only fills that name theirs). Listed per subaccount, it is 1's."""
    from kalshi_cli.client.subaccounts import SubaccountBalance
    from kalshi_cli.services.reconcile import catch_up

    clock = ManualClock(START)
    exchange = new_exchange(clock=clock)
    ticker = next(iter(exchange.reference.markets))
    fill = _unnamed_fill("hand-order-on-1", ticker, "bid", "0.4000")

    class _OnOneOnly(FakeClient):
        def iter_fills(self, **_: Any) -> Any:  # subaccount 1 holds the account's only fill
            return iter([fill] if self.subaccount in (None, 1) else [])

    client = _OnOneOnly(exchange, trader(exchange), clock=clock)
    balances = [SubaccountBalance(n, Decimal(0), 0) for n in (0, 1)]
    client.subaccount_balances = lambda: balances  # type: ignore[method-assign]
    client.subaccount = 1  # `kalshi positions --subaccount 1`
    with Store.open(tmp_path / "s.db", clock=clock) as store:
        catch_up(client, store, now=clock.wall())
        reconcile(client, store, clock=clock, read_lag_s=0.0)  # the loop's start on 1
        assert {f.fill_id: f.subaccount for f in store.fills.iter_fills()} == {fill.fill_id: 1}


class _TheirFillOnOne(FakeClient):
    """An account with subaccounts 0 and 1 whose user is not a direct member: a fill listing
    on no subaccount covers both (the spec's default for the fill listings), and the one fill
    of subaccount 1 (an order placed there by hand) names none."""

    theirs: Fill | None = None

    def iter_fills(self, **kwargs: Any) -> Any:
        ours = list(super().iter_fills(**kwargs))
        listed = [self.theirs] if self.theirs is not None and self.subaccount in (None, 1) else []
        return iter(listed + ours)

    def subaccount_balances(self) -> list[Any]:
        from kalshi_cli.client.subaccounts import SubaccountBalance

        return [SubaccountBalance(n, Decimal(0), 0) for n in (0, 1)]


def test_the_loop_on_the_primary_never_books_another_subaccounts_unnamed_fill(
    tmp_path: Path,
) -> None:
    """A loop started without `--subaccount` trades on the primary; its fill reads list the
    primary's fills only. Listed for every subaccount, subaccount 1's fill in a market it
    trades named none and was applied as the loop's: a position the primary never held."""
    rig = make_rig(tmp_path / "s.db", strategy="market-maker")
    rig.step(0.1)
    quote = next(iter(rig.loop.portfolio.orders.values()))
    assert rig.client.subaccount is None
    rig.client.__class__ = _TheirFillOnOne
    book = to_book(quote.side, quote.action, quote.price)
    theirs = _unnamed_fill("hand-order-on-1", quote.ticker, book.book_side.value, "0.4000")
    rig.client.theirs = theirs  # type: ignore[attr-defined]
    held = rig.loop.portfolio.position(quote.ticker)
    rig.loop.executor.fills.sync(since_ts=0)
    assert rig.loop.portfolio.position(quote.ticker) == held
    assert theirs.fill_id not in {f.fill_id for f in rig.store.fills.iter_fills(subaccount=0)}


def test_reconcile_on_no_subaccount_books_an_unnamed_fill_on_the_subaccount_that_lists_it(
    tmp_path: Path,
) -> None:
    """The start's reconcile (and `kalshi reconcile`) on no subaccount lists each subaccount's
    fills on its own, as the read commands' catch-up does: listed once for all, subaccount 1's
    fill naming none was booked on the primary, and the next start's positions differed from
    the exchange's."""
    clock = ManualClock(START)
    exchange = new_exchange(clock=clock)
    client = _TheirFillOnOne(exchange, trader(exchange), clock=clock)
    ticker = next(iter(exchange.reference.markets))
    client.theirs = _unnamed_fill("hand-order-on-1", ticker, "bid", "0.4000")
    with Store.open(tmp_path / "s.db", clock=clock) as store:
        reconcile(client, store, clock=clock, read_lag_s=0.0)
        booked = {f.fill_id: f.subaccount for f in store.fills.iter_fills()}
    assert booked == {client.theirs.fill_id: 1}


def test_the_orders_service_fill_sync_on_no_subaccount_books_an_unnamed_fill_where_it_is_listed(
    tmp_path: Path,
) -> None:
    """`OrderService.sync_fills` on no subaccount lists each subaccount's fills on its own, as
    reconcile does: it listed once for all, and subaccount 1's fill naming none was booked on
    the primary for good."""
    from kalshi_cli.services.orders.place import OrderService

    clock = ManualClock(START)
    exchange = new_exchange(clock=clock)
    client = _TheirFillOnOne(exchange, trader(exchange), clock=clock)
    ticker = next(iter(exchange.reference.markets))
    client.theirs = _unnamed_fill("hand-order-on-1", ticker, "bid", "0.4000")
    with Store.open(tmp_path / "s.db", clock=clock) as store:
        assert OrderService(client, store, clock=clock, read_lag_s=0.0).sync_fills() == 1
        booked = {f.fill_id: f.subaccount for f in store.fills.iter_fills()}
    assert booked == {client.theirs.fill_id: 1}


@pytest.mark.parametrize("numbers", [None, CLIENTS_OWN], ids=["none", "clients-own"])
def test_one_listing_is_never_taken_for_a_client_on_no_subaccount(
    tmp_path: Path, numbers: Any
) -> None:
    """A client acting on one subaccount is said so by a value of its own (CLIENTS_OWN), never
    None, and that value is refused of a client acting on none: its one listing covers every
    subaccount, and subaccount 1's fill naming none would be booked on the primary. Nothing is
    booked."""
    clock = ManualClock(START)
    exchange = new_exchange(clock=clock)
    client = _TheirFillOnOne(exchange, trader(exchange), clock=clock)
    ticker = next(iter(exchange.reference.markets))
    client.theirs = _unnamed_fill("hand-order-on-1", ticker, "bid", "0.4000")
    with Store.open(tmp_path / "s.db", clock=clock) as store:
        with pytest.raises((TypeError, ValueError)):
            sync_account_fills(client, store, since_ts=None, numbers=numbers)
        with pytest.raises((TypeError, ValueError)):
            account_resting(client, numbers=numbers)
        assert list(store.fills.iter_fills()) == []


def test_reconcile_reads_the_fills_when_the_exchange_lists_no_subaccount(tmp_path: Path) -> None:
    """An exchange whose subaccount listing is empty (a key that may read none of them) still
    has its fills read, in one listing: none is skipped for want of a subaccount to list."""
    clock = ManualClock(START)
    exchange = new_exchange(clock=clock)
    client = FakeClient(exchange, trader(exchange), clock=clock)
    client.subaccount_balances = lambda: []  # type: ignore[method-assign]
    ticker = next(iter(exchange.reference.markets))
    fill = _unnamed_fill("hand-order", ticker, "bid", "0.4000")
    client.iter_fills = lambda **_: iter([fill])  # type: ignore[method-assign]
    with Store.open(tmp_path / "s.db", clock=clock) as store:
        reconcile(client, store, clock=clock, read_lag_s=0.0)
        assert {f.fill_id: f.subaccount for f in store.fills.iter_fills()} == {fill.fill_id: 0}


def _unnamed_order(order_id: str, ticker: str, client_order_id: str) -> Order:
    """A bid of 3 at 0.05 resting, as the exchange lists it to a user who is not a direct
    member: no `subaccount_number`."""
    data: dict[str, Any] = {
        "order_id": order_id,
        "client_order_id": client_order_id,
        "ticker": ticker,
        "book_side": "bid",
        "status": "resting",
        "yes_price_dollars": "0.0500",
        "fill_count_fp": "0.00",
        "remaining_count_fp": "3.00",
        "initial_count_fp": "3.00",
        "created_time": "2026-01-01T00:00:00Z",
    }
    return decode_answer(Order, data)


class _TheirOrderOnOne(_TheirFillOnOne):
    """As `_TheirFillOnOne`, for orders: subaccount 1 rests one order (placed there by hand,
    or by a loop run with `--subaccount 1`), which a listing on no subaccount covers and which
    names none."""

    their_order: Order | None = None

    def iter_orders(self, **filters: Any) -> Any:
        ours = list(super().iter_orders(**filters))
        theirs = self.their_order
        listed = theirs is not None and self.subaccount in (None, 1)
        if listed and filters.get("ticker") in (None, theirs.ticker):  # type: ignore[union-attr]
            return iter([theirs, *ours])
        return iter(ours)


def test_reconcile_on_no_subaccount_books_an_unnamed_resting_order_on_the_subaccount_that_lists_it(
    tmp_path: Path,
) -> None:
    """The start's reconcile (and `kalshi reconcile`) on no subaccount records the resting
    orders it does not know: subaccount 1's, naming none, was imported as the primary's, and
    the loop's start then took it into its own book, to count against its limits (and, under
    one of its strategies' names, to cancel)."""
    clock = ManualClock(START)
    exchange = new_exchange(clock=clock)
    client = _TheirOrderOnOne(exchange, trader(exchange), clock=clock)
    ticker = next(iter(exchange.reference.markets))
    theirs = _unnamed_order("hand-order-on-1", ticker, "by-hand-on-1")
    client.their_order = theirs
    with Store.open(tmp_path / "s.db", clock=clock) as store:
        reconcile(client, store, clock=clock, read_lag_s=0.0)
        row = store.orders.intent_by_order_id(theirs.order_id)
        assert row is not None and row.subaccount == 1, row
        # the loop on the primary builds its book from the state file: not from subaccount 1's
        market = client.get_market(ticker)
        book = Portfolio([market])
        rebuild(store, book, 0)
        assert theirs.order_id not in book.orders


def test_reconcile_moves_an_unnamed_resting_order_booked_on_the_primary_to_its_subaccount(
    tmp_path: Path,
) -> None:
    """A state file an earlier reconcile imported subaccount 1's order into as the primary's:
    the next reconcile on no subaccount, listing 1's resting orders on their own, moves the row
    there, as it does a fill a subaccount names (`sync_fills`)."""
    from kalshi_cli.services.reconcile import import_order

    clock = ManualClock(START)
    exchange = new_exchange(clock=clock)
    client = _TheirOrderOnOne(exchange, trader(exchange), clock=clock)
    ticker = next(iter(exchange.reference.markets))
    theirs = _unnamed_order("hand-order-on-1", ticker, "by-hand-on-1")
    client.their_order = theirs
    with Store.open(tmp_path / "s.db", clock=clock) as store:
        import_order(store, theirs, now=clock.wall())  # as listed once for all: on 0
        assert store.orders.open_orders(subaccount=0)[0].order_id == theirs.order_id
        reconcile(client, store, clock=clock, read_lag_s=0.0)
        row = store.orders.intent_by_order_id(theirs.order_id)
        assert row is not None and (row.subaccount, row.status) == (1, "resting"), row
        assert store.orders.open_orders(subaccount=0) == []


def test_the_stop_of_a_loop_on_the_primary_never_names_another_subaccounts_quote(
    tmp_path: Path,
) -> None:
    """The stop's proof lists what rests and names an order under one of the loop's strategies'
    names its view does not hold (an earlier run's). A listing on no subaccount covers every
    one: a quote of the same strategy resting on subaccount 1 (a loop run there with
    `--subaccount 1`) was named, and a clean stop of the loop on the primary, which never
    placed nor could cancel it, exited NOT PROVEN (11)."""
    from kalshi_cli.vocabulary.order_terms import owned_client_order_id

    rig = make_rig(tmp_path / "s.db", strategy="market-maker")
    rig.step(0.1)
    quote = next(iter(rig.loop.portfolio.orders.values()))
    assert rig.client.subaccount is None
    rig.client.__class__ = _TheirOrderOnOne
    theirs = _unnamed_order("quote-on-1", quote.ticker, owned_client_order_id("market-maker"))
    rig.client.their_order = theirs  # type: ignore[attr-defined]
    summary = rig.loop.stop.shutdown(cancel_resting=True)
    assert summary.not_proven == ()
    assert rig.loop.stop.own.resting() == []


def test_a_user_orders_message_naming_none_is_of_the_subaccount_the_state_file_records(
    tmp_path: Path,
) -> None:
    """The `user_orders` channel covers every subaccount and names an order's only to direct
    members. A loop on the primary was told of an order placed with `kalshi order place
    --subaccount 1` (the state file records it on 1) naming none: taken into its book, it
    counted against the loop's position limit and exposure; a quote of the loop's strategy
    resting on 1 (a loop run there) became the loop's own, and the market maker cancelled it
    at once to quote afresh (refused by the exchange, which reads the cancel as the primary's:
    the loop's own new quote was dropped with it)."""
    from kalshi_cli.feed.book import FeedMessage, MessageKind
    from kalshi_cli.feed.messages import order_update
    from kalshi_cli.sim.core import serialize as ser
    from kalshi_cli.store.records import RESTING, IntentRecord
    from kalshi_cli.vocabulary.order_terms import owned_client_order_id
    from kalshi_cli.vocabulary.units import Action, Side

    rig = make_rig(tmp_path / "s.db", strategy="market-maker")
    rig.step(0.1)
    quote = next(iter(rig.loop.portfolio.orders.values()))
    assert rig.client.subaccount is None
    shape = ser.ws_user_order_msg(rig.exchange.history.order(rig.client.account_id, quote.order_id))
    cancelled: list[str] = []
    cancel = rig.client.cancel_order

    def recorded(order_id: str, **kwargs: Any) -> Any:
        cancelled.append(order_id)
        return cancel(order_id, **kwargs)

    rig.client.cancel_order = recorded  # type: ignore[method-assign]
    for order_id, coid in (
        ("by-hand-on-1", "by-hand-on-1"),
        ("quote-on-1", owned_client_order_id("market-maker")),
    ):
        rig.store.orders.record_intent(
            IntentRecord(
                coid, quote.ticker, BookSide.BID, Decimal("0.05"), Decimal(5), Side.YES,
                Action.BUY, subaccount=1,
            )
        )  # fmt: skip
        rig.store.orders.mark_sent(
            coid, order_id=order_id, status=RESTING, fill_count=Decimal(0),
            remaining_count=Decimal(5),
        )  # fmt: skip
        msg = shape | {
            "order_id": order_id,
            "client_order_id": coid,
            "status": "resting",
            "fill_count_fp": "0.00",
            "remaining_count_fp": "5.00",
        }
        msg.pop("subaccount_number", None)  # not a direct member
        rig.clock.advance(0.01)
        rig.loop.tick(
            [FeedMessage(MessageKind.USER_ORDER, quote.ticker, payload=order_update(msg))]
        )
    assert "quote-on-1" not in cancelled
    # neither counts against the loop's limits
    assert not {"by-hand-on-1", "quote-on-1"} & set(rig.loop.portfolio.orders)
