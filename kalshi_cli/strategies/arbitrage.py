"""Arbitrage: buy a set of contracts whose settlement pays more than its asks plus fees, whatever
happens. Three sets are known:

- YES and NO of one market pay $1.00: one settles YES, the other NO.
- One NO in every market of a mutually exclusive event of N markets (openapi.yaml `EventData`:
  at most one settles YES) pays at least N - 1: every NO pays but the one YES's, if any. Where a
  market's YES settles at a floor (`settlement_bounds_type` floor), its NO is paid only the rest
  of $1 on a NO result, so the set pays what the one rule (vocabulary/event_outcomes.py) says.
- One YES in every market of such an event pays $1.00 only if one of them must settle YES. The
  exchange says at most one, never at least one (Kalshi's mutually exclusive events need not be
  exhaustive), so this set is bought only for an event the trader states is exhaustive
  (`exhaustive_events`) and whose every market the loop trades; the reason says so.

A set is sized by the depth at each ask, `max_cost` and `max_count` (the most sets of an event
held at once; pairs in one market net out), and decided once, from the market with the lowest
ticker. Its legs are IOC buys that the loop sends one after another, each
for what the leg before filled, selling back what a short leg left over (runner/execution/
leg_sets.py): a set ends whole or flat. Each leg's fair value carries an equal share
of the set's edge. See docs/strategies.md "arbitrage".
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated

from kalshi_cli.strategy_api import (
    ONE,
    ZERO,
    Action,
    Decision,
    EventView,
    Intent,
    MarketSnapshot,
    Params,
    PositionView,
    Side,
    Strategy,
    TimeInForce,
    Updatable,
    require,
    trading_fee,
)
from kalshi_cli.vocabulary.event_outcomes import MECNET, EventLeg, event_outcomes

NAME = "arbitrage"


class ArbitrageParams(Params, frozen=True):
    max_count: Annotated[Decimal, Updatable] = Decimal("50")
    max_cost: Annotated[Decimal, Updatable] = Decimal("100")
    min_edge: Annotated[Decimal, Updatable] = Decimal("0.01")
    exhaustive_events: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        require(self.max_count > 0, "max_count must be positive")
        require(self.max_cost > 0, "max_cost must be positive")
        require(self.min_edge >= 0, "min_edge must not be negative")


# one leg of a set: (ticker, side bought, ask, depth at the ask, the market's taker fee rate)
Leg = tuple[str, Side, Decimal, Decimal, Decimal]


def set_cost(legs: Sequence[Leg], count: Decimal) -> Decimal:
    """What `count` sets cost: every leg's ask and fee."""
    return sum((count * ask + trading_fee(count, ask, rate) for _, _, ask, _, rate in legs), ZERO)


def set_edge(legs: Sequence[Leg], payout: Decimal, count: Decimal) -> Decimal:
    """Locked profit per set after every leg's fee, at `count` sets: the least the set pays less
    its asks and fees."""
    return payout - set_cost(legs, count) / count


def decide(snap: MarketSnapshot, pos: PositionView, params: ArbitrageParams) -> Sequence[Decision]:
    yes_ask, no_ask = snap.book.yes_ask, snap.book.no_ask
    if yes_ask is not None and no_ask is not None:
        here = [
            (snap.ticker, Side.YES, yes_ask[0], yes_ask[1], snap.fee_rate),
            (snap.ticker, Side.NO, no_ask[0], no_ask[1], snap.fee_rate),
        ]
        legs = _buy_set(here, ONE, params.max_count, params, "YES and NO of one market pay 1")
        if legs:
            return legs
    event = snap.event
    if event is None or any(m.ticker < snap.ticker for m in event.others):
        return []  # the set is decided from the event's lowest ticker only
    n = len(event.others) + 1
    # the sets held: whole sets only (the loop sells back a partial one), so this market's
    # NO (YES) contracts of the strategy's own count the NO (YES) sets
    held = pos.position
    nos = _event_legs(snap, event, Side.NO)
    if nos is not None:
        paid = _no_set_paid(snap, event)
        why = f"NO in each of {n} markets of {event.event_ticker} (at most one YES) pay {paid}"
        room = params.max_count - max(-held, ZERO)
        legs = _buy_set(nos, paid, room, params, why)
        if legs:
            return legs
    yeses = _event_legs(snap, event, Side.YES)
    if yeses is None or not event.complete or event.event_ticker not in params.exhaustive_events:
        return []
    why = (
        f"YES in each of {n} markets of {event.event_ticker} pay 1: exhaustive as stated in "
        "exhaustive_events"
    )
    return _buy_set(yeses, ONE, params.max_count - max(held, ZERO), params, why)


def _no_set_paid(snap: MarketSnapshot, event: EventView) -> Decimal:
    """The least one NO in this market and in each of the event's others is paid: N - 1, less
    where a market's YES settles at a floor (terms not known: none)."""
    held = [(snap.ticker, snap.terms), *((m.ticker, m.terms) for m in event.others)]
    legs = [
        EventLeg(t, no=ONE, floor=ZERO if terms is None else terms.settlement_floor)
        for t, terms in held
    ]
    return event_outcomes(MECNET, legs).worst.pnl


def _event_legs(snap: MarketSnapshot, event: EventView, side: Side) -> list[Leg] | None:
    """One leg of `side` at its ask in this market and each of the event's others; None when a
    market has no ask on that side."""
    books = [(snap.ticker, snap.book, snap.fee_rate)]
    books += [(m.ticker, m.book, m.fee_rate) for m in event.others]
    legs: list[Leg] = []
    for ticker, book, rate in books:
        ask = book.yes_ask if side is Side.YES else book.no_ask
        if ask is None:
            return None
        legs.append((ticker, side, ask[0], ask[1], rate))
    return legs


def _buy_set(
    legs: Sequence[Leg], payout: Decimal, room: Decimal, params: ArbitrageParams, why: str
) -> list[Decision]:
    asks = sum((ask for _, _, ask, _, _ in legs), ZERO)
    if payout - asks < params.min_edge:
        return []  # fees only lower the edge: no set at these asks at any size (the usual case)
    count = min(*(depth for *_, depth, _ in legs), room)
    count = min(count, (params.max_cost // asks).max(ZERO))
    while count > 0 and set_cost(legs, count) > params.max_cost:
        count -= 1  # the fees took it over `max_cost`: a contract fewer
    if count <= 0:
        return []
    edge = set_edge(legs, payout, count)
    if edge < params.min_edge:
        return []
    prices = " + ".join(f"{ask}" for _, _, ask, _, _ in legs)
    reason = f"arbitrage: {why}; asks {prices} + fees leave {edge:.4f} a set"
    decisions: list[Decision] = []
    for i, (ticker, side, ask, _depth, rate) in enumerate(legs, 1):
        fee_each = trading_fee(count, ask, rate) / count
        decisions.append(
            Intent(
                ticker=ticker,
                side=side,
                action=Action.BUY,
                price=ask,
                count=count,
                model_fair=min(ask + fee_each + edge / len(legs), ONE),
                reason=f"{reason} (leg {i} of {len(legs)}: {side} {ticker})",
                strategy=NAME,
                time_in_force=TimeInForce.IOC,
                fee_rate=rate,
            )
        )
    return decisions


def _always(_: PositionView) -> bool:
    return True


STRATEGY = Strategy(
    NAME,
    ArbitrageParams,
    decide,
    uses_events=True,
    reads_mids=False,
    clock_free=_always,
)
