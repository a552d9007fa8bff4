"""Each strategy in the loop, on a scenario built to trigger it and on one built not to.

One market from a scenario file written here, whose book a second account on the in-process
exchange sets (YES bid 0.49, ask 0.51: mid 0.50) and then moves, so what differs between the pair
of runs of a strategy is only the move. Triggered means an order went out carrying the strategy's
tag and reason (the intent in the state file); not triggered means no order at all. Arbitrage
needs a crossed book, which a matching engine never holds but a lagging feed can show, so its
pair is shown through the fake feed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.records import ExchangeError
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.models import Orderbook
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.runner.fakes import START, Rig, make_rig, new_exchange, place_on_desk

TICKER = "KXSTRAT-SIM-A"

SCENARIO = f"""\
description: One market with an empty book and no background participant.
fees: {{fee_type: quadratic, fee_multiplier: "1"}}
series:
  - ticker: KXSTRAT
    title: Strategy scenarios
    category: Test
    frequency: custom
    events:
      - event_ticker: KXSTRAT-SIM
        title: Strategy scenarios
        markets:
          - ticker: {TICKER}
            title: A market the test moves
            yes_sub_title: A
            no_sub_title: A
"""


class Mover:
    """A second account whose resting orders are the book: one order per named slot."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.account = exchange.accounts.create_account(
            key_id="mover", public_key_pem="", cash_cents=10_000_000
        ).account_id
        self.slots: dict[str, str] = {}

    def set(self, slot: str, book_side: BookSide | None, yes_price: str = "") -> None:
        """Rest one order in `slot` (replacing what was there), or empty it (None)."""
        old = self.slots.pop(slot, None)
        if old is not None:
            with contextlib.suppress(ExchangeError):  # taken by a trade meanwhile
                self.exchange.desk.cancel_order(self.account, old)
        if book_side is None:
            return
        result = place_on_desk(
            self.exchange, self.account, TICKER, book_side, yes_price, "100", post_only=True
        )
        self.slots[slot] = result.order.order_id

    def quote(self, yes_bid: str, yes_ask: str) -> None:
        """The top of the book: a YES bid and a YES ask (a NO bid at 1 - ask)."""
        self.set("bid", None)
        self.set("ask", None)
        self.set("bid", BookSide.BID, yes_bid)
        self.set("ask", BookSide.ASK, yes_ask)


def on_the_scenario(tmp_path: Path, strategy: str, **kw: Any) -> tuple[Rig, Mover]:
    """`strategy` in a loop on the one market of SCENARIO, whose book the mover sets at YES bid
    0.49, ask 0.51 before the loop starts; `kw` are `make_rig`'s. The rig, and the mover."""
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    clock = ManualClock(START)
    exchange = new_exchange(scenario, clock)
    mover = Mover(exchange)
    mover.quote("0.49", "0.51")
    rig = make_rig(tmp_path / "state.db", strategy=strategy, exchange=exchange, clock=clock, **kw)
    return rig, mover


def _rig(tmp_path: Path, strategy: str, *, amend: bool = True) -> tuple[Rig, Mover]:
    return on_the_scenario(tmp_path, strategy, trade={"amend_requotes": amend})


def _spike(move_to: tuple[str, str]) -> Callable[[Rig, Mover], None]:
    def script(rig: Rig, mover: Mover) -> None:
        for _ in range(20):
            rig.step(1.0)
        mover.quote(*move_to)
        for _ in range(5):
            rig.step(1.0)

    return script


def _mean_reversion(jump: bool) -> Callable[[Rig, Mover], None]:
    def script(rig: Rig, mover: Mover) -> None:
        # a mid that alternates 0.50 / 0.505 gives the window a mean and a deviation
        for i in range(30):
            mover.set("extra", BookSide.BID if i % 2 else None, "0.50")
            rig.step(1.0)
        if jump:
            mover.set("extra", None)
            mover.quote("0.55", "0.57")
        for _ in range(3):
            rig.step(1.0)

    return script


