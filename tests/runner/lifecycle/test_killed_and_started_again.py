"""`kalshi trade` killed at a chosen instant, then started again: what the kill left of the state
file must let the next start know what rests on the exchange and whose each fill is."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from kalshi_cli.client.connection import LANDING_WINDOW_S
from kalshi_cli.client.requests import AmendOrder
from kalshi_cli.runner.preflight import reconcile
from kalshi_cli.services.reconcile import landing_wait_s
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import utc_day
from kalshi_cli.vocabulary.decisions import Intent
from kalshi_cli.vocabulary.errors import ServerError
from kalshi_cli.vocabulary.models import Order
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.runner.crash_rig import RIG_READ_LAG_S, Killed, copy_committed, crash_at, restart
from tests.runner.execution.test_late_orders import _two_lost_one_filled
from tests.runner.fakes import (
    FakeClient,
    Rig,
    another_trader_places,
    make_rig,
    place_on_desk,
    swap_decide,
)
from tests.runner.test_strategy_scenarios import TICKER, on_the_scenario

LAL = "KXNBAGAME-SIM-LALGSW-LAL"


@dataclass
class NoClientIds(FakeClient):
    """The exchange as Kalshi shows an order placed without a client order id (by hand on the
    website): with none. The in-process exchange names such an order by its order id."""

    by_hand: set[str] = field(default_factory=set)

    def _shown(self, order: Order) -> Order:
        return (
            msgspec.structs.replace(order, client_order_id="")
            if order.order_id in self.by_hand
            else order
        )

    def iter_orders(self, **filters: Any) -> Iterator[Order]:
        return (self._shown(o) for o in super().iter_orders(**filters))

    def get_order(self, order_id: str) -> Order:
        return self._shown(super().get_order(order_id))


@pytest.mark.parametrize("wait", [0.0, LANDING_WINDOW_S + 2])
def test_a_kill_while_reconcile_imports_an_order_leaves_it_to_be_imported_again(
    tmp_path: Path, wait: float
) -> None:
    """An order placed by hand without a client order id rests. The start's reconcile imports
    it, and the loop is killed between the import's row and the exchange's answer in it: the
    row, pending with no order id, could not be found by the lookup of orders whose answer was
    lost, nor matched by the next import, which failed on its name ever after, so no later
    start (at once, or past the landing window) could trade. The import is one commit: the
    next start imports the order and knows it resting."""
    state, left = tmp_path / "s.db", tmp_path / "left.db"
    rig = make_rig(state, strategy="spike", params={"spike_share": 5})
    placed = place_on_desk(rig.exchange, rig.client.account_id, LAL, BookSide.BID, "0.05", 3).order
    client = NoClientIds(rig.exchange, rig.client.account_id, clock=rig.clock)
    client.by_hand.add(placed.order_id)
    crash_at(rig.store.orders, "mark_sent", state, left, after=False)
    with pytest.raises(Killed):
        reconcile(client, rig.store, rig.clock)
    rig.clock.advance(wait)
    again = restart(rig, left, strategies=("spike",), client=client)
    row = again.store.orders.intent_by_order_id(placed.order_id)
    assert row is not None and row.status == "resting", row
    assert placed.order_id in again.loop.portfolio.orders


@pytest.mark.parametrize("killed_in", ["the loop's lookup", "the next start's reconcile"])
def test_a_kill_as_a_late_order_is_found_leaves_its_fills_to_its_strategy(
    tmp_path: Path, killed_in: str
) -> None:
    """An order's answer was lost; it landed late and filled, and the loop read the fill
    before any lookup found the order, so booked it as nobody's. Then the order is found (by
    the loop's next lookup, or, the loop killed first, by the next start's reconcile), and the
    process is killed between writing the order as found and giving it its fills. The start
    after must still give the fill to the order's strategy, in the state file and in that
    strategy's own part of the position: the order, written found, is looked up no more."""
    state, left = tmp_path / "s.db", tmp_path / "left.db"
    rig = make_rig(
        state,
        strategy="market-maker",
        risk={"max_orders_per_minute": 1000},
        params={"requote_tolerance": "0"},
        trade={"amend_requotes": False},
    )
    first, _ = _two_lost_one_filled(rig)
    ticker = rig.store.orders.get_intent(first).ticker
    rig.client.lookup_errors.extend([ServerError("down", status=503)] * 2)
    rig.loop.executor.fills.read_for()
    (early,) = [f for f in rig.store.fills.read() if f.ticker == ticker]
    assert early.strategy is None
    if killed_in == "the loop's lookup":
        crash_at(rig.store.fills, "attribute_fills", state, left, after=False)
        with pytest.raises(Killed):
            rig.loop.executor.unknown_orders.resolve()
    else:
        killed = tmp_path / "killed.db"
        copy_committed(state, killed)  # the loop is killed before any lookup found it
        client = FakeClient(rig.exchange, rig.client.account_id, clock=rig.clock)
        with Store.open(killed, clock=rig.clock) as store:
            crash_at(store.fills, "attribute_fills", killed, left, after=False)
            with pytest.raises(Killed):
                reconcile(client, store, rig.clock)
    rig.clock.advance(LANDING_WINDOW_S + 2)  # the other lost order never lands
    again = restart(rig, left, risk={"max_orders_per_minute": 1000})
    booked = [f for f in again.store.fills.read() if f.ticker == ticker]
    assert {f.strategy for f in booked} == {"market-maker"}
    own = again.loop.portfolio.view_for(ticker, "market-maker")
    assert own.position == again.loop.portfolio.position(ticker) != 0


