"""The trade loop's batched orders under the real simulator's faults, over loopback: what a
batch whose answer never came can still cost, and what the limits must count meanwhile."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from kalshi_cli.client import KalshiClient
from kalshi_cli.vocabulary.clock import utc_day
from kalshi_cli.vocabulary.units import BookSide
from tests.conftest import SimHarness
from tests.runner.fakes import swap_decide
from tests.runner.sim_rig import BATCH, Rig, rig, yes_ask, yes_bid
from tests.runner.simproc import log_events
from tests.waiting import poll_until


def _committed(client: KalshiClient) -> Decimal:
    """What the resting orders would cost if every one filled (both sides of a quote)."""
    return sum(
        (
            (o.yes_price if o.book_side is BookSide.BID else 1 - o.yes_price) * o.remaining_count
            for o in client.orders.iter_orders(status="resting")
        ),
        start=Decimal(0),
    )


def test_orders_of_a_batch_still_in_the_network_count_in_the_total_exposure(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The exposure limit holds three markets' quotes (0.80 each). The first pass's batch
    (markets A to C) is held in the network past the client's deadline, so its orders are
    unknown, and the lookups after the backoff do not find them yet. The next pass must count
    them: the limit leaves no room for D to F, and when the held batch lands the resting
    orders commit no more than the limit."""
    tickers = [f"KXBATCHF-SIM-{c}" for c in "ABCDEF"]
    risk = {"max_total_exposure": "2.5", "backoff_base_s": 0.2}
    params = {"quote_count": "1"}
    # the client's deadline must end while the batch is held, and must not end before the batch
    # has left whole (signed, a connection taken, head and body written): 1 s was a race with a
    # loaded machine, which then sent only the head and nothing could land
    with rig(
        sim, tmp_path, tickers, strategy="market-maker", params=params, risk=risk, timeout=4.0
    ) as r:
        sim.set_faults(hold_request_s=600)  # until cleared below
        r.loop.tick(r.feed.drain_messages(), full=True)
        executor = r.loop.executor
        held = set(executor.unknown_orders.unknown)
        assert len(held) >= 3, held  # the exposure limit's worth
        # the batch reached the network whole (the hold is taken only then): a client whose
        # deadline passed before its request had left whole sent nothing that can land
        assert poll_until(lambda: sim.faults()["hold_request_s"] == 0)
        assert poll_until(lambda: not executor.guard.backing_off)
        r.loop.tick(r.feed.drain_messages(), full=True)
        # the lookups ran and the batch is still in the network: the orders are unknown yet
        assert set(executor.unknown_orders.unknown) == held, executor.unknown_orders.unknown
        sim.clear_faults()  # the held batch lands

        def landed() -> bool:
            coids = {o.client_order_id for o in r.client.orders.iter_orders(status="resting")}
            return held <= coids

        assert poll_until(landed)
        committed = _committed(r.client)
        assert committed <= Decimal("2.5"), (committed, r.requests(sim))
        assert r.requests(sim).get(BATCH) == 1


# a strategy of one's own that buys one YES at the ask whenever it is at most `below`, held or
# not: an order that adds to a position in every market whose ask is low
BUY_LOW = """
from decimal import Decimal

from kalshi_cli.strategy_api import Params, Side, Strategy, buy_at_ask


class BuyLowParams(Params, frozen=True):
    below: Decimal = Decimal("0.50")


def decide(snapshot, position, params):
    ask = snapshot.book.yes_ask
    if ask is None or ask[0] > params.below:
        return []
    intent = buy_at_ask(
        snapshot, Side.YES, count=Decimal(1), fair=Decimal("0.90"), reason="low ask",
        strategy="buy-low", min_edge=Decimal("0.01"),
    )
    return [] if intent is None else [intent]


STRATEGY = Strategy("buy-low", BuyLowParams, decide)
"""


def _books_show(r: Rig, want: dict[str, tuple[str, str]]) -> bool:
    for ticker, (bid, ask) in want.items():
        if yes_bid(r, ticker) != Decimal(bid) or yes_ask(r, ticker) != Decimal(ask):
            return False
    return True