def _market_maker(two_sided: bool) -> Callable[[Rig, Mover], None]:
    def script(rig: Rig, mover: Mover) -> None:
        if not two_sided:
            mover.set("ask", None)  # bids only: no YES ask to quote around
        for _ in range(5):
            rig.step(1.0)

    return script


def _arbitrage(yes_bid: str, no_bid: str) -> Callable[[Rig, Mover], None]:
    def script(rig: Rig, mover: Mover) -> None:
        rig.step(1.0)
        crossed = ((Decimal(yes_bid), Decimal("100")),), ((Decimal(no_bid), Decimal("100")),)
        rig.feed.show(Orderbook(TICKER, *crossed))
        rig.step(1.0)

    return script


CASES = [
    # a 20% jump (0.50 -> 0.60) is a spike; 4% (0.50 -> 0.52) is not
    ("spike", _spike(("0.59", "0.61")), True),
    ("spike", _spike(("0.51", "0.53")), False),
    # z far above 2 after the jump; without it z stays at +-1
    ("mean-reversion", _mean_reversion(jump=True), True),
    ("mean-reversion", _mean_reversion(jump=False), False),
    # a two-sided book is quoted; a book with no YES ask is not
    ("market-maker", _market_maker(two_sided=True), True),
    ("market-maker", _market_maker(two_sided=False), False),
    # YES ask 0.50 + NO ask 0.45 leaves 0.05 a pair before fees (~0.035); 0.48 + 0.50 does not
    ("arbitrage", _arbitrage("0.55", "0.50"), True),
    ("arbitrage", _arbitrage("0.52", "0.50"), False),
]


@pytest.mark.parametrize(
    ("strategy", "script", "triggers"),
    CASES,
    ids=[f"{s}-{'triggers' if t else 'quiet'}" for s, _, t in CASES],
)
def test_strategy_on_a_scenario_built_for_it(
    tmp_path: Path, strategy: str, script: Callable[[Rig, Mover], None], triggers: bool
) -> None:
    rig, mover = _rig(tmp_path, strategy)
    script(rig, mover)
    intents = [i for i in rig.store.orders.intents() if i.ticker == TICKER]
    if not triggers:
        assert rig.client.requests == []
        assert intents == []
        return
    assert rig.client.requests, f"{strategy} should have placed an order"
    assert intents and all(i.strategy == strategy for i in intents)
    assert all(i.reason and i.reason.startswith(strategy) for i in intents), intents


@pytest.mark.parametrize("amend", [True, False], ids=["amended", "cancelled-and-placed"])
def test_a_quote_filled_while_its_order_update_was_lost_is_requoted(
    tmp_path: Path, amend: bool
) -> None:
    rig, mover = _rig(tmp_path, "market-maker", amend=amend)
    rig.step(1.0)
    (quote,) = [o for o in rig.loop.portfolio.orders.values() if o.side == "yes"]
    taker = rig.exchange.accounts.create_account(
        key_id="taker", public_key_pem="", cash_cents=10**7
    )
    # sells through the mover's 0.49 bid into the loop's YES bid below it
    place_on_desk(
        rig.exchange,
        taker.account_id,
        TICKER,
        BookSide.ASK,
        quote.price,
        Decimal("100") + quote.remaining,
        time_in_force=TimeInForce.IOC,
    )
    rig.feed.drain_messages()  # the fill and user_orders messages are lost
    mover.quote("0.44", "0.46")  # the mid moves: the loop wants its YES bid elsewhere
    sent = len(rig.client.requests)
    for _ in range(3):
        rig.step(1.0)
    assert quote.order_id not in rig.loop.portfolio.orders
    intent = rig.store.orders.intent_by_order_id(quote.order_id)
    assert intent is not None and intent.status == "executed"
    new_bids = [r for r in rig.client.requests[sent:] if r.book_side is BookSide.BID]
    assert new_bids, "the YES side must be quoted again"
    # the requote of the filled order was refused once, and the order read back
    refused = "amend_rejected" if amend else "cancel_failed"
    assert rig.loop.log.counts.get(refused, 0) == 1