def _amend_held_then_killed(rig: Rig, state: Path, left: Path) -> tuple[str, Callable[[], None]]:
    """A quote of the loop's resting, then a requote amending it in place (10 YES at 0.40 to
    12 at 0.42) whose request is held in the network as the loop is killed; returns the
    order id and what makes the held amend land."""
    rig.step(0.1)
    quote = Intent(
        LAL, Side.YES, Action.BUY, Decimal("0.40"), Decimal(10), Decimal("0.46"), "a quote",
        strategy="spike", post_only=True,
    )  # fmt: skip
    assert rig.loop.executor.execute(quote, last_data_at=rig.clock.wall())
    (resting,) = rig.loop.portfolio.resting(LAL)
    held: list[AmendOrder] = []

    def amend_order(order_id: str, terms: AmendOrder, **where: Any) -> None:
        held.append(terms)
        copy_committed(state, left)
        raise Killed("the amend is in the network")

    rig.client.amend_order = amend_order  # type: ignore[method-assign,assignment]
    requote = replace(quote, price=Decimal("0.42"), count=Decimal(12), replaces=(resting.order_id,))
    with pytest.raises(Killed):
        rig.loop.executor.execute(requote, last_data_at=rig.clock.wall())
    (terms,) = held

    def land() -> None:
        rig.exchange.desk.amend_order(
            rig.client.account_id,
            resting.order_id,
            ticker=terms.ticker,
            book_side=terms.book_side,
            price=terms.price,
            count=terms.count,
        )

    return resting.order_id, land


@pytest.mark.parametrize("lands", [True, False])
def test_an_amend_in_the_network_at_a_kill_is_known_before_the_next_start_trades(
    tmp_path: Path, lands: bool
) -> None:
    """The loop is killed with an amend of its quote in the network (written in the order's
    history before it left, no answer). A start within the time it can still land does not
    trade on the order's old terms (it would count 10 at 0.40 where 12 at 0.42 may rest), nor
    give up (exit 10: a service manager restarting it every 10 s would run out of restarts
    within that time): it waits until the amend can no longer land, then knows the order at
    its old terms, its history saying the amend was not made. An amend that landed is known
    at once, at its new terms."""
    state, left = tmp_path / "s.db", tmp_path / "left.db"
    rig = make_rig(state, strategy="spike", params={"spike_share": 5})
    order_id, land = _amend_held_then_killed(rig, state, left)
    rig.clock.advance(2.0)
    if lands:
        land()
        terms = (Decimal("0.42"), Decimal(12))
    else:
        terms = (Decimal("0.40"), Decimal(10))
    started_at = rig.clock.monotonic()
    again = restart(rig, left, strategies=("spike",))
    waited = rig.clock.monotonic() - started_at
    assert waited == (0.0 if lands else pytest.approx(landing_wait_s(RIG_READ_LAG_S)))
    row = again.store.orders.intent_by_order_id(order_id)
    assert row is not None and (row.status, row.price, row.count) == ("resting", *terms)
    view = again.loop.portfolio.orders[order_id]
    assert (view.price, view.remaining) == terms
    if not lands:
        notes = [h.note or "" for h in again.store.orders.order_history(row.client_order_id)]
        assert notes[-1].startswith("amend not made"), notes