def _quote(r: Rig, want: dict[str, tuple[str, str]]) -> None:
    for ticker, (bid, ask) in want.items():
        r.books[ticker].quote(bid, ask)
    assert poll_until(lambda: _books_show(r, want))


def test_a_loss_that_trips_the_circuit_breaker_stops_the_orders_waiting_in_the_batch(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The loop holds one YES in J and one in H, bought at 0.45; the daily loss limit is 0.30.
    In one pass J's ask is low again (its strategy queues one more buy) and H's bid collapses
    to 0.05: H's stop-loss sells at a loss of 0.40, past the limit. The buy waiting in the
    batch was allowed before that loss: it must not go out after it."""
    strategy = tmp_path / "buy_low.py"
    strategy.write_text(BUY_LOW)
    j, h = "KXBATCHF-SIM-J", "KXBATCHF-SIM-H"
    risk = {"daily_loss_limit": "0.30"}
    with rig(
        sim, tmp_path, [j, h], strategy=str(strategy), params={}, risk=risk, quote=("0.58", "0.60")
    ) as r:
        # J is bought first, then H: the held positions are visited J first
        _quote(r, {j: ("0.43", "0.45")})
        r.loop.tick(r.feed.drain_messages(), full=True)
        _quote(r, {j: ("0.58", "0.60"), h: ("0.43", "0.45")})
        r.loop.tick(r.feed.drain_messages(), full=True)
        assert [m.ticker for m in r.loop.portfolio.open_positions()] == [j, h]
        _quote(r, {j: ("0.43", "0.45"), h: ("0.05", "0.95")})
        r.loop.tick(r.feed.drain_messages(), full=True)
        assert r.loop.portfolio.position(h) == 0, log_events(r.log)
        assert r.store.trading.daily_realized_pnl(utc_day(time.time())) <= Decimal("-0.30")
        assert r.loop.portfolio.position(j) == 1, log_events(r.log)
        buys = [i for i in r.store.orders.intents() if i.ticker == j]
        assert len(buys) == 1, buys
        assert r.store.trading.trading_state().state == "REDUCING"


class _CloseFirstMarketOnSecondDecision:
    """The market maker's decision, but before the second market's the first market closes on
    the exchange (its orders already waiting in the batch)."""

    def __init__(self, r: Rig, sim: SimHarness, ticker: str) -> None:
        self.decide = r.loop.reloads.lineup.members[0].strategy.decide_fn
        self.sim = sim
        self.ticker = ticker
        self.calls = 0

    def __call__(self, snapshot: Any, position: Any, params: Any) -> Any:
        self.calls += 1
        if self.calls == 2:
            self.sim.set_status(self.ticker, "closed")
        return self.decide(snapshot, position, params)


def test_a_batch_whose_items_for_a_closed_market_are_refused_places_the_others(
    sim: SimHarness, tmp_path: Path
) -> None:
    """A market closes while its quotes wait in the batch: the exchange refuses those items and
    places the others. The refused orders are recorded rejected (no lookup, no hold on their
    market), the others resting under their order ids, and a refusal is no API error."""
    a, b = "KXBATCHF-SIM-A", "KXBATCHF-SIM-B"
    with rig(sim, tmp_path, [a, b], strategy="market-maker", params={}) as r:
        swap_decide(r.loop, _CloseFirstMarketOnSecondDecision(r, sim, a))
        r.loop.tick(r.feed.drain_messages(), full=True)
        assert r.requests(sim).get(BATCH) == 1
        intents = r.store.orders.intents()
        by_market = {t: sorted(i.status for i in intents if i.ticker == t) for t in (a, b)}
        assert by_market == {a: ["rejected", "rejected"], b: ["resting", "resting"]}, by_market
        resting = {o.client_order_id for o in r.client.orders.iter_orders(status="resting")}
        assert resting == {i.client_order_id for i in r.store.orders.intents() if i.ticker == b}
        assert r.loop.executor.unknown_orders.unknown == {}
        assert not r.loop.executor.guard.backing_off