def test_a_start_after_an_amend_of_the_size_alone_was_answered_does_not_wait_on_it(
    tmp_path: Path,
) -> None:
    """A requote lowered the loop's quote from 10 to 7 at its price and the answer was booked
    (a row its history names a decrease, not an amend); the order was then decreased by hand
    to 5 and the loop killed. The next start knows the amend settled: it neither waits for it
    to land nor, once it could no longer have, writes that it was not made."""
    state, left = tmp_path / "s.db", tmp_path / "left.db"
    rig = make_rig(state, strategy="spike", params={"spike_share": 5})
    rig.step(0.1)
    quote = Intent(
        LAL, Side.YES, Action.BUY, Decimal("0.40"), Decimal(10), Decimal("0.46"), "a quote",
        strategy="spike", post_only=True,
    )  # fmt: skip
    assert rig.loop.executor.execute(quote, last_data_at=rig.clock.wall())
    (resting,) = rig.loop.portfolio.resting(LAL)
    requote = replace(quote, count=Decimal(7), replaces=(resting.order_id,))
    assert rig.loop.executor.execute(requote, last_data_at=rig.clock.wall())
    assert rig.loop.log.counts.get("order_amended") == 1
    rig.client.decrease_order(resting.order_id, reduce_by=Decimal(2))
    copy_committed(state, left)  # killed here

    started_at = rig.clock.monotonic()
    again = restart(rig, left, strategies=("spike",))

    assert rig.clock.monotonic() - started_at == 0.0
    row = again.store.orders.intent_by_order_id(resting.order_id)
    assert row is not None and (row.status, row.remaining) == ("resting", Decimal(5))
    rig.clock.advance(LANDING_WINDOW_S + 2)
    assert reconcile(again.client, again.store, rig.clock).still_unknown == []
    notes = [h.note or "" for h in again.store.orders.order_history(row.client_order_id)]
    assert not [n for n in notes if n.startswith("amend not made")], notes


def test_fills_made_while_the_start_reads_its_markets_are_booked_by_the_loop(
    tmp_path: Path,
) -> None:
    """The loop is killed with a bid and an ask of its own resting. The next start reconciles,
    then reads its markets and their fees for a few seconds before the loop is built (one
    event, series and fee-change read per event of the selection); meanwhile the bid and the
    ask fill, five contracts each, which leaves the position as the reconcile found it, so the
    start's comparison of positions passes. The loop must still book both fills, once: its fill
    reads began two seconds before it was built, so it never read them, and the day's realized
    P&L lacked their $0.50 (a loss would have been missing from the circuit breaker's day)."""
    state, left = tmp_path / "state.db", tmp_path / "left.db"
    rig, mover = on_the_scenario(tmp_path, "market-maker")
    swap_decide(rig.loop, lambda *_: [])
    mover.quote("0.30", "0.70")
    rig.step(0.1)
    for side, price in ((Side.YES, "0.45"), (Side.NO, "0.45")):  # a YES bid at 0.45, ask at 0.55
        quote = Intent(
            TICKER, side, Action.BUY, Decimal(price), Decimal(5), Decimal("0.50"), "a quote",
            strategy="market-maker", post_only=True,
        )  # fmt: skip
        assert rig.loop.executor.execute(quote, last_data_at=rig.clock.wall())
    assert len(rig.loop.portfolio.resting(TICKER)) == 2
    copy_committed(state, left)  # killed here

    def both_quotes_fill_as_the_start_reads_its_markets() -> None:
        another_trader_places(rig.exchange, TICKER, BookSide.ASK, Decimal("0.45"), Decimal(5))
        another_trader_places(rig.exchange, TICKER, BookSide.BID, Decimal("0.55"), Decimal(5))
        rig.clock.advance(3.0)

    again = restart(rig, left, meanwhile=both_quotes_fill_as_the_start_reads_its_markets)
    swap_decide(again.loop, lambda *_: [])
    for _ in range(3):
        again.step(1.0)
    on_exchange = {f.fill_id for f in rig.exchange.history.fills(rig.client.account_id)}
    booked = [f for f in again.store.fills.read() if f.ticker == TICKER]
    assert sorted(f.fill_id for f in booked) == sorted(on_exchange) and len(booked) == 2
    assert {f.strategy for f in booked} == {"market-maker"}
    today = utc_day(rig.clock.wall())
    # 5 bought at 0.45 and sold at 0.55; a maker pays no fee on this scenario's market
    assert again.store.trading.daily_realized_pnl(today) == Decimal("0.50")
    assert again.loop.portfolio.resting(TICKER) == []
    assert not again.store.orders.intents(status="resting")
